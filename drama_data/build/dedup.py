"""Exact and near-duplicate query removal (first occurrence kept), fast enough for millions of queries.

:class:`Deduplicator` is fed queries in order with :meth:`Deduplicator.check` ``(key, text) -> (None | (kind,
kept_key, similarity))``: ``None`` keeps the query (it becomes a representative), otherwise it names the
kept query it duplicates. Two passes in one:

- exact: the :func:`~drama_data.build.filters.normalise_query` form equals a kept query's;
- near: Jaccard similarity of the character ``ngram`` shingle sets (of the normalised text, spaces included)
  >= ``threshold``. Candidates come from MinHash LSH over 128 hash functions, with the bands x rows split
  chosen for the threshold (:func:`lsh_params`; for 0.8: 18 bands of 7 rows, so a pair with Jaccard 0.8
  becomes a candidate with probability 0.986, 0.9 -> 0.99999, 0.5 -> 0.14, 0.3 -> 0.004), and every
  candidate is verified with the exact Jaccard, so nothing under the threshold is ever removed. Memory: the
  normalised text and one bucket entry per band per kept query (several KB a query: meant for the rows a build
  holds anyway). A query is compared only with kept queries, so chains (a~b, b~c, a!~c) do not remove c. Hashes
  are CRC32 based: the result is deterministic.

For many texts at once, :func:`signatures` computes the same MinHash signatures vectorised and :func:`band_keys`
turns them into one 64-bit key per LSH band (the report's bounded duplicate check,
:mod:`drama_data.report.duplicates`, keeps sorted arrays of these keys instead of per-query buckets).
"""
from __future__ import annotations

import itertools
import zlib

import numpy as np

from drama_data.build.filters import normalise_query

_PRIME = (1 << 31) - 1  # Mersenne prime; (a * h + b) stays below 2**63
NUM_PERM = 128


def lsh_params(threshold: float, num_perm: int = NUM_PERM, recall: float = 0.95) -> tuple[int, int]:
    """``(bands, rows)`` with the most rows per band (fewest false candidates) such that a pair at exactly
    the ``threshold`` becomes a candidate with probability >= ``recall`` (higher similarity: more)."""
    best = (num_perm, 1)
    for rows in range(1, num_perm + 1):
        bands = num_perm // rows
        if 1.0 - (1.0 - threshold ** rows) ** bands >= recall:
            best = (bands, rows)
    return best


def shingles(text: str, n: int) -> set[int]:
    """CRC32 hashes of the UTF-8 bytes of the character ``n``-grams of ``text`` (the whole text when shorter than
    ``n``)."""
    if len(text) <= n:
        return {zlib.crc32(text.encode("utf-8"))} if text else set()
    if text.isascii():  # one byte per character: slice the bytes once encoded (the same hashes, faster)
        data, crc = text.encode("ascii"), zlib.crc32
        return {crc(data[i:i + n]) for i in range(len(data) - n + 1)}
    return {zlib.crc32(text[i:i + n].encode("utf-8")) for i in range(len(text) - n + 1)}


def permutations(seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The ``(a, b)`` coefficients of the ``NUM_PERM`` hash functions ``(a * h + b) mod p`` for ``seed``."""
    rng = np.random.default_rng(seed)
    a = rng.integers(1, _PRIME, size=NUM_PERM, dtype=np.int64)
    b = rng.integers(0, _PRIME, size=NUM_PERM, dtype=np.int64)
    return a, b


def signatures(shingle_sets: list[set[int]], a: np.ndarray, b: np.ndarray, chunk: int = 64) -> np.ndarray:
    """``(len(shingle_sets), len(a))`` MinHash signatures of non-empty shingle sets under the hash functions
    ``(a, b)`` (:func:`permutations`, or a prefix of them), equal to :class:`Deduplicator`'s one at a time, computed
    ``chunk`` sets per numpy call (temporary memory: about ``len(a) * 8`` bytes per shingle of a chunk)."""
    out = np.empty((len(shingle_sets), len(a)), dtype=np.int64)
    for start in range(0, len(shingle_sets), chunk):
        part = shingle_sets[start:start + chunk]
        sizes = np.fromiter(map(len, part), dtype=np.int64, count=len(part))
        if (sizes == 0).any():
            raise ValueError("signatures: empty shingle set")
        h = np.fromiter(itertools.chain.from_iterable(part), dtype=np.int64, count=int(sizes.sum())) % _PRIME
        values = np.multiply(a[:, None], h[None, :])
        values += b[:, None]
        values %= _PRIME
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
        out[start:start + len(part)] = np.minimum.reduceat(values, starts, axis=1).T
    return out


_BAND_MIX = np.random.default_rng(20251207).integers(1, 1 << 62, size=NUM_PERM, dtype=np.int64).astype(np.uint64) | 1
_BAND_SALT = np.uint64(0x9E3779B97F4A7C15)


def band_keys(sigs: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """``(n, bands)`` uint64 keys: band ``i`` of a signature (its values ``i*rows .. (i+1)*rows-1``) hashed with
    fixed odd multipliers, salted with ``i``; two signatures share a key when they agree on that band (and, with
    probability about 2**-64, by chance)."""
    n = sigs.shape[0]
    with np.errstate(over="ignore"):
        parts = sigs[:, :bands * rows].astype(np.uint64).reshape(n, bands, rows) * _BAND_MIX[:rows]
        keys = parts.sum(axis=2, dtype=np.uint64)
        keys ^= np.arange(1, bands + 1, dtype=np.uint64) * _BAND_SALT
    return keys


def jaccard(a: set, b: set) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


class Deduplicator:
    """Streamed exact + near duplicate detection (see the module docstring)."""

    def __init__(self, *, exact: bool = True, threshold: float | None = 0.8, ngram: int = 3, seed: int = 1) -> None:
        self.exact = exact
        self.threshold = threshold
        self.ngram = ngram
        self._a, self._b = permutations(seed)
        self._bands, self._rows = lsh_params(threshold) if threshold is not None else (0, 0)
        self._exact: dict[str, str] = {}
        self._buckets: dict[tuple[int, bytes], list[int]] = {}
        self._kept: list[tuple[str, str]] = []  # (key, normalised text); shingles recomputed on verification

    def _signature(self, sh: set[int]) -> np.ndarray:
        h = np.fromiter(sh, dtype=np.int64, count=len(sh)) % _PRIME
        return ((self._a[:, None] * h[None, :] + self._b[:, None]) % _PRIME).min(axis=1)

    def find(self, text: str) -> tuple[str, str, float] | None:
        """Like :meth:`check` but never remembers ``text``: ``(kind, kept_key, similarity)`` or ``None``."""
        return self.check(None, text)

    def check(self, key: str | None, text: str) -> tuple[str, str, float] | None:
        """``None`` if ``text`` is new (and remember it under ``key``; ``key=None`` remembers nothing), else
        ``(kind, kept_key, similarity)``."""
        norm = normalise_query(text)
        if self.exact and norm in self._exact:
            return ("duplicate", self._exact[norm], 1.0)
        bands: list[tuple[int, bytes]] = []
        sh: set[int] = set()
        if self.threshold is not None and norm:
            sh = shingles(norm, self.ngram)
            sig = self._signature(sh)
            bands = [(b, sig[b * self._rows:(b + 1) * self._rows].tobytes()) for b in range(self._bands)]
            seen: set[int] = set()
            best: tuple[float, int] | None = None
            for band in bands:
                for idx in self._buckets.get(band, ()):
                    if idx in seen:
                        continue
                    seen.add(idx)
                    sim = jaccard(sh, shingles(self._kept[idx][1], self.ngram))
                    if sim >= self.threshold and (best is None or sim > best[0] or (sim == best[0] and idx < best[1])):
                        best = (sim, idx)
            if best is not None:
                return ("near_duplicate", self._kept[best[1]][0], round(best[0], 4))
        if key is None:
            return None
        if self.exact:
            self._exact[norm] = key
        if self.threshold is not None and norm:
            idx = len(self._kept)
            self._kept.append((key, norm))
            for band in bands:
                self._buckets.setdefault(band, []).append(idx)
        return None
