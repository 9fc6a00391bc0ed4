"""Contamination check of a dataset: generated queries and training passages that overlap evaluation collections.

The overlap rules and the index built from the evaluation collections (BEIR folders) are in
:mod:`drama_data.build.contamination_index` (``build --exclude-contaminated`` uses the same index; its names are
re-exported here). In: a :class:`ContaminationIndex` and a dataset's rows (:func:`check_dataset`) or folder
(:func:`check_folder`, which streams the rows a batch at a time). Out: the leaks found, for
``drama-data report --contamination``.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from drama_data.build.contamination_index import ContaminationIndex, EvalCollection, load_eval_collection, load_index

__all__ = ["CHECK_COLUMNS", "SEEN_LIMIT", "ContaminationIndex", "EvalCollection", "check_dataset", "check_folder",
           "load_eval_collection", "load_index"]


SEEN_LIMIT = 100_000  # passage ids remembered to check each passage once; cleared when full (then rechecked)


def check_dataset(index: ContaminationIndex, kind: str, rows: Iterable[dict]) -> dict:
    """Leaks of a dataset's rows: ``queries`` (by query id) and ``passages`` (by passage id, each once).

    ``rows`` (any iterable: the report streams them a batch at a time) are the rows of the ``queries`` config
    (``query_id, query, passage_id, text``) or of ``train`` (``query_id, query, positive_passages,
    negative_passages``). Memory holds the leaks found and at most ``SEEN_LIMIT`` passage ids."""
    q_leaks, p_leaks, seen, leaked = [], [], set(), set()

    def passage(pid: str, text: str, qid: str) -> None:
        if pid in seen or pid in leaked:
            return
        if len(seen) >= SEEN_LIMIT:
            seen.clear()
        seen.add(pid)
        hit = index.passage(text or "")
        if hit:
            leaked.add(pid)
            p_leaks.append({"id": pid, "first_query_id": qid, **hit})

    for r in rows:
        hit = index.query(r.get("query") or "")
        if hit:
            q_leaks.append({"id": r["query_id"], "query": r.get("query") or "", **hit})
        if kind == "queries":
            passage(r.get("passage_id") or "", r.get("text") or "", r["query_id"])
        elif kind == "train":
            for p in (r.get("positive_passages") or []) + (r.get("negative_passages") or []):
                passage(p["docid"], p.get("text") or "", r["query_id"])
    return {"collections": index.describe(), "queries": q_leaks, "passages": p_leaks,
            "query_leaks": len(q_leaks), "passage_leaks": len(p_leaks),
            "rules": {"query_threshold": index.query_threshold, "passage_ngram": index.passage_ngram,
                      "passage_share": index.passage_share}}


CHECK_COLUMNS = {"queries": ["query_id", "query", "passage_id", "text"],
                 "train": ["query_id", "query", "positive_passages", "negative_passages"],
                 "rankings": ["query_id", "query"]}


def check_folder(index: ContaminationIndex, folder: str | Path, kind: str) -> dict:
    """:func:`check_dataset` of a dataset folder's ``kind`` config, read a batch at a time."""
    from drama_data.report.batches import iter_batches

    batch_size = 512 if kind == "train" else 4096
    rows = (r for b in iter_batches(folder, kind, CHECK_COLUMNS[kind], batch_size=batch_size) for r in b.to_pylist())
    return check_dataset(index, kind, rows)
