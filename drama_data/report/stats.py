"""The numbers of a quality report for one dataset folder (a ``generate``, ``build`` or rerank output), read a
batch at a time: memory does not grow with the rows.

Definitions (tokens are :func:`drama_data.build.filters.query_tokens`: words, one per CJK character):

- query length: tokens per query; ``mean``, ``median``, ``p5``/``p95`` (nearest rank), ``min``/``max``, over
  every row (exact, from counts of each length: :mod:`drama_data.report.counts`);
- languages: ``declared``, the rows' ``language`` column counted as the dataset card counts it
  (:class:`drama_data.datasets.card.CardStats`: one source for both); ``detected`` by py3langid on the query text
  of the judged rows, and ``mismatch``, judged rows whose language (when given) differs from the detected one;
- copy rate: :func:`drama_data.build.filters.copy_rate` (share of the query's word 3-grams found verbatim in its
  source passage), over every row with a passage text: ``mean``, ``median`` ..., the share at or above 0.8
  (build's default filter threshold) and a histogram in bins of 0.1;
- duplicates: exact and near (character-trigram Jaccard >= 0.8) duplicates of an earlier row, rates over the
  judged rows (:mod:`drama_data.report.duplicates`);
- judged rows: every row up to :data:`~drama_data.report.sampling.SAMPLE_ROWS` (50,000) rows, else a uniform
  random sample of that many (``sample`` says which); the other figures always count every row;
- failures (generate output): failed attempts by reason; ``slots`` without a row; ``rate`` = failed slots /
  (rows + failed slots); (build output): removed queries by reason;
- labels (build output): positives and negatives per query (counts of each number), and the 1-based rank of
  each positive in the query's ranking (the rerank output for ``rerank`` rows, else the retriever's candidates,
  read from the inputs named in ``provenance.json``; ``null`` when it is not in that list, e.g. a source
  passage that was forced positive). The rankings are held per query while the train rows stream (as build
  itself held them).
"""
from __future__ import annotations

import collections
import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from drama_data.build.filters import ngrams, query_tokens
from drama_data.datasets.card import CardStats
from drama_data.datasets.folder import read_card, read_table
from drama_data.errors import InputError
from drama_data.report import sampling
from drama_data.report.batches import column, config_rows, iter_batches
from drama_data.report.counts import ValueCounts, bins, summary
from drama_data.report.duplicates import NEAR_DUP_THRESHOLD, DuplicateCheck
from drama_data.report.sampling import RowSample

__all__ = ["COPY_THRESHOLD", "NEAR_DUP_THRESHOLD", "QueryStats", "dataset_kind", "dataset_stats", "summary"]

COPY_THRESHOLD = 0.8
BATCH_ROWS = 4096
TRAIN_BATCH_ROWS = 512  # a train row carries its passages' texts


def dataset_kind(folder: Path) -> tuple[str, str]:
    """``(kind, config)``: ``("queries", "queries")``, ``("train", "train")`` or ``("rankings", "rankings")``."""
    if not (folder / "README.md").is_file():
        raise InputError(f"{folder}: not a dataset folder (no README.md)")
    for kind in ("train", "queries", "rankings"):
        if (folder / "data" / kind).is_dir():
            return kind, kind
    meta, _ = read_card(folder)
    default = next((c["config_name"] for c in meta.get("configs", []) if c.get("default")), None)
    raise InputError(f"{folder}: no queries, train or rankings config to report on (default config: {default})")


def detect_languages(texts: list[str]) -> list[str]:
    from drama_data.tasks.crosslingual import detect_language

    return [detect_language(t) if t.strip() else "" for t in texts]


def _counts(counts: collections.Counter) -> dict:
    """``counts`` as a dict, commonest first (ties by key)."""
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0]))))


class _CopyRates:
    """:func:`~drama_data.build.filters.copy_rate`, reusing the passage's n-grams while consecutive rows share a
    passage (a generate output lists a passage's queries together)."""

    def __init__(self) -> None:
        self._passage: str | None = None
        self._tokens: list[str] = []
        self._grams: dict[int, set] = {}

    def __call__(self, query: str, passage: str, n: int = 3) -> float:
        q = query_tokens(query)
        if not q:
            return 0.0
        n = max(1, min(n, len(q)))
        if passage != self._passage:
            self._passage, self._tokens, self._grams = passage, query_tokens(passage), {}
        have = self._grams.get(n)
        if have is None:
            have = self._grams[n] = set(ngrams(self._tokens, n))
        grams = ngrams(q, n)
        return sum(1 for g in grams if g in have) / len(grams)


class QueryStats:
    """The query-side numbers every kind of dataset shares, fed a batch at a time (:meth:`add`, rows in order),
    then :meth:`finish` with the rows again (ids and queries) for the duplicate check."""

    def __init__(self, rows: int, sample_size: int | None = None) -> None:
        self.rows = rows
        self.sample = RowSample(rows, sampling.SAMPLE_ROWS if sample_size is None else sample_size)
        self.lengths = ValueCounts()
        self.rates = ValueCounts()
        self.card = CardStats(pa.schema([("language", pa.string())]))
        self.detected: collections.Counter = collections.Counter()
        self.mismatch = 0
        self.duplicates = DuplicateCheck(self.sample)
        self._seen = 0
        self._copy = _CopyRates()

    def add(self, ids: list[str], queries: list[str], languages: list[str] | None,
            passages: list[str | None] | None = None) -> None:
        start, n = self._seen, len(queries)
        self.lengths.update(len(query_tokens(q)) for q in queries)
        if passages is not None:
            self.rates.update(self._copy(q, p) for q, p in zip(queries, passages) if p)
        if languages is not None:
            self.card.add_rows(pa.table({"language": pa.array(languages, pa.string())}))
        picked = self.sample.in_range(start, start + n)
        if len(picked):
            local = [int(i) - start for i in picked]
            detected = detect_languages([queries[i] for i in local])
            for i, x in zip(local, detected):
                self.detected[x] += 1
                d = languages[i] if languages is not None else ""
                if d and x and d != x:
                    self.mismatch += 1
                self.duplicates.judge(start + i, ids[i], queries[i])
        self._seen += n

    def finish(self, rows_again: Iterator[tuple[list[str], list[str]]]) -> dict:
        """The numbers (see module doc); ``rows_again`` yields ``(ids, queries)`` batches from the first row."""
        start = 0
        for ids, queries in rows_again:
            if not self.duplicates.scan(start, ids, queries):
                break
            start += len(queries)
        rates = self.rates
        declared = self.card.by_language if self.card.by_language else collections.Counter({"(none)": self._seen})
        return {
            "rows": self._seen,
            "sample": self.sample.describe(),
            "query_length": {**self.lengths.summary(), "histogram": self.lengths.histogram()},
            "languages": {"declared": _counts(declared), "column": "language" if self.card.by_language else None,
                          "detected": _counts(self.detected), "mismatch": self.mismatch,
                          "judged_rows": self.sample.size},
            "copy_rate": {**rates.summary(), "threshold": COPY_THRESHOLD,
                          "at_or_above": rates.at_or_above(COPY_THRESHOLD),
                          "share_at_or_above": round(rates.at_or_above(COPY_THRESHOLD) / rates.n, 4)
                          if rates.n else 0.0, "histogram": bins(rates)},
            "duplicates": self.duplicates.result(),
        }


def _id_query_batches(folder: Path, config: str) -> Iterator[tuple[list[str], list[str]]]:
    for b in iter_batches(folder, config, ["query_id", "query"], batch_size=BATCH_ROWS):
        yield [str(x) for x in column(b, "query_id", "")], [q or "" for q in column(b, "query", "")]


def generate_stats(folder: Path) -> dict:
    """Numbers of a ``generate`` output (config ``queries``, and ``failures`` when present)."""
    qs = QueryStats(config_rows(folder, "queries"))
    for b in iter_batches(folder, "queries", ["query_id", "query", "language", "text"], batch_size=BATCH_ROWS):
        qs.add([str(x) for x in column(b, "query_id", "")], [q or "" for q in column(b, "query", "")],
               [d or "" for d in column(b, "language", "")] if "language" in b.schema.names else None,
               column(b, "text") if "text" in b.schema.names else None)
    out = qs.finish(_id_query_batches(folder, "queries"))
    reasons: collections.Counter = collections.Counter()
    final = 0
    for b in iter_batches(folder, "failures", ["reason", "final"], batch_size=BATCH_ROWS * 4, required=False):
        reasons.update(column(b, "reason", ""))
        final += sum(1 for x in column(b, "final", False) if x)
    slots = out["rows"] + final
    out["failures"] = {"attempts_by_reason": _counts(reasons), "failed_attempts": sum(reasons.values()),
                       "failed_slots": final, "rate": round(final / slots, 4) if slots else 0.0}
    return out


def _rankings_from_inputs(folder: Path) -> dict[tuple[str, str], list[str]]:
    """``(input name, query_id) -> ranked docids`` from the build's inputs (rerank ranking where given)."""
    try:
        prov = json.loads((folder / "provenance.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    out: dict[tuple[str, str], list[str]] = {}
    for inp in prov.get("inputs", []):
        try:
            cands = read_table(inp["candidates"], "candidates")
        except (InputError, KeyError, OSError):
            continue
        for qid, cs in zip(cands.column("query_id").to_pylist(), cands.column("candidates").to_pylist()):
            out[(inp["name"], str(qid))] = [c["docid"] for c in sorted(cs or [], key=lambda c: c["rank"])]
        if inp.get("rerank"):
            try:
                r = read_table(inp["rerank"], "rankings")
            except (InputError, OSError):
                continue
            for qid, ranking in zip(r.column("query_id").to_pylist(), r.column("ranking").to_pylist()):
                out[(inp["name"], "rerank:" + str(qid))] = list(ranking or [])
    return out


TRAIN_COLUMNS = ["query_id", "query", "language", "positive_passages", "negative_passages", "source_passage_id",
                 "rule", "input"]


def train_stats(folder: Path) -> dict:
    """Numbers of a ``build`` output (config ``train``, and ``removed`` when present)."""
    qs = QueryStats(config_rows(folder, "train"))
    rankings = _rankings_from_inputs(folder)
    positives, negatives, ranks = ValueCounts(), ValueCounts(), ValueCounts()
    for b in iter_batches(folder, "train", TRAIN_COLUMNS, batch_size=TRAIN_BATCH_ROWS):
        rows = b.to_pylist()
        source_text = [next((p["text"] for p in r["positive_passages"] or [] if p["docid"] == r.get("source_passage_id")),
                            None) for r in rows]
        qs.add([str(r["query_id"]) for r in rows], [r.get("query") or "" for r in rows],
               [r.get("language") or "" for r in rows], source_text)
        for r in rows:
            pos, neg = r["positive_passages"] or [], r["negative_passages"] or []
            positives.add(len(pos))
            negatives.add(len(neg))
            ranking = (rankings.get((r.get("input"), "rerank:" + r["query_id"])) if r.get("rule") == "rerank"
                       else None) or rankings.get((r.get("input"), r["query_id"]))
            for p in pos:
                ranks.add(ranking.index(p["docid"]) + 1 if ranking and p["docid"] in ranking else "not ranked")
    del rankings
    out = qs.finish(_id_query_batches(folder, "train"))
    not_ranked = ranks.counts.get("not ranked", 0)
    out["labels"] = {
        "positives_per_query": {**positives.summary(), "histogram": positives.histogram()},
        "negatives_per_query": {**negatives.summary(), "histogram": negatives.histogram()},
        "positive_ranks": {"histogram": ranks.histogram(), "ranked": ranks.n - not_ranked, "total": ranks.n},
    }
    by_reason: collections.Counter = collections.Counter()
    for b in iter_batches(folder, "removed", ["reason"], batch_size=BATCH_ROWS * 4, required=False):
        by_reason.update(column(b, "reason", ""))
    n = out["rows"] + sum(by_reason.values())
    out["failures"] = {"removed_by_reason": _counts(by_reason), "removed": sum(by_reason.values()),
                       "rate": round(sum(by_reason.values()) / n, 4) if n else 0.0}
    return out


def rankings_stats(folder: Path) -> dict:
    """Numbers of a rerank output (config ``rankings``)."""
    qs = QueryStats(config_rows(folder, "rankings"))
    repaired = total = 0
    for b in iter_batches(folder, "rankings", ["query_id", "query", "language", "repaired"], batch_size=BATCH_ROWS):
        qs.add([str(x) for x in column(b, "query_id", "")], [q or "" for q in column(b, "query", "")],
               [d or "" for d in column(b, "language", "")] if "language" in b.schema.names else None)
        repaired += sum(1 for x in column(b, "repaired", 0) if x)
        total += b.num_rows
    out = qs.finish(_id_query_batches(folder, "rankings"))
    out["failures"] = {"queries_with_repaired_windows": repaired, "rate": round(repaired / max(total, 1), 4)}
    return out


def dataset_stats(folder: str | Path) -> dict:
    """All numbers of the report for ``folder`` (see the module doc); ``kind`` says which dataset it is."""
    folder = Path(folder)
    kind, _ = dataset_kind(folder)
    fn = {"queries": generate_stats, "train": train_stats, "rankings": rankings_stats}[kind]
    return {"kind": kind, "folder": str(folder), **fn(folder)}
