"""The default quality report in bounded memory (issue 26, item 5: it held every query and a MinHash index over all
rows, so a multi-million-row run's last step grew without bound)."""
from __future__ import annotations

import json
import random
import subprocess
import sys

import pyarrow as pa
import pytest

from drama_data.datasets.folder import write_dataset

MEASURE = """
import json, resource, sys
import drama_data.report.sampling as sampling
sampling.SAMPLE_ROWS = 2_000
from drama_data.report.render import report_folder
from drama_data.tasks.crosslingual import detect_language
detect_language("load the model before measuring")
import matplotlib.pyplot
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
before = rss()
s = report_folder(sys.argv[1])
print(json.dumps({"rows": s["rows"], "grew": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before,
                  "judged": s["duplicates"]["judged_rows"]}))
"""


def write_distinct_queries(folder, rows: int):
    """``rows`` distinct queries (no two alike: the case that grew an index with every row), 2 per passage."""
    rng = random.Random(rows)
    vocab = ["".join(rng.choice("etaoinshrdlucmfw") for _ in range(rng.randint(3, 8))) for _ in range(5_000)]
    passages = [" ".join(rng.choice(vocab) for _ in range(40)) for _ in range(rows // 2 + 1)]
    queries = [" ".join(rng.choice(vocab) for _ in range(rng.randint(3, 6))) + f" {i}" for i in range(rows)]
    table = pa.table({"query_id": [f"p{i // 2}/q{i % 2}" for i in range(rows)], "query": queries,
                      "passage_id": [f"p{i // 2}" for i in range(rows)],
                      "text": [passages[i // 2] for i in range(rows)], "language": ["en"] * rows})
    write_dataset(folder, {"queries": table}, default="queries", card_body="# q\n\n## Licence\n")
    return folder


def measure(folder) -> dict:
    res = subprocess.run([sys.executable, "-c", MEASURE, str(folder)], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_report_memory_does_not_grow_with_the_rows(tmp_path):
    small = measure(write_distinct_queries(tmp_path / "small", 6_000))
    large = measure(write_distinct_queries(tmp_path / "large", 36_000))
    assert (small["rows"], large["rows"]) == (6_000, 36_000) and small["judged"] == large["judged"] == 2_000
    # before: about 5 KB more per distinct query (the whole LSH index, every query in lists): +245 MB from 8k to 48k
    # rows; now the judged sample is the same and the rest is read a row group at a time (+8 to 10 MB measured on
    # one VM, +22 MB on the AMX VM and +30 MB once in a fresh clone there: allocator noise, far below the bug)
    assert large["grew"] - small["grew"] < 60, (small, large)
