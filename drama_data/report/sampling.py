"""The rows a report judges one by one when a dataset is large: a uniform random sample, fixed by a seed.

The report counts every row for its exact figures; the checks that cost memory or time per row (the duplicate
check's per-row index, language detection) judge at most ``SAMPLE_ROWS`` rows. :class:`RowSample` holds the
chosen row numbers (0-based, in the dataset's order) and answers which of a batch's rows are in it.
"""
from __future__ import annotations

import numpy as np

SAMPLE_ROWS = 50_000
SEED = 0


class RowSample:
    """Row numbers ``0 .. rows-1`` to judge: every row when ``rows <= size``, else ``size`` of them drawn uniformly
    without replacement with ``seed``."""

    def __init__(self, rows: int, size: int = SAMPLE_ROWS, seed: int = SEED) -> None:
        self.rows = rows
        self.complete = rows <= size
        if self.complete:
            self.indices = np.arange(rows, dtype=np.int64)
        else:
            self.indices = np.sort(np.random.default_rng(seed).choice(rows, size=size, replace=False)).astype(np.int64)
        self.size = len(self.indices)

    def in_range(self, start: int, stop: int) -> np.ndarray:
        """The sampled row numbers in ``[start, stop)``, ascending."""
        a, b = np.searchsorted(self.indices, [start, stop])
        return self.indices[a:b]

    @property
    def last(self) -> int:
        """The last sampled row number (-1 when there is none)."""
        return int(self.indices[-1]) if self.size else -1

    def describe(self) -> dict:
        """``{"rows", "of", "complete", "seed"}`` for the report."""
        return {"rows": self.size, "of": self.rows, "complete": self.complete, "seed": None if self.complete else SEED}
