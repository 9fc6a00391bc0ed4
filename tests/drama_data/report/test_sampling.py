"""The rows a report judges: all of a small dataset, a seeded uniform sample of a large one."""
from __future__ import annotations

import numpy as np

from drama_data.report.sampling import RowSample


def test_small_dataset_judges_every_row():
    s = RowSample(7, size=10)
    assert s.complete and s.size == 7 and s.last == 6 and list(s.in_range(2, 5)) == [2, 3, 4]
    assert s.describe() == {"rows": 7, "of": 7, "complete": True, "seed": None}
    assert RowSample(0, size=10).last == -1


def test_large_dataset_sample_is_uniform_sorted_and_seeded():
    s = RowSample(1_000_000, size=5_000)
    assert not s.complete and s.size == 5_000 and len(np.unique(s.indices)) == 5_000
    assert (np.diff(s.indices) > 0).all() and s.describe()["seed"] == 0
    assert (RowSample(1_000_000, size=5_000).indices == s.indices).all()
    # uniform: each tenth of the rows holds about a tenth of the sample
    per_tenth = np.bincount(s.indices // 100_000, minlength=10)
    assert per_tenth.min() > 400 and per_tenth.max() < 600
    got = s.in_range(250_000, 260_000)
    assert ((got >= 250_000) & (got < 260_000)).all()
    assert len(got) == int(((s.indices >= 250_000) & (s.indices < 260_000)).sum())
