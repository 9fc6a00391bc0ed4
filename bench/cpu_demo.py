"""The cpu-demo's results table: runs ``recipes/cpu-demo.yaml`` (or reads a finished run) and prints every
stage's wall time and key counts, the evaluation table, and the headline.

    python bench/cpu_demo.py                                  # runs/cpu-demo on SciFact (about 55 min on 2 cores with native bf16, 90 without)
    python bench/cpu_demo.py --corpus PATH --output runs/x    # any BEIR folder
    python bench/cpu_demo.py --output runs/cpu-demo --no-run  # the table of a finished run

Last line: ``cpu_demo_test_ndcg10_gain: +X.XXXX (trained MiniLM A vs untrained B, BM25 C; goal: >= +0.03 and
above BM25)``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--recipe", type=Path, default=REPO / "recipes" / "cpu-demo.yaml")
    ap.add_argument("--corpus", default=None)
    ap.add_argument("--output", default=None, help="run folder (default: the recipe's output:)")
    ap.add_argument("--no-run", action="store_true", help="only read a finished run")
    a = ap.parse_args()

    from drama_models.recipes.runner import run_recipe

    if not a.no_run:
        run_recipe(a.recipe, output=a.output, corpus=a.corpus, echo=lambda m: print(m, flush=True))
    run_dir = Path(a.output) if a.output else REPO / "runs" / "cpu-demo"
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    print("\n| stage | status | wall time | key counts |\n|---|---|---|---|")
    for s in manifest["stages"]:
        counts = json.dumps(s.get("counts") or {}, separators=(",", ":"))
        print(f"| {s['name']} | {s['status']} | {s.get('seconds') or 0:.0f} s | {counts[:160]} |")
    results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    print("\n| system | nDCG@10 | Recall@100 |\n|---|---|---|")
    for r in results:
        print(f"| {r['system']} | {r['ndcg@10']:.4f} | {r['recall@100']:.4f} |")
    by = {r["system"]: r["ndcg@10"] for r in results}
    trained, base, bm25 = by.get("train-minilm (trained)"), by.get("minilm (untrained)"), by.get("BM25")
    if trained is None or base is None:
        sys.exit("the run has no trained/untrained MiniLM rows")
    print(f"cpu_demo_test_ndcg10_gain: {trained - base:+.4f} (trained MiniLM {trained:.4f} vs untrained {base:.4f}, "
          f"BM25 {bm25 if bm25 is not None else float('nan'):.4f}; goal: >= +0.03 and above BM25)")


if __name__ == "__main__":
    main()
