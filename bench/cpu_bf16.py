"""bf16 autocast against float32 on this machine: training steps, document encoding, and the same nDCG@10.

What ``bf16: auto`` buys on a CPU with native bf16 (AVX512-BF16 or AMX; :mod:`drama_models.precision`), with the
project's own code paths and the cpu-demo's settings:

- training: :class:`drama_models.training.trainer.Trainer` on all-MiniLM-L6-v2, SciFact train claims with BM25
  hard negatives (``bench/scifact_data.py``), batch 32, group 4 (1 positive + 3 negatives), queries of 32 and
  passages of 128 tokens, GradCache chunks of 32 (the cpu-demo's ``train-minilm``); ``--rounds`` alternating
  rounds of ``--steps`` timed steps after one warm-up step each; the best round counts;
- encoding: :meth:`DramaEncoder.encode_documents` of the first ``--docs`` SciFact abstracts at 256 tokens;
- quality: nDCG@10 of all-MiniLM-L6-v2 on the SciFact dev split of ``bench/cpu_demo_ablations.py`` (train
  claims over their judged documents plus 1,200 others; never the test claims), encoded both ways, and the
  lowest cosine between a document's two embeddings.

    python bench/cpu_bf16.py

Last line: ``cpu_bf16_train_speedup: X (goal: >= 1.5 on a CPU with native bf16; ...)``.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))


def train_rate(data: Path, out: Path, bf16: str, steps: int) -> float:
    """Seconds per training step (after one warm-up step)."""
    from scifact_data import minilm_path

    from drama_models.training.config import TrainConfig
    from drama_models.training.trainer import Trainer

    trainer = Trainer(TrainConfig(
        model=minilm_path(), output_dir=str(out), datasets=[str(data)], batch_size=32, train_group_size=4,
        query_max_len=32, passage_max_len=128, temperature=0.05, learning_rate=2e-5, max_steps=10**6,
        warmup_steps=0, lr_scheduler="constant", bf16=bf16, gradcache_chunk_size=32, save_steps=0, resume="none",
        show_progress=False))
    trainer.training_step()
    t = time.perf_counter()
    for _ in range(steps):
        trainer.training_step()
    return (time.perf_counter() - t) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--docs", type=int, default=512)
    ap.add_argument("--skip-quality", action="store_true")
    a = ap.parse_args()

    from cpu_demo_ablations import dev_collection
    from scifact_data import minilm_path, scifact
    from train_throughput import write_rows

    from drama_models.encoder import DramaEncoder
    from drama_models.evaluation import compute_metrics, dense_run
    from drama_models.precision import cpu_has_native_bf16

    print(f"native bf16 on this CPU: {cpu_has_native_bf16()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        data = write_rows(a.data_root, Path(tmp), 3)
        best = {"false": float("inf"), "true": float("inf")}
        for r in range(a.rounds):
            for mode in best:
                s = train_rate(data, Path(tmp) / f"out-{mode}", mode, a.steps)
                best[mode] = min(best[mode], s)
                print(f"round {r + 1} train bf16={mode}: {s:.2f} s/step", flush=True)
    train_speedup = best["false"] / best["true"]

    collection = scifact(a.data_root)
    ids = list(collection.corpus)[: a.docs]
    texts = collection.document_texts(ids)
    rate = {}
    for mode in (False, True):
        enc = DramaEncoder.from_pretrained(minilm_path(), bf16=mode, max_length=256)
        enc.encode_documents(texts[:64])  # warm-up
        t = time.perf_counter()
        enc.encode_documents(texts)
        rate[mode] = len(texts) / (time.perf_counter() - t)
        print(f"encode bf16={mode}: {rate[mode]:.1f} documents/s", flush=True)

    if not a.skip_quality:
        dev = dev_collection(a.data_root, 1200, 0)
        scores, emb = {}, {}
        for mode in (False, True):
            enc = DramaEncoder.from_pretrained(minilm_path(), bf16=mode, max_length=256)
            scores[mode] = compute_metrics(dev.qrels, dense_run(enc, dev, show_progress=False))["ndcg@10"]
            emb[mode] = enc.encode_documents(dev.document_texts(list(dev.corpus)[:256]))
        cos = float(np.min(np.sum(emb[False] * emb[True], axis=1)))
        print(f"dev nDCG@10: float32 {scores[False]:.4f}, bf16 {scores[True]:.4f}; lowest document cosine {cos:.5f}")
    print(f"cpu_bf16_train_speedup: {train_speedup:.2f} (goal: >= 1.5 on a CPU with native bf16; "
          f"{best['false']:.2f} -> {best['true']:.2f} s/step; encoding {rate[True] / rate[False]:.2f}x)")


if __name__ == "__main__":
    main()
