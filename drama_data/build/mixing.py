"""Mix groups of training rows by ratio (DRAMA: English web : multilingual Wikipedia : multilingual web = 2:1:1).

:func:`allocate` ``(available, ratios, total=None) -> counts`` picks how many rows to keep per group: the
largest total ``T`` (at most ``total``) such that every group can supply its share ``T * r_g / sum(r)``, then
integer counts by the largest-remainder method, so counts sum to ``T``, never exceed what a group has, and
each is within 1 of its exact share. :func:`sample` draws that many rows per group with a seeded RNG.
"""
from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence

from drama_data.errors import InputError


def allocate(available: Mapping[str, int], ratios: Mapping[str, float], total: int | None = None) -> dict[str, int]:
    """Rows to keep per group (see the module docstring). Raises ``InputError`` if a group has no rows."""
    empty = [g for g in ratios if available.get(g, 0) == 0]
    if empty:
        raise InputError(f"mix.ratios.{empty[0]}: no rows left in group {empty[0]!r} after filtering, so the ratio "
                         f"cannot hold (rows per group: {dict(available)})")
    rsum = float(sum(ratios.values()))
    cap = min(available[g] * rsum / r for g, r in ratios.items())
    t = math.floor(cap + 1e-9)
    if total is not None:
        t = min(t, total)
    quotas = {g: t * r / rsum for g, r in ratios.items()}
    counts = {g: min(available[g], math.floor(q + 1e-9)) for g, q in quotas.items()}
    rest = t - sum(counts.values())
    order = sorted(ratios, key=lambda g: (-(quotas[g] - counts[g]), list(ratios).index(g)))
    for g in order:
        if rest <= 0:
            break
        if counts[g] < available[g]:
            counts[g] += 1
            rest -= 1
    return counts


def sample(indices_by_group: Mapping[str, Sequence[int]], counts: Mapping[str, int], seed: int) -> dict[str, list[int]]:
    """``counts[g]`` indices drawn without replacement from each group, seeded, returned in their input order."""
    rng = random.Random(seed)
    out = {}
    for g in sorted(counts):
        idx = list(indices_by_group.get(g, []))
        out[g] = sorted(rng.sample(idx, counts[g])) if counts[g] < len(idx) else idx
    return out
