"""How close ``generate --dry-run`` gets to a real run, on the embedded model (or ``--model``).

Two disjoint slices of scifact documents (``--history-docs`` then ``--docs`` documents after them), written as
jsonl corpora in a temporary folder, with a fresh request cache:

1. a real run over the first slice, which gives the cache its usage history for this model and task;
2. ``--dry-run`` over the second slice (nothing loaded or sent);
3. the real run over the second slice; its summary's tokens and time are compared with the plan.

Runs the vLLM engine twice (about 2 x (30 s start + 3 s per passage) on 2 CPU cores). Pass
``--engine-arg kv_cache_memory_bytes=1073741824`` where vLLM's KV cache sizing needs it.

    python bench/plan_accuracy.py [--data-root ../shared/data] [--history-docs 20] [--docs 20] [--engine-arg K=V]

Last line: ``plan_tokens_error: requests <r>%, prompt <x>%, completion <y>%, time <z>% (goal: tokens within 10%)``.
"""
from __future__ import annotations

import argparse
import gzip
import json
import tempfile
import time
from pathlib import Path

from scifact_data import DEFAULT_DATA_ROOT


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", default=str(DEFAULT_DATA_ROOT))
    ap.add_argument("--history-docs", type=int, default=20)
    ap.add_argument("--docs", type=int, default=20)
    ap.add_argument("--model", default=None)
    ap.add_argument("--engine-arg", action="append", default=[])
    args = ap.parse_args()
    from drama_data.api import run_generate

    engine = {}
    for pair in args.engine_arg:
        k, v = pair.split("=", 1)
        engine[k] = json.loads(v) if v.lstrip("-").isdigit() else v
    src = Path(args.data_root) / "scifact" / "corpus.jsonl.gz"
    lines = gzip.open(src, "rt", encoding="utf-8").read().splitlines()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        a, b = tmp / "history.jsonl", tmp / "planned.jsonl"
        a.write_text("\n".join(lines[:args.history_docs]) + "\n")
        b.write_text("\n".join(lines[args.history_docs:args.history_docs + args.docs]) + "\n")
        common = dict(model=args.model, cache_dir=str(tmp / "cache"), no_progress=True, echo=None,
                      engine_kwargs=engine)
        hist = run_generate(corpus=str(a), output=str(tmp / "a"), **common)
        print(f"history run: {hist.stats.generated} requests, {hist.stats.completion_tokens} completion tokens, "
              f"{hist.seconds:.0f} s")
        plan = run_generate(corpus=str(b), output=str(tmp / "b"), dry_run=True, **common)
        print(plan.render())
        t0 = time.time()
        real = run_generate(corpus=str(b), output=str(tmp / "b"), **common)
        seconds = time.time() - t0
        print(real.render())
    err = lambda est, got: 100.0 * (est - got) / max(got, 1)  # noqa: E731
    t_err = f"{err(plan.seconds, seconds):+.1f}%" if plan.seconds else "n/a"
    print(f"plan_tokens_error: requests {err(plan.expected_requests, real.stats.generated):+.1f}%, "
          f"prompt {err(plan.prompt_tokens, real.stats.prompt_tokens):+.1f}%, completion "
          f"{err(plan.completion_tokens, real.stats.completion_tokens):+.1f}%, time {t_err} (goal: tokens within 10%)")


if __name__ == "__main__":
    main()
