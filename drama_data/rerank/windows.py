"""Sliding windows over a candidate list, back to front, as RankGPT does (window 20, stride 10 by default).

``window_spans(n, window, stride)`` lists the ``(start, end)`` slices in the order they are ranked: the
last window first, then moving up by ``stride``, the final one starting at 0, so the best passages can
bubble from the bottom of the list to the top in one sweep. ``apply_window`` reorders one slice.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

T = TypeVar("T")


def window_spans(n: int, window: int = 20, stride: int = 10) -> list[tuple[int, int]]:
    """Slices covering ``n`` items; one slice ``(0, n)`` if the list fits in one window."""
    if window < 2:
        raise ValueError(f"--window must be at least 2, got {window}")
    if not 1 <= stride <= window:
        raise ValueError(f"--stride must be between 1 and --window ({window}), got {stride}")
    if n <= window:
        return [(0, n)] if n > 0 else []
    spans, end = [], n
    while True:
        start = max(0, end - window)
        spans.append((start, end))
        if start == 0:
            return spans
        end -= stride


def apply_window(items: Sequence[T], span: tuple[int, int], order: Sequence[int]) -> list[T]:
    """``items`` with the slice ``span`` reordered by ``order`` (0-based positions within the slice)."""
    start, end = span
    if sorted(order) != list(range(end - start)):
        raise ValueError(f"order {list(order)} is not a permutation of the window {span}")
    window = list(items[start:end])
    return list(items[:start]) + [window[i] for i in order] + list(items[end:])


def kendall_tau(a: Sequence[T], b: Sequence[T]) -> float:
    """Kendall's tau between two orderings of the same items (1.0 identical, -1.0 reversed)."""
    if set(a) != set(b) or len(a) != len(b):
        raise ValueError("kendall_tau needs two orderings of the same items")
    n = len(a)
    if n < 2:
        return 1.0
    pos = {item: i for i, item in enumerate(b)}
    ranks = [pos[item] for item in a]
    concordant = discordant = 0
    for i in range(n):
        for j in range(i + 1, n):
            if ranks[i] < ranks[j]:
                concordant += 1
            else:
                discordant += 1
    return (concordant - discordant) / (n * (n - 1) / 2)
