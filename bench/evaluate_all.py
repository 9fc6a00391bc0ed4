"""Evaluate all-MiniLM-L6-v2 and BM25 on every BEIR-layout collection under ``--data-root``.

Each sub-folder with ``qrels/<split>.tsv`` is one collection (here: scifact, cranfield, npl, xquad-r-de,
xquad-r-zh). Runs :func:`drama_models.evaluation.evaluate` with the BM25 baseline row, writes runs, metrics and
the table under ``--output``, and prints the table.

    python bench/evaluate_all.py [--data-root ../shared/data] [--output /tmp/drama-eval] [--threads 1]

Last line: ``mean_ndcg@10_all-MiniLM-L6-v2: <value> (BM25: <value>; <n> collections)``.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from scifact_data import DEFAULT_DATA_ROOT, minilm_path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", default=str(DEFAULT_DATA_ROOT))
    ap.add_argument("--split", default="test")
    ap.add_argument("--output", default=None, help="default: a new temporary folder")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from drama_models.encoder import DramaEncoder
    from drama_models.evaluation import evaluate, format_table

    root = Path(args.data_root)
    folders = sorted(p for p in root.iterdir() if (p / "qrels" / f"{args.split}.tsv").is_file())
    if not folders:
        raise SystemExit(f"{root}: no collection with qrels/{args.split}.tsv")
    out = Path(args.output or tempfile.mkdtemp(prefix="drama-eval-"))
    encoder = DramaEncoder.from_pretrained(minilm_path(), device="cpu")
    start = time.perf_counter()
    results = evaluate(encoder, folders, split=args.split, bm25=True, output_dir=out, name="all-MiniLM-L6-v2",
                       batch_size=args.batch_size)
    print(format_table(results))
    print(f"runs, metrics and results.md in {out} ({time.perf_counter() - start:.0f} s)")
    dense = [r["ndcg@10"] for r in results if r["system"] != "BM25"]
    bm25 = [r["ndcg@10"] for r in results if r["system"] == "BM25"]
    print(f"mean_ndcg@10_all-MiniLM-L6-v2: {np.mean(dense):.4f} (BM25: {np.mean(bm25):.4f}; {len(dense)} collections)")


if __name__ == "__main__":
    main()
