"""BM25 baseline for evaluation tables, on ``bm25s`` (fast, in-process, no JVM).

Kept to one function, :func:`bm25_search`, so it can later be swapped for ``drama_data``'s miner.
Tokenization by language:

- English (``"en"``): lower-case word tokens, bm25s' English stop words, PyStemmer's English (Snowball) stemmer;
- another language PyStemmer knows (``"de"``, ``"fr"``, ...): the same with that language's stemmer and, where
  bm25s has them, its stop words;
- Chinese / Japanese / Korean (``"zh"``, ``"ja"``, ``"ko"``): text without spaces, so CJK characters become
  unigrams plus adjacent bigrams (other scripts in the text keep word tokens);
- anything else: lower-case word tokens, no stemming.

Parameters default to ``k1=0.9, b=0.4``, Anserini/Pyserini's BM25 defaults (the "BM25 flat" of BEIR's leaderboard).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

LANGUAGE_NAMES = {
    "english": "en", "german": "de", "french": "fr", "spanish": "es", "italian": "it", "portuguese": "pt",
    "dutch": "nl", "russian": "ru", "swedish": "sv", "norwegian": "no", "danish": "da", "finnish": "fi",
    "turkish": "tr", "arabic": "ar", "hindi": "hi", "indonesian": "id", "persian": "fa", "chinese": "zh",
    "japanese": "ja", "korean": "ko", "thai": "th", "telugu": "te", "bengali": "bn", "swahili": "sw",
}
STEMMERS = {
    "en": "english", "de": "german", "fr": "french", "es": "spanish", "it": "italian", "pt": "portuguese",
    "nl": "dutch", "ru": "russian", "sv": "swedish", "no": "norwegian", "da": "danish", "fi": "finnish",
    "tr": "turkish", "ar": "arabic", "hi": "hindi", "id": "indonesian", "fa": "persian",
}
BM25S_STOPWORDS = {  # language -> list name in bm25s.stopwords
    "en": "STOPWORDS_EN", "de": "STOPWORDS_GERMAN", "nl": "STOPWORDS_DUTCH", "fr": "STOPWORDS_FRENCH",
    "es": "STOPWORDS_SPANISH", "pt": "STOPWORDS_PORTUGUESE", "it": "STOPWORDS_ITALIAN", "ru": "STOPWORDS_RUSSIAN",
    "sv": "STOPWORDS_SWEDISH", "no": "STOPWORDS_NORWEGIAN", "tr": "STOPWORDS_TURKISH", "da": "STOPWORDS_DANISH",
}
CJK = {"zh", "ja", "ko"}
_CJK_CHAR = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_WORD = re.compile(r"(?u)\b\w\w+\b")


def detect_language(folder: str | Path, sample_texts: list[str] | None = None) -> str:
    """ISO code of a collection's language: the ``**Language:** X`` line of its SOURCE.md/README.md when present,
    else ``"zh"`` if over 20% of the sampled characters are CJK, else ``"en"``."""
    folder = Path(folder)
    for name in ("SOURCE.md", "README.md"):
        path = folder / name
        if path.is_file():
            match = re.search(r"\*?\*?Language:?\*?\*?:?\s*([A-Za-z]+)", path.read_text(encoding="utf-8"))
            if match and match.group(1).lower() in LANGUAGE_NAMES:
                return LANGUAGE_NAMES[match.group(1).lower()]
    text = "".join(sample_texts or [])[:200_000]
    if text and len(_CJK_CHAR.findall(text)) > 0.2 * len(text):
        return "zh"
    return "en"


def _cjk_tokens(text: str) -> list[str]:
    tokens: list[str] = []
    for piece in re.findall(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]+|\w+", text.lower()):
        if _CJK_CHAR.match(piece):
            tokens.extend(piece)
            tokens.extend(piece[i : i + 2] for i in range(len(piece) - 1))
        else:
            tokens.append(piece)
    return tokens


def tokenize(texts: list[str], language: str = "en") -> list[list[str]]:
    """Texts -> token lists for BM25 as described in the module docstring."""
    if language in CJK:
        return [_cjk_tokens(t) for t in texts]
    stop = set()
    if language in BM25S_STOPWORDS:
        import bm25s.stopwords

        stop = set(getattr(bm25s.stopwords, BM25S_STOPWORDS[language]))
    stem = None
    if language in STEMMERS:
        import Stemmer

        stem = Stemmer.Stemmer(STEMMERS[language]).stemWords
    out = []
    for t in texts:
        words = [w for w in _WORD.findall(t.lower()) if w not in stop]
        out.append(stem(words) if stem else words)
    return out


def bm25_search(
    doc_ids: list[str],
    doc_texts: list[str],
    queries: dict[str, str],
    k: int = 100,
    language: str = "en",
    k1: float = 0.9,
    b: float = 0.4,
    show_progress: bool = False,
) -> dict[str, dict[str, float]]:
    """Rank ``doc_texts`` for every query; returns a run ``{qid: {doc_id: score}}`` with at most ``k`` docs each.

    Documents with score 0 (no term in common) are left out, so a query may get fewer than ``k`` results.
    """
    import bm25s

    if len(doc_ids) != len(doc_texts):
        raise ValueError(f"{len(doc_ids)} document ids but {len(doc_texts)} document texts")
    corpus_tokens = tokenize(doc_texts, language)
    retriever = bm25s.BM25(k1=k1, b=b, method="lucene")
    retriever.index(corpus_tokens, show_progress=show_progress)
    vocab = retriever.vocab_dict
    qids = list(queries)
    query_tokens = [[w for w in toks if w in vocab] for toks in tokenize([queries[q] for q in qids], language)]
    run: dict[str, dict[str, float]] = {q: {} for q in qids}
    k = min(k, len(doc_ids))
    nonempty = [i for i, toks in enumerate(query_tokens) if toks]
    if not nonempty:
        return run
    docs, scores = retriever.retrieve(
        [query_tokens[i] for i in nonempty], k=k, show_progress=show_progress, n_threads=1
    )
    for row, i in enumerate(nonempty):
        hits = run[qids[i]]
        for d, s in zip(np.asarray(docs[row]).tolist(), np.asarray(scores[row]).tolist()):
            if s > 0:
                hits[doc_ids[d]] = float(s)
    return run
