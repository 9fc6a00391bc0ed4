"""Training throughput of our trainer vs sentence-transformers' MultipleNegativesRankingLoss, and GradCache memory.

Throughput: all-MiniLM-L6-v2, scifact train queries with 1 positive + ``--group-size - 1`` BM25 hard negatives,
batch ``--batch-size`` queries, max length ``--max-len`` (256, the paper's) for queries and passages, temperature
0.05 (= MNRL's scale 20), AdamW lr 2e-5, gradient clipping 1.0, fp32, the same threads. Ours encodes the
passages in length-sorted chunks of ``--encode-chunk`` (the trainer's ``encode_chunk_size``; less padding than
padding every passage of a column to the column's longest, which is what MNRL's per-column batches do). Both systems train on the very same
groups (drawn from one :class:`GroupStream` per system with the same seed), and their timed steps include group
sampling and tokenization. sentence-transformers runs as a plain loop: ``model.preprocess`` per column, the loss,
``backward``, clip, ``step`` (no Trainer overhead, the fastest way to use it). ``--rounds`` alternating rounds
of ``--steps`` steps after one warm-up step each; the best round counts.

Memory: one training step of our trainer, each in a fresh process, reading the process's peak RSS: batch
``--memory-batch`` (1024) with GradCache (``--memory-chunk`` sequences per chunk) vs batch ``--memory-small-batch``
(64) without. Group size and lengths for this part are ``--memory-group-size`` / ``--memory-len`` (small by
default, because a 1024-query step is many minutes of CPU otherwise; GradCache's memory does not grow with them).

    python bench/train_throughput.py [--data-root ../shared/data] [--threads 1]

Last lines: ``peak_rss_gradcache_<B>_vs_plain_<b>: <ratio>x (goal: <= 1.0x)`` and
``train_samples_per_s_vs_sentence_transformers: <ratio>x (goal: >= 1.0x)``.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from scifact_data import DEFAULT_DATA_ROOT, minilm_path, training_rows

TEMPERATURE = 0.05
LR = 2e-5


def write_rows(data_root, out: Path, n_negatives: int) -> Path:
    import datasets

    path = out / "scifact-train.parquet"
    if not path.exists():
        datasets.Dataset.from_list(training_rows(data_root, n_negatives=n_negatives)).to_parquet(str(path))
    return path


def our_trainer(data: Path, out: Path, batch: int, group: int, max_len: int, chunk: int | None, steps: int = 10**6,
                encode_chunk: int | None = None):
    from drama_models.training.config import TrainConfig
    from drama_models.training.trainer import Trainer

    return Trainer(TrainConfig(
        model=minilm_path(), output_dir=str(out), datasets=[str(data)], batch_size=batch, train_group_size=group,
        query_max_len=max_len, passage_max_len=max_len, temperature=TEMPERATURE, learning_rate=LR,
        weight_decay=0.01, max_steps=steps, warmup_steps=0, lr_scheduler="constant", bf16="false",
        gradcache_chunk_size=chunk, encode_chunk_size=encode_chunk, save_steps=0, resume="none", show_progress=False, max_grad_norm=1.0,
    ))


class STLoop:
    """sentence-transformers' MultipleNegativesRankingLoss in a plain training loop."""

    def __init__(self, data: Path, batch: int, group: int, max_len: int):
        from sentence_transformers import SentenceTransformer
        from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

        from drama_models.training.config import DatasetSpec
        from drama_models.training.data import GroupStream

        self.model = SentenceTransformer(minilm_path(), device="cpu")
        self.model.max_seq_length = max_len
        self.model.train()
        self.loss = MultipleNegativesRankingLoss(self.model, scale=1.0 / TEMPERATURE)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=LR, weight_decay=0.01)
        self.stream = GroupStream.from_specs([DatasetSpec(str(data))], group, seed=42)
        self.batch = batch

    def training_step(self) -> float:
        groups = self.stream.next_batch(self.batch)
        columns = [[g.query for g in groups]] + [[g.passages[j] for g in groups] for j in range(len(groups[0].passages))]
        features = [self.model.preprocess(col) for col in columns]
        loss = self.loss(features, None)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)
        return float(loss.detach())


def time_steps(system, steps: int) -> tuple[float, float, float]:
    system.training_step()  # warm-up
    t, c = time.perf_counter(), time.process_time()
    loss = 0.0
    for _ in range(steps):
        loss = system.training_step()
    return time.perf_counter() - t, time.process_time() - c, loss


def memory_child(spec: dict) -> None:
    """One training step; prints the peak RSS (MiB) before and after it as JSON."""
    torch.set_num_threads(spec["threads"])
    trainer = our_trainer(Path(spec["data"]), Path(spec["out"]), spec["batch"], spec["group"], spec["max_len"],
                          spec["chunk"])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t = time.perf_counter()
    loss = trainer.training_step()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"before_mib": before, "peak_mib": after, "loss": loss, "seconds": time.perf_counter() - t}))


def measure_memory(args, data: Path, tmp: Path, batch: int, chunk: int | None) -> dict:
    spec = {"data": str(data), "out": str(tmp / f"mem-{batch}"), "batch": batch, "group": args.memory_group_size,
            "max_len": args.memory_len, "chunk": chunk, "threads": args.threads}
    proc = subprocess.run([sys.executable, __file__, "--memory-child", json.dumps(spec)], capture_output=True,
                          text=True, env={**os.environ, "TQDM_DISABLE": "1"})
    if proc.returncode:
        raise SystemExit(f"memory run (batch {batch}) failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", default=str(DEFAULT_DATA_ROOT))
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--group-size", type=int, default=8, help="1 positive + N-1 hard negatives (paper: 8)")
    ap.add_argument("--max-len", type=int, default=256, help="queries and passages (paper: 256)")
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--encode-chunk", type=int, default=16,
                    help="ours: encode passages in length-sorted chunks of this size (less padding)")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--memory-batch", type=int, default=1024)
    ap.add_argument("--memory-small-batch", type=int, default=64)
    ap.add_argument("--memory-chunk", type=int, default=32)
    ap.add_argument("--memory-group-size", type=int, default=2)
    ap.add_argument("--memory-len", type=int, default=32)
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory_child:
        memory_child(json.loads(args.memory_child))
        return
    torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="drama-bench-"))
    data = write_rows(args.data_root, tmp, max(args.group_size, args.memory_group_size) - 1)

    mem_line = None
    if not args.skip_memory:
        big = measure_memory(args, data, tmp, args.memory_batch, args.memory_chunk)
        small = measure_memory(args, data, tmp, args.memory_small_batch, None)
        print(f"memory (group {args.memory_group_size}, max length {args.memory_len}): "
              f"batch {args.memory_batch} GradCache(chunk {args.memory_chunk}) peak {big['peak_mib']:.0f} MiB "
              f"(model loaded: {big['before_mib']:.0f} MiB, step {big['seconds']:.0f} s); batch "
              f"{args.memory_small_batch} plain peak {small['peak_mib']:.0f} MiB (model loaded: "
              f"{small['before_mib']:.0f} MiB)")
        mem_line = (f"peak_rss_gradcache_{args.memory_batch}_vs_plain_{args.memory_small_batch}: "
                    f"{big['peak_mib'] / small['peak_mib']:.2f}x (goal: <= 1.0x)")

    ratio_line = None
    if not args.skip_throughput:
        print(f"throughput: all-MiniLM-L6-v2, batch {args.batch_size}, group {args.group_size}, max length "
              f"{args.max_len}, threads {args.threads}, {args.steps} steps x {args.rounds} rounds, "
              f"our passage chunks {args.encode_chunk or 'off'}")
        ours = our_trainer(data, tmp / "ours", args.batch_size, args.group_size, args.max_len, None,
                           encode_chunk=args.encode_chunk)
        st = STLoop(data, args.batch_size, args.group_size, args.max_len)
        best = {"ours": (float("inf"), float("inf")), "st": (float("inf"), float("inf"))}
        for r in range(args.rounds):
            for name, system in (("ours", ours), ("st", st)):
                wall, cpu, loss = time_steps(system, args.steps)
                best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
                print(f"round {r + 1} {name:4s} {args.steps * args.batch_size / wall:7.2f} samples/s "
                      f"({wall:.1f} s wall, {cpu:.1f} s cpu, loss {loss:.3f})")
        rate = {k: args.steps * args.batch_size / v[0] for k, v in best.items()}
        cpu_ratio = best["st"][1] / best["ours"][1]
        print(f"best: ours {rate['ours']:.2f} samples/s, sentence-transformers MNRL {rate['st']:.2f} samples/s; "
              f"per CPU-second {cpu_ratio:.2f}x")
        ratio_line = f"train_samples_per_s_vs_sentence_transformers: {rate['ours'] / rate['st']:.2f}x (goal: >= 1.0x)"
    if mem_line:
        print(mem_line)
    if ratio_line:
        print(ratio_line)


if __name__ == "__main__":
    main()
