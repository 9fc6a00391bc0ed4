"""Top-k inner-product search over dense embeddings.

In: ``queries`` ``float32 [nq, d]``, ``docs`` ``float32 [nd, d]`` (unit length for cosine), ``k``.
Out: ``(scores [nq, k'], indices [nq, k'])`` with ``k' = min(k, nd)``, best first.

- :func:`exact_search`: torch matmul over document chunks with a running top-k merge; memory stays at
  ``query_chunk x doc_chunk`` scores. Exact. The default for corpora up to ``EXACT_MAX_DOCS``.
- :func:`faiss_search`: a faiss index, ``"flat"`` (exact inner product, BLAS, low overhead) or ``"hnsw"``
  (approximate, for corpora too large to scan per query). The default above ``EXACT_MAX_DOCS``.
"""
from __future__ import annotations

import numpy as np
import torch

EXACT_MAX_DOCS = 500_000


def exact_search(
    queries: np.ndarray, docs: np.ndarray, k: int, *, query_chunk: int = 1024, doc_chunk: int = 65_536
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` by inner product (see the module docstring)."""
    _check(queries, docs, k)
    k = min(k, docs.shape[0])
    q_all = torch.from_numpy(np.ascontiguousarray(queries, dtype=np.float32))
    d_all = torch.from_numpy(np.ascontiguousarray(docs, dtype=np.float32))
    out_s = np.empty((q_all.shape[0], k), dtype=np.float32)
    out_i = np.empty((q_all.shape[0], k), dtype=np.int64)
    with torch.inference_mode():
        for qs in range(0, q_all.shape[0], query_chunk):
            q = q_all[qs : qs + query_chunk]
            best_s = torch.full((q.shape[0], 0), float("-inf"))
            best_i = torch.zeros((q.shape[0], 0), dtype=torch.long)
            for ds in range(0, d_all.shape[0], doc_chunk):
                scores = q @ d_all[ds : ds + doc_chunk].T
                top_s, top_i = scores.topk(min(k, scores.shape[1]), dim=1)
                cand_s = torch.cat([best_s, top_s], dim=1)
                cand_i = torch.cat([best_i, top_i + ds], dim=1)
                sel_s, sel = cand_s.topk(min(k, cand_s.shape[1]), dim=1)
                best_s, best_i = sel_s, cand_i.gather(1, sel)
            out_s[qs : qs + q.shape[0]] = best_s.numpy()
            out_i[qs : qs + q.shape[0]] = best_i.numpy()
    return out_s, out_i


def faiss_search(
    queries: np.ndarray, docs: np.ndarray, k: int, *, index: str = "flat", hnsw_m: int = 32, ef_search: int = 256
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` through faiss: ``index="flat"`` (exact) or ``"hnsw"`` (approximate, inner-product HNSW)."""
    import faiss

    _check(queries, docs, k)
    k = min(k, docs.shape[0])
    d = docs.shape[1]
    if index == "flat":
        idx = faiss.IndexFlatIP(d)
    elif index == "hnsw":
        idx = faiss.IndexHNSWFlat(d, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        idx.hnsw.efSearch = max(ef_search, k)
    else:
        raise ValueError(f"option `index`={index!r} must be 'flat' or 'hnsw'")
    idx.add(np.ascontiguousarray(docs, dtype=np.float32))
    scores, indices = idx.search(np.ascontiguousarray(queries, dtype=np.float32), k)
    return scores, indices.astype(np.int64)


def search(queries: np.ndarray, docs: np.ndarray, k: int, method: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """``method``: ``"exact"`` (torch), ``"faiss"`` (faiss flat), ``"hnsw"`` (faiss HNSW) or ``"auto"``
    (exact up to ``EXACT_MAX_DOCS`` documents, faiss flat above)."""
    if method == "auto":
        method = "exact" if docs.shape[0] <= EXACT_MAX_DOCS else "faiss"
    if method == "exact":
        return exact_search(queries, docs, k)
    if method == "faiss":
        return faiss_search(queries, docs, k, index="flat")
    if method == "hnsw":
        return faiss_search(queries, docs, k, index="hnsw")
    raise ValueError(f"option `search`={method!r} must be one of 'auto', 'exact', 'faiss', 'hnsw'")


def _check(queries: np.ndarray, docs: np.ndarray, k: int) -> None:
    if queries.ndim != 2 or docs.ndim != 2 or queries.shape[1] != docs.shape[1]:
        raise ValueError(f"query embeddings {queries.shape} and document embeddings {docs.shape} do not match")
    if docs.shape[0] == 0:
        raise ValueError("no documents to search")
    if k < 1:
        raise ValueError(f"k={k} must be >= 1")
