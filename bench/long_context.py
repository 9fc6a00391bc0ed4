"""Issue 30, item 4: Passkey and Needle at 512 / 2k / 4k / 8k tokens for all-MiniLM-L6-v2, the embedded
Gemma-3-270M as a bidirectional mean-pooled encoder, and BM25, on this machine (2 CPU cores).

    python bench/long_context.py [--out runs/long-context] [--lengths 512,2048,4096,8192] [--report]

What it runs (``drama_models.long_context``, the code behind ``drama-models evaluate --long-context``):

- the tasks are built once per (task, length), deterministically (seed 0), with lengths counted by Gemma's
  tokenizer (BOS/EOS included), and every system reads the same documents; Needle's haystack is the bundled
  SciFact sample (``drama_data/samples/scifact-sample``);
- **all-MiniLM-L6-v2** reads at most 512 of its own tokens (its position table): longer documents are truncated
  there, and the table marks those cells with ``*``;
- **Gemma-3-270M** (the embedded base model, ``gemma``): ``DramaEncoder`` (bidirectional attention, mean
  pooling, BOS/EOS, "Query: " prefix; SDPA attention; RoPE as trained, 32k positions), documents read whole;
  float32, batches of at most 8192 padded tokens. Not vocabulary-pruned here: pruning the vocabulary to a corpus
  changes no embedding of a kept token, only the memory of the embedding table;
- **BM25**: ``drama_data``'s bm25s miner on the same documents (never truncated).

Small on purpose (a shared 2-core machine; Gemma at 8k tokens costs about 200 s per document there): ``--queries``
queries over twice as many documents per length (LongEmbed: 50 over 100), fewer at 4k/8k (``--long-queries``).
Chance is then 1 / documents, not LongEmbed's 1 / 100: compare systems within this table, and with the paper's
rows only loosely. Each (system, task, length) cell is appended to ``<out>/cells.jsonl`` as it finishes, and a
rerun skips finished cells (``--report`` only prints the table). Encode time and peak memory per length are
recorded per cell (seconds per 1k documents extrapolated from the measured rate).

``--model NAME=PATH`` (repeatable) adds a trained model folder (e.g. ``runs/long-context/train-long``, what
``recipes/long-context.yaml`` trains) as one more system, read whole (up to its own context limit; a
vocabulary-pruned tokenizer may cut the same text into more tokens than Gemma's: its cells state the longest input
it read). ``--bf16`` encodes the dense systems with bf16 autocast (native on AVX512-BF16 / AMX CPUs); ``--seed``
builds other task instances (tune on ``--seed 1``, report seed 0); ``--threads`` sets torch's threads (1 is
faster than 2 on an oversubscribed machine).

``--bucketing`` times one 8k-token text with 7 short ones, padded together vs length-bucketed
(``max_batch_tokens``), back to back on a tiny random Llama.

Last line: ``long_context: ...`` (nDCG@1 x 100 at 4k per task and system, and Gemma's seconds per document at
each length).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _load(kind: str, models: dict[str, str] | None = None, bf16: bool = False):
    """The encoder of system ``kind``: ``minilm``, ``gemma`` or a name from ``--model NAME=PATH`` (``models``)."""
    from drama_models.encoder import DramaEncoder
    from drama_models.model_source import resolve_model
    from drama_models.zoo import resolve_model as zoo_model

    if models and kind in models:  # a trained folder: its own settings (pooling, prefixes), read whole
        enc = DramaEncoder.from_pretrained(models[kind], device="cpu", bf16=bf16)
        enc.max_length = int(enc.context_limit or 8192)
        enc.max_batch_tokens = 8192
        return enc
    path = resolve_model(zoo_model("all-MiniLM-L6-v2" if kind == "minilm" else "gemma"))
    if kind == "minilm":
        enc = DramaEncoder.from_pretrained(path, device="cpu", bf16=bf16)
        enc.max_length = enc.context_limit or 512  # 512
    else:
        enc = DramaEncoder.from_pretrained(path, device="cpu", max_length=8192, bf16=bf16)
        enc.max_batch_tokens = 8192
    return enc


def parse_models(values: list[str]) -> dict[str, str]:
    """``["NAME=PATH", "PATH"]`` -> ``{NAME: PATH, folder name: PATH}``; a missing folder is one ``SystemExit``
    line naming it, as is a name used twice or one of the built-in systems (bm25, minilm, gemma)."""
    models: dict[str, str] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep:
            name, path = Path(value.rstrip("/")).name, value
        if not Path(path).is_dir():
            raise SystemExit(f"--model {value}: no model folder at {path}")
        if name in models or name in ("bm25", "minilm", "gemma"):
            raise SystemExit(f"--model {value}: the system name {name!r} is already used")
        models[name] = path
    return models


def bucketing() -> None:
    """Back to back, twice: one 8k-token text and 7 short ones in one call, padded together (no token budget)
    vs length-bucketed with ``max_batch_tokens=8192``; a tiny random Llama (RoPE x16 to 8192 positions)."""
    import numpy as np

    sys.path.insert(0, str(REPO / "tests"))
    import tempfile

    from tiny_models import tiny_model_dir, tiny_tokenizer

    from drama_models.encoder import DramaEncoder

    with tempfile.TemporaryDirectory() as tmp:
        enc = DramaEncoder.from_pretrained(tiny_model_dir(Path(tmp) / "llama", "llama", tokenizer=tiny_tokenizer()),
                                           rope_scaling="linear:16", max_length=8192)
    texts = ["The grass is green. The sky is blue. " * 2000] + ["a short text about dense retrieval"] * 7
    times = {None: [], 8192: []}
    for _ in range(2):
        for budget in (None, 8192):
            enc.max_batch_tokens = budget
            start = time.perf_counter()
            vec = enc.encode_documents(texts, batch_size=8)
            times[budget].append(time.perf_counter() - start)
            if budget is None:
                ref = vec
            else:
                diff = float(np.abs(vec - ref).max())
    padded, bucketed = min(times[None]), min(times[8192])
    print(f"long_context bucketing: padded {padded:.2f} s, bucketed {bucketed:.2f} s ({padded / bucketed:.1f}x), "
          f"max |diff| {diff:.1e}, load {os.getloadavg()[0]:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(REPO / "runs" / "long-context"))
    ap.add_argument("--lengths", default="512,2048,4096,8192")
    ap.add_argument("--queries", type=int, default=5, help="queries per length up to 2k (documents: twice as many)")
    ap.add_argument("--long-queries", type=int, default=3, help="queries per length at 4k and above")
    ap.add_argument("--systems", default="bm25,minilm,gemma")
    ap.add_argument("--model", action="append", default=[], metavar="NAME=PATH",
                    help="a trained model folder to evaluate too (repeatable; NAME defaults to the folder's name)")
    ap.add_argument("--seed", type=int, default=0, help="task seed (0: the reported tables; tune on another)")
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast encoding for the dense systems")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--report", action="store_true", help="print the table of the finished cells and stop")
    ap.add_argument("--bucketing", action="store_true",
                    help="only time padded vs length-bucketed batches (a tiny model, one 8k text + 7 short ones)")
    args = ap.parse_args()
    if args.bucketing:
        return bucketing()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from drama_models.long_context.evaluate import (
        DEFAULT_HAYSTACK,
        _bm25_row,
        _dense_row,
        format_long_context_table,
        parse_lengths,
    )
    from drama_models.long_context.tasks import TokenCounter, build_task, read_haystack

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cells_path = out / "cells.jsonl"
    cells = [json.loads(line) for line in cells_path.open()] if cells_path.exists() else []
    done = {(c["system"], c["task"], c["length"]) for c in cells}
    lengths = parse_lengths(args.lengths)
    models = parse_models(args.model)
    systems = [s.strip() for s in args.systems.split(",") if s.strip()] + list(models)
    names = {"bm25": "BM25", "minilm": "all-MiniLM-L6-v2", "gemma": "Gemma-3-270M", **{m: m for m in models}}
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    if not args.report:
        from transformers import AutoTokenizer

        from drama_models.encoder import _configure_tokenizer
        from drama_models.model_source import resolve_model
        from drama_models.zoo import resolve_model as zoo_model

        gemma_tok = AutoTokenizer.from_pretrained(resolve_model(zoo_model("gemma")))
        _configure_tokenizer(gemma_tok, True, True)  # as DramaEncoder reads it: BOS and EOS
        counter = TokenCounter(gemma_tok)
        counter.name = "Gemma-3-270M tokenizer"
        hay = read_haystack(DEFAULT_HAYSTACK)
        tasks = {}
        for length in lengths:
            q = args.queries if length < 4096 else args.long_queries
            for name in ("passkey", "needle"):
                tasks[(name, length)] = build_task(name, length, counter, seed=args.seed, num_queries=q,
                                                   haystack=hay if name == "needle" else None)
        encoders = {}
        for system in systems:  # cheap systems first, Gemma by length (the slow cells last)
            for length in lengths:
                for name in ("passkey", "needle"):
                    if (names[system], name, length) in done:
                        continue
                    task = tasks[(name, length)]
                    if system == "bm25":
                        row = _bm25_row(task)
                    else:
                        if system not in encoders:
                            encoders[system] = _load(system, models, args.bf16)
                        row = _dense_row(encoders[system], task, names[system], batch_size=8)
                    if system in models:  # its own tokenizer may need more tokens than Gemma's count
                        row["read_tokens"] = max(len(encoders[system].tokenizer(task.corpus[d])["input_ids"])
                                                 for d in task.corpus)
                    row.update(task=name, length=length, num_queries=len(task.queries), num_docs=len(task.corpus),
                               tokens_counted_by=counter.name, load_average=round(os.getloadavg()[0], 2),
                               finished=time.strftime("%H:%M:%S"))
                    if row.get("docs_per_second"):
                        row["seconds_per_1k_docs"] = round(1000 / row["docs_per_second"], 1)
                    with cells_path.open("a") as fh:
                        fh.write(json.dumps(row) + "\n")
                    cells.append(row)
                    print(f"{name} {length} {row['system']}: nDCG@1 {100 * row['ndcg@1']:.1f} "
                          f"(encode {row.get('encode_seconds')} s, peak {row.get('peak_rss_mb')} MB, "
                          f"load {row['load_average']})", flush=True)

    order = [names[k] for k in ("bm25", "minilm", "gemma")] + list(models)  # table order; others after them
    result = {"rows": sorted(cells, key=lambda c: (c["task"] != "passkey", order.index(c["system"])
                                                   if c["system"] in order else len(order), c["length"])),
              "tokens_counted_by": "Gemma-3-270M tokenizer", "haystack": str(DEFAULT_HAYSTACK), "seed": args.seed}
    if any(c["system"] == names["gemma"] for c in cells):
        result["encoder"] = "Gemma-3-270M: attention sdpa, rope default (32768 positions), reads up to 8192 tokens"
    table = format_long_context_table(result)
    (out / "long_context.md").write_text(table + "\n", encoding="utf-8")
    print(table)
    print("\nencode cost per length (dense systems; seconds per 1k documents extrapolated from the measured rate):")
    for c in result["rows"]:
        if c.get("docs_per_second"):
            print(f"  {c['system']:18s} {c['task']:8s} {c['length']:5d}: {c['seconds_per_1k_docs']:9.1f} s/1k docs, "
                  f"peak RSS {c['peak_rss_mb']} MB, read {c['read_tokens']} tokens (load {c['load_average']})")
    at4k = [f"{c['task']} {c['system']} {100 * c['ndcg@1']:.0f}" for c in result["rows"] if c["length"] == 4096]
    cost = {c["length"]: round(1 / c["docs_per_second"], 1) for c in result["rows"]
            if c["system"] == names["gemma"] and c.get("docs_per_second")}
    print("long_context: nDCG@1 at 4k: " + ("; ".join(at4k) or "not run")
          + f" | Gemma s/doc by length: {cost or 'not run'}")


if __name__ == "__main__":
    main()
