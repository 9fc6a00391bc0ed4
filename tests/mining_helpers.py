"""Helpers of the mining tests (``tests/drama_data/mining``): a deterministic fake encoder and a queries-dataset writer."""
from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa

from drama_data.datasets.folder import write_dataset


class HashEncoder:
    """A deterministic bag-of-words encoder: the sum of a fixed random vector per word (64 dims).
    Continuous values, so scores do not tie: enough to test the plumbing."""

    def __init__(self, dim=64):
        self.dim = dim
        self.calls = 0

    def _word(self, w):
        return np.random.default_rng(zlib.crc32(w.encode())).standard_normal(self.dim).astype(np.float32)

    def _enc(self, texts):
        self.calls += 1
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                out[i] += self._word(w)
        return out

    encode_queries = _enc
    encode_documents = _enc


def write_queries(folder: Path, rows: list[dict]) -> Path:
    """A queries dataset as `drama-data generate` writes it (only the columns mine reads, plus a few)."""
    full = [{"query_id": r["query_id"], "query": r["query"], "passage_id": r.get("passage_id", ""),
             "doc_id": r.get("passage_id", "").split("#")[0], "title": "", "text": "",
             "source": r.get("source", "qgen"), "language": r.get("language", "en"), "model": "test"} for r in rows]
    write_dataset(folder, {"queries": pa.Table.from_pylist(full)}, default="queries", card_body="test queries")
    return folder


def write_candidates(folder, n_queries=3, n_cands=30, passage_text=lambda q, r: f"passage {r} of query {q}"):
    """A mine output folder (configs ``candidates`` and ``passages``): ``n_queries`` queries with ``n_cands``
    BM25-ranked candidates each (``q{q}-d{r}``, rank ``r + 1``, the first one the query's source passage) whose
    texts are ``passage_text(q, r)``. Returns ``folder``."""
    rows, passages = [], []
    for q in range(n_queries):
        cands = []
        for r in range(n_cands):
            pid = f"q{q}-d{r}"
            passages.append({"id": pid, "doc_id": pid, "title": "", "text": passage_text(q, r)})
            cands.append({"docid": pid, "score": float(n_cands - r), "rank": r + 1, "is_source": r == 0})
        rows.append({"query_id": f"q{q}", "query": f"query {q}", "source": "qgen", "language": "en",
                     "source_passage_id": f"q{q}-d0", "candidates": cands, "retriever": "bm25s"})
    write_dataset(folder, {"candidates": pa.Table.from_pylist(rows), "passages": pa.Table.from_pylist(passages)},
                  default="candidates", card_body="test")
    return folder
