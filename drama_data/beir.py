"""Reader for retrieval test collections in BEIR layout.

A collection folder holds ``corpus.jsonl`` or ``corpus.jsonl.gz`` (one ``{"_id", "title", "text"}`` per line),
``queries.jsonl`` (``{"_id", "text"}``) and ``qrels/<split>.tsv`` (``query-id  corpus-id  score``, with or
without that header line). :func:`load_beir` returns a :class:`BeirCollection`.

Bad input, and what happens (each message names the file, line and id):

- a missing file, a line that is not JSON, a record without ``_id``, a duplicated id, a qrels line without
  three tab-separated fields or with a non-integer score: ``BeirFormatError``;
- an empty split (no judgement lines in ``qrels/<split>.tsv``, or the file is missing): ``BeirFormatError``;
- qrels naming a query missing from ``queries.jsonl`` or a document missing from the corpus: by default those
  judgements are *skipped and counted* (``BeirCollection.skipped``, logged as a warning with examples), since a
  judgement nobody can retrieve cannot be scored; with ``strict=True`` they raise ``BeirFormatError`` instead.
  A query whose judgements all name unknown documents is dropped and counted too (``queries_dropped``).
"""
from __future__ import annotations

import gzip
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from drama_data.errors import InputError

logger = logging.getLogger(__name__)


class BeirFormatError(InputError, ValueError):
    """A BEIR folder that cannot be read as it is (the message names file, line and id); an
    :class:`~drama_data.errors.InputError`, and a ``ValueError`` as before."""


@dataclass
class BeirCollection:
    """One collection and split: ``corpus[doc_id] = {"title", "text"}``, ``queries[qid] = text``,
    ``qrels[qid][doc_id] = int relevance`` (only queries of the split), ``skipped`` = counts of dropped judgements."""

    name: str
    path: Path
    split: str
    corpus: dict[str, dict[str, str]]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    skipped: dict[str, int] = field(default_factory=dict)

    def document_texts(self, ids: list[str] | None = None) -> list[str]:
        """``"title text"`` per document (title left out when empty), in ``ids`` order (default: corpus order)."""
        ids = list(self.corpus) if ids is None else ids
        return [join_title(self.corpus[i]["title"], self.corpus[i]["text"]) for i in ids]


def join_title(title: str, text: str) -> str:
    """How a passage with a title becomes one string (Tevatron's convention: title, a space, text)."""
    title = (title or "").strip()
    return f"{title} {text}" if title else text


_CJK_CHAR = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


def detect_language(folder: str | Path, sample_texts: Sequence[str] = ()) -> str:
    """ISO code of a collection's language: the ``**Language:** X`` line of its SOURCE.md/README.md when it names
    a known language, else ``"zh"`` if over 20% of the sampled characters are CJK, else ``"en"``."""
    from drama_data.languages import NAMES

    folder = Path(folder)
    for name in ("SOURCE.md", "README.md"):
        path = folder / name
        if path.is_file():
            match = re.search(r"\*?\*?Language:?\*?\*?:?\s*([^\s(,;]+)", path.read_text(encoding="utf-8"))
            if match and match.group(1).lower() in NAMES:
                return NAMES[match.group(1).lower()]
    text = "".join(sample_texts)[:200_000]
    if text and len(_CJK_CHAR.findall(text)) > 0.2 * len(text):
        return "zh"
    return "en"


def _open_text(path: Path):
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8")


def _read_jsonl(path: Path, kind: str):
    with _open_text(path) as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise BeirFormatError(f"{path}:{lineno}: not valid JSON ({err.msg})") from None
            if not isinstance(row, dict) or "_id" not in row:
                raise BeirFormatError(f"{path}:{lineno}: {kind} record has no '_id' field")
            yield lineno, row


def corpus_file(folder: Path) -> Path | None:
    """The folder's ``corpus.jsonl`` or ``corpus.jsonl.gz``, or None when it has neither."""
    for name in ("corpus.jsonl", "corpus.jsonl.gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def find_corpus_file(folder: Path) -> Path:
    """The folder's ``corpus.jsonl`` or ``corpus.jsonl.gz``; ``BeirFormatError`` when it has neither."""
    found = corpus_file(folder)
    if found is None:
        raise BeirFormatError(f"{folder}: no corpus.jsonl or corpus.jsonl.gz")
    return found


def read_corpus(path: Path) -> dict[str, dict[str, str]]:
    """``{doc_id: {"title", "text"}}`` in file order; duplicate ids raise ``BeirFormatError``."""
    corpus: dict[str, dict[str, str]] = {}
    for lineno, row in _read_jsonl(path, "document"):
        doc_id = str(row["_id"])
        if doc_id in corpus:
            raise BeirFormatError(f"{path}:{lineno}: duplicate document id {doc_id!r}")
        corpus[doc_id] = {"title": str(row.get("title") or ""), "text": str(row.get("text") or "")}
    return corpus


def read_queries(path: Path) -> dict[str, str]:
    """``{query_id: text}``; duplicate ids raise ``BeirFormatError``."""
    if not path.is_file():
        raise BeirFormatError(f"{path}: file not found")
    queries: dict[str, str] = {}
    for lineno, row in _read_jsonl(path, "query"):
        qid = str(row["_id"])
        if qid in queries:
            raise BeirFormatError(f"{path}:{lineno}: duplicate query id {qid!r}")
        queries[qid] = str(row.get("text") or "")
    return queries


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """``{qid: {doc_id: score}}`` from a TSV with an optional ``query-id corpus-id score`` header."""
    if not path.is_file():
        raise BeirFormatError(f"{path}: qrels file not found (is the split name right?)")
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n\r")
            if not line.strip():
                continue
            parts = line.split("\t")
            if lineno == 1 and parts[0].strip().lower() in ("query-id", "query_id", "qid"):
                continue
            if len(parts) == 4:  # TREC qrels: qid 0 docid score
                parts = [parts[0], parts[2], parts[3]]
            if len(parts) != 3:
                raise BeirFormatError(
                    f"{path}:{lineno}: expected 3 tab-separated fields (query-id, corpus-id, score), got {len(parts)}"
                )
            qid, doc_id, score = (p.strip() for p in parts)
            try:
                value = int(float(score))
            except ValueError:
                raise BeirFormatError(f"{path}:{lineno}: score {score!r} is not a number") from None
            if doc_id in qrels.setdefault(qid, {}):
                raise BeirFormatError(f"{path}:{lineno}: judgement ({qid!r}, {doc_id!r}) appears twice")
            qrels[qid][doc_id] = value
    if not qrels:
        raise BeirFormatError(f"{path}: empty split, no judgements")
    return qrels


def load_beir(folder: str | Path, split: str = "test", *, strict: bool = False) -> BeirCollection:
    """Read a BEIR folder's corpus, queries and ``qrels/<split>.tsv`` (see the module docstring for bad input)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BeirFormatError(f"{folder}: not a directory")
    qrels_path = folder / "qrels" / f"{split}.tsv"
    qrels = read_qrels(qrels_path)
    corpus_path = find_corpus_file(folder)
    corpus = read_corpus(corpus_path)
    if not corpus:
        raise BeirFormatError(f"{corpus_path}: empty corpus")
    queries_path = folder / "queries.jsonl"
    all_queries = read_queries(queries_path)

    unknown_q = sorted(q for q in qrels if q not in all_queries)
    unknown_d = sorted({(q, d) for q, docs in qrels.items() for d in docs if d not in corpus})
    skipped = {"qrels_unknown_query": sum(len(qrels[q]) for q in unknown_q), "qrels_unknown_doc": 0, "queries_dropped": 0}
    if strict and (unknown_q or unknown_d):
        what = []
        if unknown_q:
            what.append(f"{len(unknown_q)} query id(s) not in {queries_path.name} (e.g. {unknown_q[:3]})")
        if unknown_d:
            what.append(f"{len(unknown_d)} document id(s) not in {corpus_path.name} (e.g. {[d for _, d in unknown_d[:3]]})")
        raise BeirFormatError(f"{qrels_path}: " + "; ".join(what))
    clean: dict[str, dict[str, int]] = {}
    for qid, docs in qrels.items():
        if qid not in all_queries:
            continue
        kept = {d: s for d, s in docs.items() if d in corpus}
        skipped["qrels_unknown_doc"] += len(docs) - len(kept)
        if kept:
            clean[qid] = kept
        else:
            skipped["queries_dropped"] += 1
    skipped["queries_dropped"] += len(unknown_q)
    if any(skipped.values()):
        logger.warning(
            "%s: skipped %d judgement(s) naming unknown queries (e.g. %s) and %d naming unknown documents (e.g. %s); "
            "%d query(ies) left without judgements were dropped",
            qrels_path, skipped["qrels_unknown_query"], unknown_q[:3], skipped["qrels_unknown_doc"],
            [d for _, d in unknown_d[:3]], skipped["queries_dropped"],
        )
    if not clean:
        raise BeirFormatError(f"{qrels_path}: no judgement names a known query and document; nothing to evaluate")
    queries = {q: all_queries[q] for q in clean}
    return BeirCollection(folder.name, folder, split, corpus, queries, clean, skipped)
