"""Throughput of ``drama-data generate --backend vllm`` against a plain ``vllm.LLM.generate`` call.

Same model and engine settings (embedded Gemma-3-270M through vLLM), same 200 scifact passages, same prompts
and per-request sampling settings (temperature 0.8, top_p 0.9, seeds, stop strings, ``--max-tokens`` new
tokens), one warm-up request and a prefix-cache reset before each timed run. The plain engine is vLLM as
users start it (with its tokenizer, text prompts); ours runs without its tokenizer (prompts encoded and
completions decoded by the backend). Ours is timed end to end through the Python API: corpus read and
chunking, prompt rendering and encoding, request cache writes, parsing, and writing the dataset folder. The
plain call gets the prompts ready-made.

Then the resume check: a CLI run in a fresh cache is killed (SIGKILL) once ~90% of its requests are in the
cache, rerun, and the rerun's wall time is divided by an uninterrupted CLI run's (both include start-up).

Last line: ``generate_overhead: <ratio> (goal: >= 0.97)``.
"""
from __future__ import annotations

import argparse
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def count_cached(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=1) as con:
            return con.execute("SELECT COUNT(*) FROM completions").fetchone()[0]
    except sqlite3.Error:
        return 0


def cli_run(args, cache_dir: Path, kill_at: int | None = None) -> float:
    cmd = [sys.executable, "-m", "drama_data.cli.__main__", "generate", *args, "--cache-dir", str(cache_dir),
           "--no-progress", "--overwrite"]
    t0 = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if kill_at is None:
        proc.wait()
        if proc.returncode:
            raise SystemExit(f"CLI run failed ({proc.returncode}): {' '.join(cmd)}")
        return time.time() - t0
    while proc.poll() is None and count_cached(cache_dir / "requests.sqlite") < kill_at:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return time.time() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--collection", default="scifact")
    ap.add_argument("-n", "--passages", type=int, default=200)
    ap.add_argument("--max-model-len", type=int, default=2048)
    ap.add_argument("--max-tokens", type=int, default=256, help="new tokens per query (paper: 256)")
    ap.add_argument("--skip-resume", action="store_true")
    ap.add_argument("--resume-only", action="store_true", help="only the kill-and-rerun check")
    a = ap.parse_args()
    corpus = str(Path(a.data_root) / a.collection)

    if a.resume_only:
        resume_check(a, corpus)
        return
    from vllm import LLM, SamplingParams

    from drama_data.backends import make_backend
    from drama_data.backends.base import Sampling
    from drama_data.backends.vllm import _scoped_env
    from drama_data.chunking import load_passages
    from drama_data.generate.cache import RequestCache
    from drama_data.generate.runner import CorpusOptions, generate, select_passages
    from drama_data.tasks import get_task

    backend = make_backend("vllm", None, max_model_len=a.max_model_len)
    task = get_task("queries", max_attempts=1, sampling=Sampling(temperature=0.8, top_p=0.9, max_tokens=a.max_tokens))
    task.use_form("chat" if backend.supports_chat() else "completion")
    passages = select_passages(load_passages(corpus)[0], limit=a.passages)
    reqs = [task.request(p, s, 0) for p in passages for s in task.slots(p)]

    # plain vLLM as users call it: the engine with its own tokenizer, text prompts, stop strings
    with _scoped_env(backend.engine_env()):
        llm = LLM(**{**backend.engine_kwargs, "skip_tokenizer_init": False})
    params = [SamplingParams(temperature=r.sampling.temperature, top_p=r.sampling.top_p,
                             max_tokens=r.sampling.max_tokens, stop=list(r.sampling.stop), seed=r.sampling.seed)
              for r in reqs]
    chat = reqs[0].prompt is None

    def plain_generate(rs, ps):
        if chat:
            return llm.chat([list(r.messages) for r in rs], ps, use_tqdm=False)
        return llm.generate([r.prompt for r in rs], ps, use_tqdm=False)

    plain_generate(reqs[:1], params[:1])  # warm-up
    llm.reset_prefix_cache()
    t0 = time.time()
    outs = plain_generate(reqs, params)
    plain_s = time.time() - t0
    plain_tokens = sum(len(o.outputs[0].token_ids) for o in outs)
    llm.llm_engine.engine_core.shutdown()  # one engine at a time: they share vLLM's parallel state
    llm = None  # free the engine before the next one

    backend.start()
    list(backend.generate(reqs[:1]))  # warm-up
    backend.start().reset_prefix_cache()
    with tempfile.TemporaryDirectory() as tmp:
        cache = RequestCache(Path(tmp) / "requests.sqlite")
        t0 = time.time()
        summary = generate(task, CorpusOptions(corpus), Path(tmp) / "out", backend=backend, cache=cache,
                           limit=a.passages, progress=False, echo=None)
        ours_s = time.time() - t0
    backend.close()
    ours_tokens = summary.stats.completion_tokens
    print(f"requests: {len(reqs)}; completion tokens: plain {plain_tokens}, ours {ours_tokens}")
    print(f"plain vllm.LLM.{'chat' if chat else 'generate'}: {plain_s:.1f} s ({len(reqs) / plain_s:.2f} req/s, "
          f"{plain_tokens / plain_s:.0f} tok/s)")
    print(f"drama-data generate:     {ours_s:.1f} s ({len(reqs) / ours_s:.2f} req/s, {ours_tokens / ours_s:.0f} tok/s)"
          f"; rows {summary.rows}, parse failures {summary.failed_slots}")
    ratio = (len(reqs) / ours_s) / (len(reqs) / plain_s)

    if not a.skip_resume:
        resume_check(a, corpus)
    print(f"generate_overhead: {ratio:.3f} (goal: >= 0.97)")


def resume_check(a, corpus: str) -> None:
    """Full CLI run; CLI run killed at ~90% of requests cached, then rerun; prints the rerun/full ratio.

    Also a one-passage CLI run, to show how much of each run is fixed start-up (process, vLLM import, engine,
    tokenizer, shutdown) that any rerun pays, and the ratio of what is left."""
    n = a.passages  # one query per passage
    args = ["--task", "queries", "--backend", "vllm", "--corpus", corpus,
            "--max-attempts", "1", "--max-model-len", str(a.max_model_len), "--max-tokens", str(a.max_tokens)]
    with tempfile.TemporaryDirectory() as tmp:
        fixed = cli_run(args + ["--limit", "1", "--output", f"{tmp}/one"], Path(tmp) / "c0")
        args += ["--limit", str(n)]
        full = cli_run(args + ["--output", f"{tmp}/full"], Path(tmp) / "c1")
        killed = cli_run(args + ["--output", f"{tmp}/resumed"], Path(tmp) / "c2", kill_at=int(0.9 * n))
        done = count_cached(Path(tmp) / "c2" / "requests.sqlite")
        rerun = cli_run(args + ["--output", f"{tmp}/resumed"], Path(tmp) / "c2")
    print(f"CLI full run {full:.1f} s; killed after {killed:.1f} s with {done}/{n} cached; rerun {rerun:.1f} s")
    print(f"one-passage CLI run (start-up and shutdown, 1 request): {fixed:.1f} s; "
          f"rerun/full without it: {(rerun - fixed) / (full - fixed):.3f}")
    print(f"resume_ratio: {rerun / full:.3f} (goal: <= 0.15)")


if __name__ == "__main__":
    main()
