"""Exact summaries from value counts equal those from sorting every value (the report streams its rows)."""
from __future__ import annotations

import random
import statistics

from drama_data.report.counts import ValueCounts, bins, summary


def sorted_summary(values):
    """The report's definition, on the sorted values (as it was computed before it streamed)."""
    s = sorted(values)

    def pct(q):
        return s[max(0, min(len(s) - 1, int(-(-q * len(s) // 100)) - 1))]

    return {"n": len(s), "mean": round(statistics.fmean(s), 4), "median": statistics.median(s), "p5": pct(5),
            "p95": pct(95), "min": s[0], "max": s[-1]}


def test_summary_equals_sorting_every_value():
    rng = random.Random(3)
    for n in (1, 2, 3, 10, 101, 1000):
        ints = [rng.randint(1, 40) for _ in range(n)]
        assert summary(ints) == sorted_summary(ints)
        fractions = [rng.randint(0, 7) / 7 for _ in range(n)]
        got, want = summary(fractions), sorted_summary(fractions)
        assert {k: v for k, v in got.items() if k != "mean"} == {k: v for k, v in want.items() if k != "mean"}
        assert abs(got["mean"] - want["mean"]) <= 1e-4


def test_summary_percentiles_and_empty():
    assert summary([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) == {"n": 10, "mean": 5.5, "median": 5.5, "p5": 1, "p95": 10,
                                                         "min": 1, "max": 10}
    assert summary([]) == {"n": 0, "mean": 0.0, "median": 0.0, "p5": 0.0, "p95": 0.0, "min": 0.0, "max": 0.0}


def test_counts_hold_distinct_values_only_and_bin():
    c = ValueCounts()
    c.update([0.0, 0.05, 0.1, 0.5, 0.5, 0.8, 0.99, 1.0] * 10_000)
    assert len(c.counts) == 7 and c.n == 80_000 and c.at_or_above(0.8) == 30_000
    assert bins(c) == {"0.0": 20_000, "0.1": 10_000, "0.2": 0, "0.3": 0, "0.4": 0, "0.5": 20_000, "0.6": 0,
                       "0.7": 0, "0.8": 10_000, "0.9": 20_000}
    assert c.histogram() == {0.5: 20_000, 0.0: 10_000, 0.05: 10_000, 0.1: 10_000, 0.8: 10_000, 0.99: 10_000,
                             1.0: 10_000}
