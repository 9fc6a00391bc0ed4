"""Exact summaries of a numeric column kept as counts of its values, so that memory grows with the number of
distinct values, not with the rows.

A query length takes a few hundred values and a copy rate is a fraction ``k / m`` of a query's n-grams (a few
thousand values), so :class:`ValueCounts` gives the same ``n, mean, median, p5, p95, min, max`` as sorting every
value (:func:`summary`: nearest-rank percentiles; the median of an even count is the mean of the middle two, as
``statistics.median``) while reading the rows once, a batch at a time. :func:`bins` makes the fixed-width
histogram the copy-rate figure draws.
"""
from __future__ import annotations

import collections
from collections.abc import Iterable


def _empty() -> dict[str, float]:
    return {"n": 0, "mean": 0.0, "median": 0.0, "p5": 0.0, "p95": 0.0, "min": 0.0, "max": 0.0}


class ValueCounts:
    """Counts of the values seen (``add`` / ``update``); ``summary()`` and ``histogram()`` from them."""

    def __init__(self) -> None:
        self.counts: collections.Counter = collections.Counter()

    def add(self, value) -> None:
        self.counts[value] += 1

    def update(self, values: Iterable) -> None:
        self.counts.update(values)

    @property
    def n(self) -> int:
        return sum(self.counts.values())

    def at_or_above(self, threshold: float) -> int:
        return sum(c for v, c in self.counts.items() if v >= threshold)

    def summary(self) -> dict[str, float]:
        """``n, mean, median, p5, p95, min, max`` (zeros when empty), exactly as :func:`summary` of the values."""
        n = self.n
        if not n:
            return _empty()
        items = sorted(self.counts.items())

        def nth(k: int):  # the k-th smallest value, 0-based
            seen = 0
            for v, c in items:
                seen += c
                if k < seen:
                    return v
            return items[-1][0]

        def pct(q: float):
            return nth(max(0, min(n - 1, int(-(-q * n // 100)) - 1)))

        median = nth(n // 2) if n % 2 else (nth(n // 2 - 1) + nth(n // 2)) / 2
        mean = sum(v * c for v, c in items) / n
        return {"n": n, "mean": round(mean, 4), "median": median, "p5": pct(5), "p95": pct(95),
                "min": items[0][0], "max": items[-1][0]}

    def histogram(self) -> dict:
        """``{value: rows}``, commonest first (ties by value)."""
        return dict(sorted(self.counts.items(), key=lambda kv: (-kv[1], str(kv[0]))))


def summary(values: Iterable[float]) -> dict[str, float]:
    """``n, mean, median, p5, p95, min, max`` (nearest-rank percentiles) of ``values``; zeros when empty."""
    counts = ValueCounts()
    counts.update(values)
    return counts.summary()


def bins(counts: ValueCounts, width: float = 0.1, low: float = 0.0, high: float = 1.0) -> dict[str, int]:
    """Rows per bin ``[low + i*width, low + (i+1)*width)`` (the last bin includes ``high``), keyed by the bin's
    lower edge (``"0.0"``, ``"0.1"``, ...): the copy-rate figure's bars."""
    n = max(1, round((high - low) / width))
    out = [0] * n
    for v, c in counts.counts.items():
        i = min(n - 1, max(0, int((v - low) / width + 1e-9)))
        out[i] += c
    return {f"{low + i * width:.1f}": c for i, c in enumerate(out)}
