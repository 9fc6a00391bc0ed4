"""Exact and near-duplicate rates of a dataset's queries in bounded memory: every row is compared, a sample of
rows is judged.

Definitions (the tests of build's :class:`~drama_data.build.dedup.Deduplicator`): a row is an **exact**
duplicate when an earlier row's :func:`~drama_data.build.filters.normalise_query` form equals its own; otherwise
a **near** duplicate when an earlier row's character-trigram shingle set has Jaccard similarity >= ``threshold``
(0.8) with its own. Candidates come from MinHash LSH over the first 64 of build's 128 hash functions (10 bands of
6 rows for 0.8: a pair at similarity 0.8 is found with probability 0.95, at 0.9 with 0.999; half the work of
build's 18 x 7) and every candidate is verified with the exact Jaccard. The example pairs
name the first earlier row that matches. (Build compares with the rows it kept; the report with every earlier row:
the two differ only on chains a~b~c with a!~c.)

Judged rows: every row when the dataset has at most :data:`~drama_data.report.sampling.SAMPLE_ROWS` rows (exact
figures), else a uniform random sample of that many (:class:`~drama_data.report.sampling.RowSample`). Each judged
row is compared with *every* earlier row of the dataset, so the rates are unbiased estimates of the full-data rates
(binomial error: at most +-0.44 points at 95% for 50,000 judged rows). A sample of rows each deduplicated only
against the sample would not be: a pair is caught only when both rows are drawn.

Memory holds the judged rows' ids and normalised texts (packed: :class:`PackedStrings`), 10 64-bit band keys per
distinct text (sorted numpy arrays; under 20 MB in all for 50,000 judged rows), a batch of rows, and a fixed table
of recently seen texts' hashes (a repeated text is compared once); it does not grow with the dataset. Use: :meth:`DuplicateCheck.judge` each sampled row as the rows go by
(in order), :meth:`DuplicateCheck.freeze`, then :meth:`DuplicateCheck.scan` every row in order (a batch at a
time; it returns False once past the last judged row), and :meth:`DuplicateCheck.result`.
"""
from __future__ import annotations

from array import array
from collections.abc import Sequence

import numpy as np

from drama_data.build.dedup import band_keys, jaccard, lsh_params, permutations, shingles, signatures
from drama_data.build.filters import normalise_query
from drama_data.report.sampling import RowSample

NEAR_DUP_THRESHOLD = 0.8
SCAN_PERM = 64  # the first 64 of build's 128 hash functions: 10 bands of 6 rows for 0.8 (see module doc)
EXAMPLES = 20
FREEZE_CHUNK = 2048
RECENT_SLOTS = 1 << 17  # a direct-mapped cache of recently compared texts' hashes (1 MB each, raw and normalised)


class PackedStrings:
    """Strings kept as UTF-8 in one ``bytearray`` with an ``array`` of end offsets: a few large buffers instead of
    one small object per string. (Small objects that outlive a batch, allocated among its temporaries, pin the
    interpreter's memory arenas: 50,000 of them kept over a run held about 100 MB that way.)"""

    def __init__(self) -> None:
        self._data = bytearray()
        self._ends = array("q")

    def append(self, text: str) -> int:
        self._data += text.encode("utf-8")
        self._ends.append(len(self._data))
        return len(self._ends) - 1

    def __getitem__(self, i: int) -> str:
        start = self._ends[i - 1] if i else 0
        return self._data[start:self._ends[i]].decode("utf-8")

    def __len__(self) -> int:
        return len(self._ends)


class _RecentTexts:
    """Which texts were compared lately: a direct-mapped table of their hashes (a slot keeps the last text that
    fell in it, so memory is fixed; a forgotten text is compared again, which changes no result)."""

    def __init__(self, slots: int = RECENT_SLOTS) -> None:
        self._table = np.zeros(slots, dtype=np.int64)
        self._used = np.zeros(slots, dtype=bool)
        self._mask = slots - 1

    def new(self, hashes: np.ndarray) -> np.ndarray:
        """A mask of the ``hashes`` not seen lately (then remembers them all)."""
        slots = hashes & self._mask
        fresh = ~self._used[slots] | (self._table[slots] != hashes)
        self._table[slots] = hashes
        self._used[slots] = True
        return fresh


class DuplicateCheck:
    """See the module doc."""

    def __init__(self, sample: RowSample, *, threshold: float = NEAR_DUP_THRESHOLD, ngram: int = 3,
                 seed: int = 1) -> None:
        self.sample = sample
        self.threshold = threshold
        self.ngram = ngram
        a, b = permutations(seed)
        self._a, self._b = a[:SCAN_PERM], b[:SCAN_PERM]
        self._bands, self._band_rows = lsh_params(threshold, SCAN_PERM)
        self._rows = array("q")          # judged rows: row number, hash of the normalised text, text, id
        self._hashes = array("q")
        self._norms = PackedStrings()
        self._ids = PackedStrings()
        self._recent, self._recent_norm = _RecentTexts(), _RecentTexts()
        self._frozen = False

    def judge(self, row: int, qid: str, text: str) -> None:
        """Remember a sampled row (row numbers ascending), before :meth:`freeze`."""
        norm = normalise_query(text)
        self._rows.append(row)
        self._hashes.append(hash(norm))
        self._norms.append(norm)
        self._ids.append(qid)

    def freeze(self) -> None:
        """Build the lookup arrays of the judged texts (exact: their hashes; near: their band keys)."""
        hashes = np.frombuffer(self._hashes, dtype=np.int64) if len(self._hashes) else np.empty(0, np.int64)
        distinct, first, self._text_of = np.unique(hashes, return_index=True, return_inverse=True)
        self._texts = [self._norms[int(i)] for i in first]  # one string per distinct text, made together
        self._norms = None
        n = len(self._texts)
        self._hash_sorted, self._hash_owner = distinct, np.arange(n, dtype=np.int64)
        near = np.asarray([d for d, t in enumerate(self._texts) if t], dtype=np.int64)
        keys = np.empty((len(near), self._bands), dtype=np.uint64)
        for at in range(0, len(near), FREEZE_CHUNK):  # a chunk's shingle sets at a time (a set is ~2 KB)
            sets = [shingles(self._texts[d], self.ngram) for d in near[at:at + FREEZE_CHUNK]]
            keys[at:at + len(sets)] = band_keys(signatures(sets, self._a, self._b), self._bands, self._band_rows)
        flat = keys.reshape(-1)
        order = np.argsort(flat, kind="stable")
        self._keys, self._key_owner = flat[order], np.repeat(near, self._bands)[order]
        self._first_exact = np.full(n, -1, dtype=np.int64)   # first row with the text, and its id
        self._exact_id = np.full(n, -1, dtype=np.int64)
        self._first_near = np.full(n, -1, dtype=np.int64)    # first other row at Jaccard >= threshold
        self._near_id = np.full(n, -1, dtype=np.int64)
        self._near_sim = np.zeros(n, dtype=np.float64)
        self._match_ids = PackedStrings()
        self._frozen = True

    def scan(self, start: int, ids: Sequence[str], texts: Sequence[str]) -> bool:
        """Compare rows ``start, start+1, ...`` (every row, in order) with the judged ones; False once the rows are
        past the last judged row (later rows cannot be earlier than any judged row: the caller may stop)."""
        if not self._frozen:
            self.freeze()
        last = self.sample.last
        if start > last:
            return False
        cut = min(len(texts), last - start + 1)
        raw = np.fromiter(map(hash, texts[:cut]), dtype=np.int64, count=cut)
        keep = np.flatnonzero(self._recent.new(raw))  # an earlier row had this text: compared already, and earlier
        norms = [normalise_query(texts[i]) for i in keep]
        fresh = self._recent_norm.new(np.fromiter(map(hash, norms), dtype=np.int64, count=len(norms)))
        which = np.flatnonzero(fresh)
        norms = [norms[j] for j in which]
        rows = [start + int(keep[j]) for j in which]
        row_ids = [ids[int(keep[j])] for j in which]
        if norms:
            self._exact(norms, rows, row_ids)
            self._near(norms, rows, row_ids)
        return start + len(texts) <= last

    def _exact(self, norms: list[str], rows: list[int], ids: list[str]) -> None:
        if not len(self._hash_sorted):
            return
        hs = np.fromiter(map(hash, norms), dtype=np.int64, count=len(norms))
        pos = np.searchsorted(self._hash_sorted, hs)
        pos[pos >= len(self._hash_sorted)] = 0
        for i in np.flatnonzero(self._hash_sorted[pos] == hs):
            d = int(self._hash_owner[pos[i]])
            if self._first_exact[d] < 0 and self._texts[d] == norms[i]:
                self._first_exact[d] = rows[i]
                self._exact_id[d] = self._match_ids.append(ids[i])

    def _near(self, norms: list[str], rows: list[int], ids: list[str]) -> None:
        if not len(self._keys):
            return
        which = [i for i, t in enumerate(norms) if t]
        if not which:
            return
        sets = [shingles(norms[i], self.ngram) for i in which]
        keys = band_keys(signatures(sets, self._a, self._b), self._bands, self._band_rows).reshape(-1)
        lo = np.searchsorted(self._keys, keys, side="left")
        hi = np.searchsorted(self._keys, keys, side="right")
        hits = np.flatnonzero(hi > lo)
        if not len(hits):
            return
        pairs: set[tuple[int, int]] = set()
        for k in hits:
            j = int(k) // self._bands
            for d in self._key_owner[lo[k]:hi[k]]:
                pairs.add((j, int(d)))
        for j, d in sorted(pairs):
            i, row = which[j], rows[which[j]]
            if self._first_near[d] >= 0 or 0 <= self._first_exact[d] < row or norms[i] == self._texts[d]:
                continue  # found already; or only rows before the text's first occurrence still matter
            sim = jaccard(sets[j], shingles(self._texts[d], self.ngram))
            if sim >= self.threshold:
                self._first_near[d] = row
                self._near_id[d] = self._match_ids.append(ids[i])
                self._near_sim[d] = round(sim, 4)

    def result(self) -> dict:
        """The rates over the judged rows (see module doc), with up to 20 example pairs of each kind."""
        if not self._frozen:
            self.freeze()
        exact = near = 0
        exact_examples: list[dict] = []
        near_examples: list[dict] = []
        for k, (row, d) in enumerate(zip(self._rows, self._text_of)):
            if 0 <= self._first_exact[d] < row:
                exact += 1
                if len(exact_examples) < EXAMPLES:
                    exact_examples.append({"id": self._ids[k], "of": self._match_ids[int(self._exact_id[d])],
                                           "similarity": 1.0})
            elif 0 <= self._first_near[d] < row:
                near += 1
                if len(near_examples) < EXAMPLES:
                    near_examples.append({"id": self._ids[k], "of": self._match_ids[int(self._near_id[d])],
                                          "similarity": float(self._near_sim[d])})
        judged = len(self._rows)
        n = max(judged, 1)
        out = {"exact": exact, "near": near, "exact_rate": round(exact / n, 4), "near_rate": round(near / n, 4),
               "threshold": self.threshold, "exact_examples": exact_examples, "near_examples": near_examples,
               "judged_rows": judged, "sample": self.sample.describe()}
        if not self.sample.complete:
            out["estimated_exact"] = round(exact / n * self.sample.rows)
            out["estimated_near"] = round(near / n * self.sample.rows)
        return out
