"""Chunk documents into passages of at most N tokens with stable ids (DRAMA: chunks of at most 256 tokens).

A document that fits keeps its id; a longer one becomes ``"<doc_id>#<k>"`` for k = 0, 1, ... Sentences are
packed greedily so chunks end at sentence boundaries where possible; a sentence longer than N tokens is
split at token boundaries. Tokens are counted with a Hugging Face tokenizer (``tokenizer=`` a name or path)
or, by default, with a language-neutral word tokenizer (words, punctuation, one token per CJK character).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from drama_data.corpus import Document
from drama_data.errors import InputError

DEFAULT_MAX_TOKENS = 256  # paper, Sec. 3: corpora split into chunks of at most 256 tokens

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_WORD_RE = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+|[^\w\s]", re.UNICODE)
_SENT_END_RE = re.compile(r"(?<=[.!?。！？])\s+|(?<=[。！？])|\n+")

Spans = list[tuple[int, int]]


@dataclass(frozen=True)
class Passage:
    """A chunk of a document: ``id`` is unique in the corpus; ``chunk`` is its index within ``doc_id``."""

    id: str
    doc_id: str
    chunk: int
    title: str
    text: str


def word_spans(text: str) -> Spans:
    """Character spans of the default word tokenizer."""
    return [m.span() for m in _WORD_RE.finditer(text)]


def hf_token_spans(tokenizer) -> Callable[[str], Spans]:
    """Return a span function backed by a fast Hugging Face tokenizer's offset mapping (no special tokens)."""

    def spans(text: str) -> Spans:
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        return [(a, b) for a, b in enc["offset_mapping"] if b > a]

    return spans


def load_span_function(tokenizer: str | None) -> Callable[[str], Spans]:
    """``None`` or ``"words"`` gives the word tokenizer; anything else (a folder, Hub id or ``embedded:...``:
    :func:`drama_data.token_limit.tokenizer_folder`) is loaded with ``AutoTokenizer``."""
    if tokenizer in (None, "", "words"):
        return word_spans
    from transformers import AutoTokenizer

    from drama_data.token_limit import tokenizer_folder

    try:
        tok = AutoTokenizer.from_pretrained(tokenizer_folder(tokenizer))
    except Exception as exc:
        raise InputError(f"--chunk-tokenizer {tokenizer!r}: cannot load ({exc})") from None
    return hf_token_spans(tok)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of sentences (ends: . ! ? followed by space, CJK full stops, newlines)."""
    bounds, start = [], 0
    for m in _SENT_END_RE.finditer(text):
        if m.start() > start:
            bounds.append((start, m.start()))
        start = m.end()
    if start < len(text):
        bounds.append((start, len(text)))
    return bounds


def chunk_spans(text: str, spans: Spans, max_tokens: int) -> list[tuple[int, int]]:
    """Character ranges of chunks of at most ``max_tokens`` tokens, cut at sentence ends where possible."""
    if len(spans) <= max_tokens:
        return [(0, len(text))]
    # group token indices by sentence
    sentences: list[list[int]] = []
    si, bounds = 0, sentence_spans(text)
    current: list[int] = []
    for ti, (a, _b) in enumerate(spans):
        while si < len(bounds) and a >= bounds[si][1]:
            if current:
                sentences.append(current)
                current = []
            si += 1
        current.append(ti)
    if current:
        sentences.append(current)
    chunks: list[tuple[int, int]] = []  # token index ranges [first, last]
    first = last = None
    for sent in sentences:
        pieces = [sent[i:i + max_tokens] for i in range(0, len(sent), max_tokens)]
        for piece in pieces:
            if first is not None and piece[-1] - first + 1 <= max_tokens:
                last = piece[-1]
                continue
            if first is not None:
                chunks.append((first, last))
            first, last = piece[0], piece[-1]
    if first is not None:
        chunks.append((first, last))
    return [(spans[a][0], spans[b][1]) for a, b in chunks]


def chunk_documents(
    documents: Iterable[Document],
    *,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    spans: Callable[[str], Spans] = word_spans,
) -> Iterator[Passage]:
    """Yield passages of at most ``max_tokens`` tokens for each document, in order (see module doc for ids)."""
    if max_tokens < 1:
        raise InputError(f"--max-tokens must be at least 1, got {max_tokens}")
    for doc in documents:
        ranges = chunk_spans(doc.text, spans(doc.text), max_tokens)
        if len(ranges) == 1:
            yield Passage(id=doc.id, doc_id=doc.id, chunk=0, title=doc.title, text=doc.text)
            continue
        for k, (a, b) in enumerate(ranges):
            yield Passage(id=f"{doc.id}#{k}", doc_id=doc.id, chunk=k, title=doc.title, text=doc.text[a:b].strip())


def load_passages(
    source: str,
    *,
    fields=None,
    split: str = "train",
    max_tokens: int = DEFAULT_MAX_TOKENS,
    chunk_tokenizer: str | None = None,
    on_empty: str = "skip",
    limit: int | None = None,
    pack_tokens: int | None = None,
):
    """Read ``source`` (see :func:`drama_data.corpus.read_documents`) and chunk it: :func:`stream_passages`, as a
    list.

    Returns ``(passages, report)``; ``report.as_dict()`` says what was read and skipped. The same arguments
    always give the same passages and ids, so every stage can re-derive the corpus it works on. With ``limit``
    only the first ``limit`` passages are returned and a record source (not a folder of documents) is read only
    as far as they reach: ``report`` then counts the documents read, and a bad record further on goes unseen.
    ``pack_tokens``: consecutive passages packed into documents of at most that many tokens
    (:mod:`drama_data.packing`); ``limit`` then counts packed documents.
    """
    stream, report = stream_passages(source, fields=fields, split=split, max_tokens=max_tokens,
                                     chunk_tokenizer=chunk_tokenizer, on_empty=on_empty, limit=limit,
                                     pack_tokens=pack_tokens)
    return list(stream), report


def stream_passages(
    source: str,
    *,
    fields=None,
    split: str = "train",
    max_tokens: int = DEFAULT_MAX_TOKENS,
    chunk_tokenizer: str | None = None,
    on_empty: str = "skip",
    limit: int | None = None,
    pack_tokens: int | None = None,
):
    """Like :func:`load_passages` but lazy: returns ``(iterator of passages, report)`` and reads a record source
    (jsonl[.gz], parquet, BEIR folder, HF dataset) only as the iterator is consumed, so memory does not grow with
    the corpus (a folder of documents, .txt/.pdf/..., is still read whole). ``report`` fills in as it goes. Bad
    input raises ``InputError`` when it is reached: a malformed record, a duplicate document id, a passage id
    that occurs twice, or (at the end) a corpus without any document with text. Ids are checked in about 8
    bytes each (:class:`~drama_data.seen_ids.SeenIds`)."""
    from itertools import islice
    from pathlib import Path

    from drama_data.corpus import CorpusReport, Fields, iter_documents, no_documents, read_documents
    from drama_data.documents import is_document_file, is_document_folder
    from drama_data.seen_ids import SeenIds

    spans = load_span_function(chunk_tokenizer)
    if max_tokens < 1:
        raise InputError(f"--max-tokens must be at least 1, got {max_tokens}")
    path = Path(str(source)).expanduser()
    if is_document_folder(path) or is_document_file(path):
        docs, report = read_documents(source, fields=fields or Fields(), split=split, on_empty=on_empty)
        documents = lambda: iter(docs)  # noqa: E731
    else:
        report = CorpusReport(source=str(source))
        first = iter_documents(source, fields=fields or Fields(), split=split, on_empty=on_empty, report=report)
        again = lambda: iter_documents(source, fields=fields or Fields(), split=split,  # noqa: E731
                                       on_empty=on_empty, report=CorpusReport(source=str(source)))
        handed: list = [first]
        documents = lambda: handed.pop() if handed else again()  # noqa: E731

    def passages() -> Iterator[Passage]:
        seen = SeenIds()  # only ids with "#" can collide (documents' own ids are checked by the reader)
        n = 0
        for p in chunk_documents(documents(), max_tokens=max_tokens, spans=spans):
            if "#" in p.id and seen.add(p.id) and _occurs_before(documents(), p.id, n, max_tokens, spans):
                raise InputError(f"passage id {p.id!r} occurs twice after chunking; rename the document ids")
            n += 1
            yield p
        if n == 0:
            raise no_documents(source, report)

    stream = passages()
    if pack_tokens:
        from drama_data.packing import pack_passages

        stream = pack_passages(stream, pack_tokens, spans)
    return (islice(stream, limit) if limit is not None else stream), report


def _occurs_before(documents: Iterable[Document], pid: str, n: int, max_tokens: int, spans) -> bool:
    """Whether ``pid`` is among the first ``n`` passages of ``documents`` (confirms a digest hit)."""
    from itertools import islice

    return any(p.id == pid for p in islice(chunk_documents(documents, max_tokens=max_tokens, spans=spans), n))
