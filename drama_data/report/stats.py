"""The numbers of a quality report for one dataset folder (a ``generate`` or ``build`` output).

Definitions (tokens are :func:`drama_data.build.filters.query_tokens`: words, one per CJK character):

- query length: tokens per query; ``mean``, ``median``, ``p5``/``p95`` (nearest rank), ``min``/``max``;
- languages: ``detected`` by py3langid on the query text, and ``declared`` (the ``language`` column);
  ``mismatch`` counts rows whose declared language (when given) differs from the detected one;
- copy rate: :func:`drama_data.build.filters.copy_rate` (share of the query's word 3-grams found verbatim in its
  source passage): ``mean`` and the share of queries at or above 0.8 (build's default filter threshold);
- duplicates: in row order, a query is an ``exact`` duplicate when its normalised text equals an earlier
  one's, a ``near`` duplicate when its character-trigram Jaccard similarity with an earlier kept query is at
  least 0.8 (MinHash LSH with exact verification, :class:`drama_data.build.dedup.Deduplicator`, as build uses);
  rates are over all rows;
- failures (generate output): failed attempts by reason; ``slots`` without a row; ``rate`` = failed slots /
  (rows + failed slots); (build output): removed queries by reason;
- labels (build output): positives and negatives per query (counts of each number), and the 1-based rank of
  each positive in the query's ranking (the rerank output for ``rerank`` rows, else the retriever's candidates,
  read from the inputs named in ``provenance.json``; ``null`` when it is not in that list, e.g. a source
  passage that was forced positive).
"""
from __future__ import annotations

import collections
import json
import statistics
from pathlib import Path
from typing import Any

from drama_data.build.dedup import Deduplicator
from drama_data.build.filters import copy_rate, query_tokens
from drama_data.datasets.folder import read_card, read_table
from drama_data.errors import InputError

COPY_THRESHOLD = 0.8
NEAR_DUP_THRESHOLD = 0.8


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


def summary(values: list[float]) -> dict[str, float]:
    """``n, mean, median, p5, p95, min, max`` (nearest-rank percentiles) of ``values``; zeros when empty."""
    if not values:
        return {"n": 0, "mean": 0.0, "median": 0.0, "p5": 0.0, "p95": 0.0, "min": 0.0, "max": 0.0}
    s = sorted(values)

    def pct(q: float) -> float:
        return s[max(0, min(len(s) - 1, int(-(-q * len(s) // 100)) - 1))]

    return {"n": len(s), "mean": round(statistics.fmean(s), 4), "median": statistics.median(s),
            "p5": pct(5), "p95": pct(95), "min": s[0], "max": s[-1]}


def detect_languages(texts: list[str]) -> list[str]:
    from drama_data.tasks.crosslingual import detect_language

    return [detect_language(t) if t.strip() else "" for t in texts]


def duplicates(queries: list[str], ids: list[str]) -> dict[str, Any]:
    """Exact and near duplicates in order (see module doc), with up to 20 examples of each."""
    dedup = Deduplicator(exact=True, threshold=NEAR_DUP_THRESHOLD, ngram=3)
    found: dict[str, list] = {"duplicate": [], "near_duplicate": []}
    for qid, q in zip(ids, queries):
        hit = dedup.check(qid, q)
        if hit is not None:
            found[hit[0]].append({"id": qid, "of": hit[1], "similarity": hit[2]})
    n = max(len(queries), 1)
    return {"exact": len(found["duplicate"]), "near": len(found["near_duplicate"]),
            "exact_rate": round(len(found["duplicate"]) / n, 4), "near_rate": round(len(found["near_duplicate"]) / n, 4),
            "threshold": NEAR_DUP_THRESHOLD, "exact_examples": found["duplicate"][:20],
            "near_examples": found["near_duplicate"][:20]}


def _counts(values) -> dict[str, int]:
    return dict(sorted(collections.Counter(values).items(), key=lambda kv: (-kv[1], str(kv[0]))))


def query_stats(ids: list[str], queries: list[str], passages: list[str | None] | None, declared: list[str],
                rates: list[float] | None = None) -> dict:
    """The query-side numbers shared by every kind of dataset; ``rates``: the copy rates when computed already
    (then ``passages`` is not needed)."""
    lengths = [len(query_tokens(q)) for q in queries]
    detected = detect_languages(queries)
    if rates is None:
        rates = [copy_rate(q, p) for q, p in zip(queries, passages) if p]
    mismatch = sum(1 for d, x in zip(declared, detected) if d and x and d != x)
    return {
        "rows": len(queries),
        "query_length": {**summary(lengths), "histogram": _counts(lengths)},
        "languages": {"detected": _counts(detected), "declared": _counts(d or "(none)" for d in declared),
                      "mismatch": mismatch},
        "copy_rate": {**summary(rates), "threshold": COPY_THRESHOLD,
                      "at_or_above": sum(1 for r in rates if r >= COPY_THRESHOLD),
                      "share_at_or_above": round(sum(1 for r in rates if r >= COPY_THRESHOLD) / len(rates), 4)
                      if rates else 0.0, "values": [round(r, 4) for r in rates]},
        "duplicates": duplicates(queries, ids),
    }


def _column(table, name: str, default="") -> list:
    return table.column(name).to_pylist() if name in table.column_names else [default] * table.num_rows


def _copy_rates(folder: Path, config: str) -> list[float]:
    """Copy rates of the rows that have a passage text, reading ``query`` and ``text`` a batch at a time."""
    import pyarrow.parquet as pq

    rates: list[float] = []
    for f in sorted((folder / "data" / config).glob("*.parquet")):
        pf = pq.ParquetFile(f)
        if "text" not in pf.schema_arrow.names:
            return []
        for batch in pf.iter_batches(batch_size=8192, columns=["query", "text"]):
            rates += [copy_rate(q or "", p) for q, p in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist())
                      if p]
    return rates


def generate_stats(folder: Path) -> dict:
    """Numbers of a ``generate`` output (config ``queries``, and ``failures`` when present). Only the query-side
    columns are held in memory; passage texts are read a batch at a time for the copy rates."""
    t = read_table(folder, "queries", columns=["query_id", "query", "language"])
    ids = [str(x) for x in _column(t, "query_id")]
    queries = [q or "" for q in _column(t, "query")]
    out = query_stats(ids, queries, None, [d or "" for d in _column(t, "language")],
                      rates=_copy_rates(folder, "queries"))
    try:
        f = read_table(folder, "failures", columns=["reason", "final"])
    except InputError:
        f = None
    reasons = _counts(_column(f, "reason")) if f is not None and f.num_rows else {}
    final = sum(1 for x in _column(f, "final", False) if x) if f is not None and f.num_rows else 0
    slots = len(queries) + final
    out["failures"] = {"attempts_by_reason": reasons, "failed_attempts": sum(reasons.values()),
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


def train_stats(folder: Path) -> dict:
    """Numbers of a ``build`` output (config ``train``, and ``removed`` when present)."""
    t = read_table(folder, "train")
    rows = t.to_pylist()
    ids = [str(r["query_id"]) for r in rows]
    queries = [r["query"] or "" for r in rows]
    source_text = []
    for r in rows:
        text = next((p["text"] for p in r["positive_passages"] if p["docid"] == r.get("source_passage_id")), None)
        source_text.append(text)
    out = query_stats(ids, queries, source_text, [r.get("language") or "" for r in rows])
    rankings = _rankings_from_inputs(folder)
    ranks: list = []
    for r in rows:
        ranking = (rankings.get((r.get("input"), "rerank:" + r["query_id"])) if r.get("rule") == "rerank" else None) \
            or rankings.get((r.get("input"), r["query_id"]))
        for p in r["positive_passages"]:
            ranks.append(ranking.index(p["docid"]) + 1 if ranking and p["docid"] in ranking else None)
    out["labels"] = {
        "positives_per_query": {**summary([len(r["positive_passages"]) for r in rows]),
                                "histogram": _counts(len(r["positive_passages"]) for r in rows)},
        "negatives_per_query": {**summary([len(r["negative_passages"]) for r in rows]),
                                "histogram": _counts(len(r["negative_passages"]) for r in rows)},
        "positive_ranks": {"histogram": _counts(x if x is not None else "not ranked" for x in ranks),
                           "ranked": sum(1 for x in ranks if x is not None), "total": len(ranks)},
    }
    try:
        removed = read_table(folder, "removed")
        by_reason = _counts(_column(removed, "reason"))
    except InputError:
        by_reason = {}
    n = len(rows) + sum(by_reason.values())
    out["failures"] = {"removed_by_reason": by_reason, "removed": sum(by_reason.values()),
                       "rate": round(sum(by_reason.values()) / n, 4) if n else 0.0}
    return out


def rankings_stats(folder: Path) -> dict:
    t = read_table(folder, "rankings")
    ids = [str(x) for x in _column(t, "query_id")]
    out = query_stats(ids, [q or "" for q in _column(t, "query")], [None] * t.num_rows,
                      [d or "" for d in _column(t, "language")])
    repaired = [x or 0 for x in _column(t, "repaired", 0)]
    out["failures"] = {"queries_with_repaired_windows": sum(1 for x in repaired if x),
                       "rate": round(sum(1 for x in repaired if x) / max(len(repaired), 1), 4)}
    return out


def dataset_stats(folder: str | Path) -> dict:
    """All numbers of the report for ``folder`` (see the module doc); ``kind`` says which dataset it is."""
    folder = Path(folder)
    kind, _ = dataset_kind(folder)
    fn = {"queries": generate_stats, "train": train_stats, "rankings": rankings_stats}[kind]
    return {"kind": kind, "folder": str(folder), **fn(folder)}
