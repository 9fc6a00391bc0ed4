"""What each query is mined *with* when its language is not its passage's (``drama-data mine --cross-lingual``).

BM25 cannot match a German query to a Chinese passage: the two share no terms, so a lexical ranking of a
cross-lingual query is noise (issue 12, item 5). A row is *cross-lingual* when it comes from
``generate --task crosslingual`` (``source == "crosslingual"``) and its ``language`` (the target the query was
checked to be in) differs from its ``passage_language`` (detected from the passage when the column is empty).
Every other row is mined with its own query, as before.

Ways (recorded per row in the candidates' ``mined_with`` column):

- ``query``: the query itself. Right for a dense multilingual encoder (``--retriever dense --model M``).
- ``source_query``: the query it was translated from (``--method translate`` rows carry ``source_query``),
  when that one is in the passage's language: the in-language ranking labels the translated query (its source
  passage is the positive, the hard negatives are the source query's, so from the passage's language).
- ``passage``: the source passage's own text (title and text, as indexed) searched as a query, for rows with no
  source query in the passage's language (``--method direct``). The source passage ranks first; the passages
  next to it in the ranking are in the passage's language and on its topic. Labelling then uses the source
  passage as the only positive and far ranks (the ``crosslingual`` rule: 30-50) as negatives, because near
  ranks of a "more like this" search are likely to answer the query too. We search with the whole passage rather
  than its title: titles are often missing (XQuAD-R has none) or shared by every chunk of a document. The text
  is cut after :data:`MAX_PASSAGE_QUERY_UNITS` words (a CJK character counts as one): Lucene (pyserini) refuses
  a query of more than 1,024 terms, and a 3,000-character Chinese passage as one query returned nothing.

Modes (``cross_lingual``): ``auto`` (default): a retriever that crosses languages (dense) uses ``query``; a
lexical one (bm25s, rank-bm25, pyserini, and hybrid, whose BM25 half cannot) uses ``source_query`` where
possible, else ``passage``. ``query``, ``source-query``, ``passage`` force one way; a row that cannot be
mined that way (a lexical retriever with ``query``, a row without a usable source query with
``source-query``) stops the run with a one-line error saying what to do.
"""
from __future__ import annotations

import collections
import re
from collections.abc import Callable, Mapping, Sequence

from drama_data.errors import ConfigError
from drama_data.languages import LanguageDetector, normalize_language

MODES = ("auto", "query", "source-query", "passage")
CROSSLINGUAL_SOURCE = "crosslingual"
#: at most this many words (CJK characters count one each) of a passage searched as a query: under Lucene's
#: 1,024-clause limit even with one bigram per CJK character, and enough for the passage to find itself first
MAX_PASSAGE_QUERY_UNITS = 300
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"  # kana, Han, Hangul
_UNIT_RE = re.compile(rf"[{_CJK}]|[^\s{_CJK}]+")


def passage_query(text: str, max_units: int = MAX_PASSAGE_QUERY_UNITS) -> str:
    """``text`` cut after ``max_units`` words (each CJK character one unit): a passage searched as a query."""
    for n, m in enumerate(_UNIT_RE.finditer(text), start=1):
        if n == max_units:
            return text[:m.end()]
    return text


def is_cross_lingual(row, passage_language: str) -> bool:
    """A ``crosslingual`` row whose query language differs from its passage's."""
    language = normalize_language(row.language)
    return (row.source == CROSSLINGUAL_SOURCE and bool(row.source_passage_id) and bool(language)
            and bool(passage_language) and language != passage_language)


def plan(rows: Sequence, passage_text: Callable[[str], str], *, mode: str = "auto", crosses_languages: bool = False,
         retriever: str = "bm25s", queries: str = "QUERIES") -> tuple[dict[str, int], int]:
    """Set ``row.search_text`` and ``row.mined_with`` on every row (see the module docstring); return the
    count of rows per way and the number of cross-lingual rows. ``passage_text(passage_id)`` gives the indexed
    text of a passage. Raises ``ConfigError`` naming the first row that cannot be mined as ``mode`` asks."""
    if mode not in MODES:
        raise ConfigError(f"--cross-lingual {mode!r}: use one of {', '.join(MODES)}")
    detector = LanguageDetector()
    detected: dict[str, str] = {}

    def passage_language(row) -> str:
        given = normalize_language(row.passage_language)
        if given or not row.source_passage_id:
            return given
        if row.source_passage_id not in detected:
            detected[row.source_passage_id] = detector.passage(passage_text(row.source_passage_id))
        return detected[row.source_passage_id]

    counts: collections.Counter = collections.Counter()
    n_cross = 0
    for i, row in enumerate(rows):
        row.search_text, row.mined_with = row.query, "query"
        if row.source != CROSSLINGUAL_SOURCE:
            counts["query"] += 1
            continue
        p_lang = passage_language(row)
        if not is_cross_lingual(row, p_lang):
            counts["query"] += 1
            continue
        n_cross += 1
        where = (f"--queries {queries}: row {i + 1}, query {row.query_id!r} ({normalize_language(row.language)} "
                 f"query, {p_lang} passage)")
        s_lang = normalize_language(row.source_language)
        if row.source_query and not s_lang:
            s_lang = detector.query(row.source_query, p_lang)[0]
        usable_source = bool(row.source_query.strip()) and s_lang == p_lang
        if mode == "query" or (mode == "auto" and crosses_languages):
            if not crosses_languages:
                raise ConfigError(f"{where}: --retriever {retriever} is lexical and cannot rank a query against "
                                  "passages in another language; use --retriever dense --model M (a multilingual "
                                  "encoder) or --cross-lingual auto")
            way = "query"
        elif mode == "source-query" or (mode == "auto" and usable_source):
            if not usable_source:
                why = "has no source query" if not row.source_query.strip() else \
                    f"has a source query in {s_lang or 'an unknown language'}, not the passage's"
                raise ConfigError(f"{where}: {why} (--method direct?); use --cross-lingual passage or auto, or "
                                  "--retriever dense --model M")
            way = "source_query"
        else:
            way = "passage"
        row.mined_with = way
        row.search_text = {"query": row.query, "source_query": row.source_query,
                           "passage": passage_query(passage_text(row.source_passage_id))}[way]
        counts[way] += 1
    return dict(counts), n_cross


def describe(counts: Mapping[str, int], n_cross: int, n_rows: int, mode: str, retriever: str,
             crosses_languages: bool) -> str:
    """One line for the summary and the card: how many rows were cross-lingual and which way they were mined."""
    if not n_cross:
        return f"none of {n_rows} rows (--cross-lingual {mode})"
    if crosses_languages and not any(counts.get(w) for w in ("source_query", "passage")):
        return (f"{n_cross} of {n_rows} rows, mined with their own query ({retriever} crosses languages: the "
                f"encoder must be multilingual; --cross-lingual {mode})")
    parts = []
    if crosses_languages and counts.get("query", 0) > n_rows - n_cross:
        parts.append(f"{counts['query'] - (n_rows - n_cross)} with their own query")
    parts += [f"{counts[w]} with their {'source query' if w == 'source_query' else 'passage text'}"
              for w in ("source_query", "passage") if counts.get(w)]
    kind = "crosses languages" if crosses_languages else "is lexical: never ranks across languages"
    return f"{n_cross} of {n_rows} rows: {', '.join(parts)} ({retriever} {kind}; --cross-lingual {mode})"
