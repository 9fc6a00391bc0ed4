"""Length-bucketed batches: short and long training rows in one run, each batch from one length bucket.

BGE-M3 (Chen et al. 2024, "M3-Embedding", section 3.4: "batches by length") groups training rows by length so
that a batch of long documents is not padded alongside short ones and can use a smaller batch size. DRAMA
(Ma et al. 2025) trains at 256 tokens and names this as the way to add long-context rows.

In: ``length_buckets``, a list of ``(max_len, batch_size)`` pairs with increasing ``max_len`` (CLI
``--length-buckets 256:32,1024:8,4096:2``, recipe ``length_buckets: "256:32,1024:8"`` or ``[[256, 32], [1024, 8]]``;
unquoted ``256:32`` is a base-60 number to YAML 1.1, which is one error naming it),
the training datasets and the encoder's tokenizer.
Out: :class:`BucketedGroupStream`, which yields ``(groups, bucket)`` per step: every batch holds the rows of ONE
bucket (in-batch negatives stay within it) and has that bucket's batch size; its passages (positive and
negatives) are tokenized at the bucket's ``max_len`` and padded to the batch's longest (``tokenize_groups``).

Assignment: a row goes to the first bucket whose ``max_len`` holds its longest positive passage (document
prefix and special tokens counted, as the encoder tokenizes it); a row longer than the last ``max_len`` goes to
the last bucket, truncated there, and is counted (``truncated_rows`` in the summary). Lengths are tokenized once
per row at start-up, cut at the last ``max_len + 1`` tokens (enough to know the bucket).

Order: step ``s`` picks its bucket from ``(seed, s)`` with probability proportional to the bucket's number of
batches per epoch (rows / batch size), so every bucket is used up at the same pace and the batch order is
shuffled by the seed; within the bucket datasets are mixed by weight and each ``(dataset, bucket)`` serves its
rows in a per-epoch shuffled order. The choice depends only on ``(seed, step)`` and the data, so under
``torchrun`` every rank takes the same bucket at the same step (their slices have equal shapes, as cross-device
negatives need), and a resumed run continues the same sequence.
"""
from __future__ import annotations

import logging

import numpy as np

from drama_models.beir import join_title
from drama_models.training.config import parse_length_buckets  # noqa: F401  (re-exported)
from drama_models.training.data import Group, GroupStream

logger = logging.getLogger(__name__)


def bucket_of(lengths: np.ndarray, max_lens: list[int]) -> np.ndarray:
    """Bucket index per length: the first bucket whose max_len holds it; longer than the last -> the last."""
    idx = np.searchsorted(np.asarray(max_lens), np.asarray(lengths), side="left")
    return np.minimum(idx, len(max_lens) - 1)


def positive_lengths(encoder, ds, cap: int, batch: int = 512) -> np.ndarray:
    """Token length per row of ``ds`` of its longest positive passage (document prefix + title/text, specials
    included), cut at ``cap`` tokens (a value of ``cap`` means "at least ``cap``")."""
    tok = encoder.tokenizer
    out = np.zeros(len(ds), dtype=np.int64)
    for start in range(0, len(ds), batch):
        rows = ds[start:start + batch]["positive_passages"]
        texts, owner = [], []
        for i, passages in enumerate(rows):
            for p in passages or []:
                texts.append(encoder.document_prefix + join_title(p.get("title") or "", p.get("text") or ""))
                owner.append(start + i)
        if not texts:
            continue
        ids = tok(texts, truncation=True, max_length=cap, return_attention_mask=False,
                  return_token_type_ids=False)["input_ids"]
        np.maximum.at(out, np.asarray(owner), np.asarray([len(x) for x in ids]))
    return out


class BucketedGroupStream(GroupStream):
    """:class:`GroupStream` whose every batch comes from one length bucket (see the module docstring).

    ``lengths[d][i]``: token length of row ``i`` of dataset ``d``'s longest positive (see :func:`positive_lengths`).
    """

    def __init__(self, datasets: list, weights: list[float], names: list[str], group_size: int, seed: int,
                 buckets: list[list[int]], lengths: list[np.ndarray]):
        super().__init__(datasets, weights, names, group_size, seed)
        if len(lengths) != len(datasets) or any(len(n) != len(ds) for n, ds in zip(lengths, datasets)):
            raise ValueError("one length per training row is needed for length_buckets")
        self.buckets = [[int(m), int(b)] for m, b in buckets]
        max_lens = [m for m, _ in self.buckets]
        self.weights = np.asarray(weights, dtype=np.float64)
        # rows[d][b]: the row numbers of dataset d in bucket b
        self.rows: list[list[np.ndarray]] = []
        self.truncated = [0] * len(self.buckets)
        for n in lengths:
            which = bucket_of(n, max_lens)
            self.rows.append([np.flatnonzero(which == b) for b in range(len(self.buckets))])
            self.truncated[-1] += int((np.asarray(n) > max_lens[-1]).sum())
        self.bucket_rows = [sum(len(r[b]) for r in self.rows) for b in range(len(self.buckets))]
        batches = np.asarray([n / bs for n, (_, bs) in zip(self.bucket_rows, self.buckets)], dtype=np.float64)
        self.bucket_probs = batches / batches.sum()
        self.bucket_served = [[0] * len(self.buckets) for _ in datasets]  # rows drawn per (dataset, bucket)
        self.bucket_steps = [0] * len(self.buckets)  # steps taken per bucket

    @classmethod
    def from_specs_bucketed(cls, specs, group_size: int, seed: int, buckets: list[list[int]], encoder):
        """Open ``specs`` (:func:`~drama_models.training.data.load_rows`) and measure every row once."""
        from drama_models.training.data import load_rows

        data = [load_rows(s) for s in specs]
        cap = buckets[-1][0] + 1
        lengths = [positive_lengths(encoder, ds, cap) for ds in data]
        return cls(data, [s.weight for s in specs], [s.path for s in specs], group_size, seed, buckets, lengths)

    # ------------------------------------------------------------------ state

    def state_dict(self) -> dict:
        return {**super().state_dict(), "buckets": self.buckets, "bucket_served": [list(s) for s in self.bucket_served],
                "bucket_steps": list(self.bucket_steps)}

    def load_state_dict(self, state: dict) -> None:
        if state.get("buckets") != self.buckets:
            raise ValueError(f"the checkpoint's data state was made with length_buckets {state.get('buckets')}, not "
                             f"{self.buckets}; resume with the same buckets")
        super().load_state_dict(state)
        self.bucket_served = [[int(v) for v in s] for s in state["bucket_served"]]
        self.bucket_steps = [int(v) for v in state["bucket_steps"]]

    def summary(self) -> list[dict[str, int]]:
        """Per bucket: ``max_len``, ``batch_size``, ``rows`` (in the data), ``truncated_rows`` (longer than its
        max_len: only the last bucket has any) and ``steps`` taken so far."""
        return [{"max_len": m, "batch_size": b, "rows": self.bucket_rows[i], "truncated_rows": self.truncated[i],
                 "steps": self.bucket_steps[i]} for i, (m, b) in enumerate(self.buckets)]

    # ------------------------------------------------------------------ sampling

    def _bucket_order(self, d: int, b: int, epoch: int) -> np.ndarray:
        key = (d, b, epoch)
        if key not in self._perm_cache:
            if len(self._perm_cache) > 4 * len(self.datasets) * len(self.buckets):
                self._perm_cache.clear()
            rng = np.random.default_rng([self.seed, d, b, epoch, 7])
            self._perm_cache[key] = self.rows[d][b][rng.permutation(len(self.rows[d][b]))]
        return self._perm_cache[key]

    def next_bucket(self) -> int:
        """The bucket of the current step (from ``(seed, step)`` only: the same on every rank)."""
        rng = np.random.default_rng([self.seed, 2_000_003, self.step])
        return int(rng.choice(len(self.buckets), p=self.bucket_probs))

    def next_batch(self, batch_size: int | None = None, rank: int = 0,
                   world_size: int = 1) -> tuple[list[Group], list[int]]:
        """This rank's slice of the next global batch and its bucket ``[max_len, batch_size]``; ``batch_size`` is
        ignored (the bucket's is used). Advances the state."""
        b = self.next_bucket()
        size = self.buckets[b][1]
        if size % world_size:
            raise ValueError(f"length_buckets: batch size {size} of bucket {self.buckets[b][0]} is not divisible by "
                             f"the number of processes {world_size}")
        present = [d for d in range(len(self.datasets)) if len(self.rows[d][b])]
        w = self.weights[present]
        rng = np.random.default_rng([self.seed, 1_000_003, self.step])
        which = rng.choice(len(present), size=size, p=w / w.sum())
        picks: list[tuple[int, int, int]] = []
        for pos, j in enumerate(which.tolist()):
            d = present[j]
            n = len(self.rows[d][b])
            k = self.bucket_served[d][b]
            picks.append((d, int(self._bucket_order(d, b, k // n)[k % n]), pos))
            self.bucket_served[d][b] += 1
            self.served[d] += 1
        local = size // world_size
        groups = self._groups(picks[rank * local:(rank + 1) * local])
        self.bucket_steps[b] += 1
        self.step += 1
        return groups, self.buckets[b]
