"""generate streams the corpus in windows: flat memory, resumable after kill -9, same output as one window."""
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import datasets
import pytest
from fake_backend import FakeBackend, default_answer

from drama_data.datasets.folder import read_table
from drama_data.generate.cache import RequestCache
from drama_data.generate.runner import FAILURE_SCHEMA, CorpusOptions, generate
from drama_data.generate.workdir import work_folder_for
from drama_data.tasks import get_task

SAMPLE = Path(__file__).resolve().parents[3] / "drama_data" / "samples" / "scifact-sample" / "corpus.jsonl"
REPO = Path(__file__).resolve().parents[3]

# The child: the CLI with small shards (so that 20k rows make several), its peak RSS written at exit.
CHILD = """
import atexit, os, resource, sys
import drama_data.datasets.folder as folder
folder.SHARD_ROWS = 3000
atexit.register(lambda: open(os.environ["RSS_FILE"], "w").write(
    str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)))
from drama_data.cli import main
sys.argv = ["drama-data", *sys.argv[1:]]
main()
"""


def make_corpus(path: Path, passages: int) -> Path:
    """The SciFact sample repeated with new ids (``<id>-r<k>``) up to ``passages`` documents (one passage each)."""
    lines = [json.loads(x) for x in SAMPLE.read_text(encoding="utf-8").splitlines() if x.strip()]
    with open(path, "w", encoding="utf-8") as out:
        for i in range(passages):
            rec = dict(lines[i % len(lines)])
            rec["_id"] = f"{rec['_id']}-r{i // len(lines)}"
            out.write(json.dumps(rec) + "\n")
    return path


def crop(tmp_path: Path, corpus: Path, out: Path, rss: Path, window: int = 1000) -> subprocess.Popen:
    (tmp_path / "child.py").write_text(CHILD)
    env = {**os.environ, "RSS_FILE": str(rss), "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, str(tmp_path / "child.py"), "generate", "--task", "crop", "--language", "en",
           "--corpus", str(corpus), "--output", str(out), "--window-passages", str(window), "--no-report",
           "--no-progress"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(p: subprocess.Popen) -> str:
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err[-3000:]
    return err


def folder_digest(folder: Path) -> dict:
    """Every file's hash, with the run's date and duration taken out."""
    out = {}
    for f in sorted(folder.rglob("*")):
        if f.is_file():
            b = f.read_bytes()
            if f.name in ("README.md", "provenance.json"):
                b = re.sub(rb'"date": "[^"]*"|- date: \S+|"seconds": [0-9.]+', b"", b)
            out[str(f.relative_to(folder))] = hashlib.sha256(b).hexdigest()
    return out


@pytest.mark.slow  # four CLI runs over 4k-24k passages: about 60 s of CPU
def test_crop_memory_is_flat_and_a_killed_run_resumes_to_the_same_folder(tmp_path):
    small = make_corpus(tmp_path / "small.jsonl", 4000)
    big = make_corpus(tmp_path / "big.jsonl", 24000)
    finish(crop(tmp_path, small, tmp_path / "small", tmp_path / "small.rss"))
    finish(crop(tmp_path, big, tmp_path / "full", tmp_path / "full.rss"))
    small_kb, big_kb = (int((tmp_path / f"{n}.rss").read_text()) for n in ("small", "full"))
    # 6x the passages: the peak grows by the id filter's pages and little else (all rows in memory: ~90 MB more)
    assert big_kb - small_kb < 40_000, (small_kb, big_kb)
    ds = datasets.load_dataset(str(tmp_path / "full"), split="train")
    assert ds.num_rows > 20_000 and len(list((tmp_path / "full" / "data" / "queries").glob("*.parquet"))) > 5
    assert not work_folder_for(tmp_path / "full").exists()  # removed once the folder is written

    out = tmp_path / "resumed"
    work = work_folder_for(out)
    p = crop(tmp_path, big, out, tmp_path / "killed.rss")
    deadline = time.time() + 120
    while time.time() < deadline and p.poll() is None:
        try:
            done = json.loads((work / "progress.json").read_text())["windows"]
        except (OSError, ValueError, KeyError):
            done = {}
        if len(done) >= 3:
            break
        time.sleep(0.05)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert not out.exists() and len(list((work / "queries").glob("part-*.parquet"))) >= 3
    err = finish(crop(tmp_path, big, out, tmp_path / "rerun.rss"))
    assert re.search(r"resuming: ([3-9]|\d\d+) finished windows", err), err[-2000:]
    assert folder_digest(out) == folder_digest(tmp_path / "full")
    assert not work.exists()


def flaky(request) -> str:
    """Unparseable on the first two attempts for about a third of the slots, so retries cross windows."""
    h = int(hashlib.sha256(request.content().encode()).hexdigest()[:6], 16)
    if h % 3 == 0 and not request.id.endswith("@2"):
        return "no idea"
    return default_answer(request)


def run_queries(tmp_path, out, window, backend=None, cache=None):
    task = get_task("queries", queries_per_doc=2, max_attempts=3)
    return generate(task, CorpusOptions(str(SAMPLE)), out, backend=backend or FakeBackend(answer=flaky),
                    cache=cache, progress=False, echo=None, window=window)


def test_llm_task_in_windows_equals_one_window(tmp_path):
    one = run_queries(tmp_path, tmp_path / "one", 10**6)
    many = run_queries(tmp_path, tmp_path / "many", 7)
    assert one.rows == many.rows and one.failures == many.failures and sum(one.failures.values()) > 10
    for config in ("queries", "failures"):
        assert read_table(tmp_path / "many", config, FAILURE_SCHEMA).equals(
            read_table(tmp_path / "one", config, FAILURE_SCHEMA))
    assert folder_digest(tmp_path / "many") == folder_digest(tmp_path / "one")


def test_interrupted_llm_run_reuses_its_finished_windows(tmp_path):
    run_queries(tmp_path, tmp_path / "ref", 7)
    cache = RequestCache(tmp_path / "c.sqlite")
    try:
        run_queries(tmp_path, tmp_path / "out", 7, backend=FakeBackend(answer=flaky, interrupt_after=40), cache=cache)
    except KeyboardInterrupt:
        pass
    else:
        raise AssertionError("the fake backend should have interrupted the run")
    record = json.loads((work_folder_for(tmp_path / "out") / "progress.json").read_text())
    assert len(record["windows"]) >= 1
    again = FakeBackend(answer=flaky)
    summary = run_queries(tmp_path, tmp_path / "out", 7, backend=again, cache=cache)
    assert summary.stats.cached >= 40 and again.generated > 0
    data = lambda d: {k: v for k, v in folder_digest(d).items() if k.startswith("data/")}  # noqa: E731
    assert data(tmp_path / "out") == data(tmp_path / "ref")  # the card's request counts say what was cached
