"""A compact "have I seen this id?" set for corpora of millions of ids (8 bytes per id instead of a Python dict).

:class:`SeenIds` keeps 64-bit BLAKE2b digests of the ids: recent ones in a small Python set, older ones in sorted
numpy runs that are merged as they grow (so adding n ids costs O(n log n) and 8 bytes each), behind a fixed 16 MB
bit filter that answers most "never seen" cases without a search. ``add`` answers
"maybe seen before": a ``True`` is either a real repeat or, with probability about n^2 / 2^65 (1e-7 for two
million ids), two different ids with the same digest. Callers that report an error confirm a hit exactly (e.g. by
re-reading the source up to that point), so nothing is rejected on a digest collision.
"""
from __future__ import annotations

import hashlib

import numpy as np

BUFFER = 65_536  # ids kept in the Python set before they become a sorted run
FILTER_BITS = 1 << 27  # one bit per digest value modulo this (16 MB): a clear bit means "not seen"


def digest64(text: str) -> int:
    """The 64-bit digest of ``text`` (BLAKE2b, deterministic across runs and machines)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big")


class SeenIds:
    """Ids seen so far, as digests: ``add(id) -> maybe_seen_before``; ``len()`` counts the ids added."""

    def __init__(self) -> None:
        self._recent: set[int] = set()
        self._runs: list[np.ndarray] = []  # sorted uint64 arrays, sizes decreasing
        self._count = 0
        self._bits = bytearray(FILTER_BITS // 8)

    def __len__(self) -> int:
        return self._count

    def __contains__(self, key: str) -> bool:
        return self._has(digest64(key))

    def _has(self, d: int) -> bool:
        if d in self._recent:
            return True
        v = np.uint64(d)
        for run in self._runs:
            i = int(np.searchsorted(run, v))
            if i < len(run) and run[i] == v:
                return True
        return False

    def add(self, key: str) -> bool:
        """Remember ``key``; return True when it (or an id with the same digest) was added before."""
        d = digest64(key)
        b = d & (FILTER_BITS - 1)
        byte, mask = b >> 3, 1 << (b & 7)
        if self._bits[byte] & mask:
            if self._has(d):
                return True
        else:
            self._bits[byte] |= mask
        self._recent.add(d)
        self._count += 1
        if len(self._recent) >= BUFFER:
            self._flush()
        return False

    def _flush(self) -> None:
        run = np.sort(np.fromiter(self._recent, dtype=np.uint64, count=len(self._recent)))
        self._recent = set()
        while self._runs and len(self._runs[-1]) <= 2 * len(run):  # keep sizes decreasing: O(log n) runs
            run = np.sort(np.concatenate([self._runs.pop(), run]), kind="stable")
        self._runs.append(run)
