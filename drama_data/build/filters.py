"""Query filters used by ``build``: length in tokens, copy rate from the source passage, text normalisation.

Tokens are words of space-separated scripts and single CJK characters (punctuation dropped), lowercased
after NFKC, so the same thresholds work for English, German and Chinese queries.

- :func:`query_tokens` ``(text) -> list[str]``
- :func:`copy_rate` ``(query, passage, n=3) -> float in [0, 1]``: the fraction of the query's word n-grams
  that occur verbatim in the passage (n shrinks to the query length for queries shorter than n). 1.0 means
  the query is a span of the passage (what a cropped sentence is by design); an LLM query that just copies
  its passage scores near 1 and teaches a dense retriever nothing beyond lexical overlap.
- :func:`without_span` ``(passage, span) -> str``: the passage with the span cut out (inverse cloze).
- :func:`normalise_query` ``(text) -> str``: the key of exact-duplicate detection (NFKC, case folding,
  punctuation removed, whitespace collapsed).
"""
from __future__ import annotations

import re
import unicodedata

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_TOKEN_RE = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+", re.UNICODE)
_SPACE_RE = re.compile(r"\s+")


def query_tokens(text: str) -> list[str]:
    """Lowercased word tokens; each CJK character is one token; punctuation is not a token."""
    return _TOKEN_RE.findall(unicodedata.normalize("NFKC", text or "").casefold())


def ngrams(tokens: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def copy_rate(query: str, passage: str, n: int = 3) -> float:
    """Fraction of the query's word ``n``-grams found verbatim in ``passage`` (0.0 for an empty query)."""
    q = query_tokens(query)
    if not q:
        return 0.0
    n = max(1, min(n, len(q)))
    p = query_tokens(passage)
    have = set(ngrams(p, n))
    grams = ngrams(q, n)
    return sum(1 for g in grams if g in have) / len(grams)


def normalise_query(text: str) -> str:
    """Exact-duplicate key: NFKC, casefold, punctuation/symbols dropped, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text or "").casefold()
    text = "".join(" " if unicodedata.category(ch)[0] in "PSZC" else ch for ch in text)
    return _SPACE_RE.sub(" ", text).strip()


def without_span(passage: str, span: str) -> str:
    """``passage`` with the first occurrence of ``span`` cut out (whitespace-insensitive), for inverse-cloze
    positives (Lee et al. 2019): the cropped sentence is not in the passage it must retrieve. The passage is
    returned unchanged when ``span`` is not in it or would leave nothing."""
    words = span.split()
    if not words:
        return passage
    m = re.search(r"\s+".join(re.escape(w) for w in words), passage)
    if m is None:
        return passage
    rest = _SPACE_RE.sub(" ", passage[:m.start()] + " " + passage[m.end():]).strip()
    return rest or passage
