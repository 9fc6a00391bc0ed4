"""The retriever interface every miner implements: index passages once, then search many queries for top-k.

A retriever is configured in its constructor (everything that changes its results goes into
:meth:`Retriever.settings`, which is both the provenance written to dataset cards and part of the key under
which :mod:`drama_data.mining.mine` caches the index). Then:

- ``index(passages, folder=None)``: build the index over :class:`~drama_data.chunking.Passage` records.
  ``folder`` is a directory the retriever may build into (pyserini writes its Lucene index there); a
  retriever that keeps its index in memory ignores it.
- ``search(queries, k)``: for each query string, up to ``k`` hits ``(passage_id, score)``, best first. Ties
  are broken by corpus order so results are reproducible. A query that matches nothing gets ``[]`` (never
  padding with zero-score passages).
- ``save(folder) -> bool`` / ``load(folder) -> bool``: persist the index when that is cheaper than rebuilding
  it; the default says "not saved" and the stage simply re-indexes.
"""
from __future__ import annotations

import abc
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from drama_data.chunking import Passage

Hit = tuple[str, float]


def passage_text(passage: Passage, include_title: bool = True) -> str:
    """The text a retriever indexes for ``passage``: ``"title\\ntext"`` when it has a title (BEIR convention)."""
    if include_title and passage.title:
        return f"{passage.title}\n{passage.text}"
    return passage.text


def top_k_rows(scores: np.ndarray, k: int, *, drop_nonpositive: bool = False) -> list[tuple[np.ndarray, np.ndarray]]:
    """Top-``k`` of each row of a 2-D score array: ``[(indices, scores), ...]``, best first, ties by index.

    ``drop_nonpositive`` removes hits whose score is <= 0 (a lexical retriever's "no term matched").
    """
    n = scores.shape[1]
    k = min(k, n)
    out = []
    if k <= 0:
        return [(np.empty(0, dtype=np.int64), np.empty(0, dtype=scores.dtype)) for _ in range(scores.shape[0])]
    if k < n:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(n), scores.shape).copy()
    for row, idx in zip(scores, part):
        s = row[idx]
        # include every index tied with the k-th score so the tie-break by index is exact, not partition-dependent
        if k < n:
            kth = s.min()
            ties = np.flatnonzero(row == kth)
            if len(ties) > np.count_nonzero(s == kth):
                idx = np.union1d(idx[s > kth], ties)
                s = row[idx]
        order = np.lexsort((idx, -s))[:k]
        idx, s = idx[order], s[order]
        if drop_nonpositive:
            keep = s > 0
            idx, s = idx[keep], s[keep]
        out.append((idx, s))
    return out


class Retriever(abc.ABC):
    """Index passages, then return the top-k ``(passage_id, score)`` per query (see the module docstring)."""

    name: ClassVar[str] = "retriever"
    #: True when a query can find passages in another language (a multilingual dense encoder); lexical
    #: retrievers cannot, so ``mine`` searches cross-lingual rows another way (:mod:`drama_data.mining.crosslingual`)
    cross_lingual: ClassVar[bool] = False

    def __init__(self) -> None:
        self.ids: list[str] = []

    @abc.abstractmethod
    def settings(self) -> dict[str, Any]:
        """Everything that changes the results (written to cards; part of the index cache key)."""

    @abc.abstractmethod
    def index(self, passages: Sequence[Passage], folder: str | Path | None = None) -> None:
        """Build the index over ``passages`` (their ``id`` is what ``search`` returns)."""

    @abc.abstractmethod
    def search(self, queries: Sequence[str], k: int) -> list[list[Hit]]:
        """Top-``k`` hits per query, best first; ``[]`` for a query that matches nothing."""

    def save(self, folder: str | Path) -> bool:
        """Persist the index under ``folder``; return False when this retriever does not save (re-index instead)."""
        return False

    def load(self, folder: str | Path) -> bool:
        """Load an index saved by :meth:`save`; return False when there is nothing usable there."""
        return False

    @property
    def size(self) -> int:
        """Number of indexed passages."""
        return len(self.ids)

    def close(self) -> None:  # noqa: B027  (a no-op by default; retrievers holding files or a JVM override it)
        """Release resources (files, JVM searchers, temp folders)."""

    def describe(self) -> str:
        """One line for logs and the ``retriever`` column, e.g. ``bm25s(k1=0.9, b=0.4, ...)``."""
        inner = ", ".join(f"{k}={v}" for k, v in self.settings().items() if k != "name")
        return f"{self.name}({inner})"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
