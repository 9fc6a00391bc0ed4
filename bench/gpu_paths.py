"""The CUDA paths of drama_models on one GPU: training steps in bf16 vs fp32, GradCache, torchrun, encoding.

Nothing here needs a Hub download: the models are random, built from configs at the shapes that matter
(all-MiniLM-L6-v2: BERT 6 x 384; DRAMA-0.1B: Llama hidden 768, FFN 3072, 12 heads / 4 KV heads, 12 layers,
Llama-3's 128,256-token vocabulary), with a small byte-level BPE tokenizer trained on the bundled sample (the
vocabulary size is the config's, so the embedding table and its optimizer state are full size). Speed does not
depend on the weights. The training rows are Tevatron rows made from the bundled SciFact sample's passages
(1 positive + 7 negatives of 256 tokens, queries of 64 tokens).

For each shape: ``--steps`` optimizer steps of ``drama_models.training.train`` at ``--batch-size`` queries,
group 8, fp32 and then bf16 autocast (the trainer's ``bf16`` option), reading ``seconds_per_step`` of the
train log after its first window (warm-up, allocator growth); then one bf16 run with GradCache at 4x the batch
(memory ~ chunk, not batch: peak CUDA memory is reported); then ``torchrun --nproc_per_node 1`` (the DDP path
the paper recipes launch) for a few steps; then documents/s of ``DramaEncoder.encode_documents`` in fp32 and
bf16 at 256 tokens.

    python bench/gpu_paths.py [--steps 25] [--batch-size 128] [--out DIR]

Last line: ``gpu_train_bf16_vs_fp32: <ratio>x (goal: >= 1.5x, DRAMA-0.1B shape)``.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

DEVICE = "cuda"
SAMPLE = REPO / "drama_data" / "samples" / "scifact-sample" / "corpus.jsonl"


def sample_texts() -> list[str]:
    rows = [json.loads(line) for line in SAMPLE.open(encoding="utf-8") if line.strip()]
    return [(r.get("title", "") + " " + r["text"]).strip() for r in rows]


def make_rows(path: Path, texts: list[str], n: int, group: int, seed: int = 0) -> Path:
    """``n`` Tevatron rows: a sentence of a passage is the query, the passage its positive, others negatives.
    Passages are repeated to about 256 tokens so every group is full length."""
    rng = random.Random(seed)
    long = [(t + " ") * 2 for t in texts]
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            j = rng.randrange(len(texts))
            sentences = [s for s in texts[j].split(". ") if s.strip()] or [texts[j]]
            negs = rng.sample([k for k in range(len(texts)) if k != j], group - 1)
            f.write(json.dumps({
                "query_id": str(i),
                "query": rng.choice(sentences),
                "positive_passages": [{"docid": str(j), "title": "", "text": long[j]}],
                "negative_passages": [{"docid": str(k), "title": "", "text": long[k]} for k in negs],
            }) + "\n")
    return path


def make_models(root: Path, texts: list[str]) -> dict[str, tuple[Path, dict]]:
    import transformers
    from tiny_models import tiny_tokenizer

    tok = tiny_tokenizer(vocab_size=2048, texts=texts * 3, chat_template=False)
    shapes = {
        "minilm-shape": (transformers.BertConfig(
            vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
            intermediate_size=1536, max_position_embeddings=512, pad_token_id=tok.pad_token_id),
            {"pooling": "mean", "normalize": True}),
        "drama-0.1b-shape": (transformers.LlamaConfig(
            vocab_size=128256, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
            num_attention_heads=12, num_key_value_heads=4, head_dim=64, max_position_embeddings=2048,
            bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
            tie_word_embeddings=True),
            {"pooling": "mean", "normalize": True, "bidirectional": True, "query_prefix": "Query: "}),
    }
    out = {}
    for name, (cfg, enc) in shapes.items():
        path = root / name
        torch.manual_seed(0)
        transformers.AutoModel.from_config(cfg).save_pretrained(path)
        tok.save_pretrained(path)
        out[name] = (path, enc)
    return out


def train_run(model: Path, enc: dict, data: Path, out: Path, steps: int, batch: int, bf16: bool,
              chunk: int | None = None) -> dict:
    from drama_models.training.config import DatasetSpec, TrainConfig
    from drama_models.training.trainer import read_train_log, train

    cfg = TrainConfig(
        model=str(model), output_dir=str(out), datasets=[DatasetSpec(path=str(data))], **enc,
        query_max_len=64, passage_max_len=256, batch_size=batch, train_group_size=8, temperature=0.02,
        learning_rate=1e-5, max_steps=steps, warmup_steps=2, bf16=("true" if bf16 else "false") if DEVICE == "cuda" else "false",
        gradcache_chunk_size=chunk, logging_steps=5, save_steps=10 ** 9, seed=0,
    )
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    train(cfg)
    wall = time.perf_counter() - t0
    log = read_train_log(out)
    timed = [r["seconds_per_step"] for r in log[1:] if "seconds_per_step" in r] or [log[-1]["seconds_per_step"]]
    sps = sum(timed) / len(timed)
    return {"seconds_per_step": sps, "samples_per_s": batch / sps, "wall_s": wall,
            "peak_cuda_gib": torch.cuda.max_memory_allocated() / 2 ** 30,
            "loss_first_last": [log[0].get("loss"), log[-1].get("loss")]}


def encode_run(model: Path, enc: dict, texts: list[str], dtype: str, n: int) -> float:
    from drama_models.encoder import DramaEncoder

    e = DramaEncoder.from_pretrained(model, dtype=dtype, device=DEVICE, max_length=256,
                                     **{k: v for k, v in enc.items() if k != "query_prefix"})
    docs = [(texts[i % len(texts)] + " ") * 3 for i in range(n)]
    e.encode_documents(docs[:512], batch_size=256, show_progress=False)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    e.encode_documents(docs, batch_size=256, show_progress=False)
    torch.cuda.synchronize()
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--encode-docs", type=int, default=20000)
    ap.add_argument("--out", default=None, help="folder for results.json (default: a temporary folder)")
    ap.add_argument("--cpu-smoke", action="store_true", help="check the plumbing on a CPU (tiny sizes, no figures)")
    args = ap.parse_args()
    if args.cpu_smoke:
        args.steps, args.batch_size, args.encode_docs = 6, 2, 40
        torch.cuda.reset_peak_memory_stats = lambda: None
        torch.cuda.max_memory_allocated = lambda: 0
        torch.cuda.synchronize = lambda: None
        torch.cuda.get_device_name = lambda *_: "cpu (smoke)"
        global DEVICE
        DEVICE = "cpu"
    elif not torch.cuda.is_available():
        sys.exit("bench/gpu_paths.py needs a CUDA device (or --cpu-smoke)")
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name(0)}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="gpu_paths_"))
    texts = sample_texts()
    models = make_models(work / "models", texts)
    if args.cpu_smoke:
        models = {"minilm-shape": models["minilm-shape"]}
    data = make_rows(work / "rows.jsonl", texts, n=min(2048, args.batch_size * 4 * (args.steps + 2)), group=8)
    results: dict = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__}
    for name, (path, enc) in models.items():
        r = results[name] = {}
        for precision in ("fp32", "bf16"):
            r[f"train_{precision}"] = train_run(path, enc, data, work / f"{name}-{precision}", args.steps,
                                                args.batch_size, precision == "bf16")
            print(name, precision, json.dumps(r[f"train_{precision}"]), flush=True)
        r["train_bf16_gradcache"] = train_run(path, enc, data, work / f"{name}-gc", max(6, args.steps // 4),
                                              args.batch_size * 4, True, chunk=args.batch_size)
        print(name, f"bf16 gradcache batch {args.batch_size * 4}", json.dumps(r["train_bf16_gradcache"]), flush=True)
        for dtype in ("float32", "bfloat16"):
            r[f"encode_docs_per_s_{dtype}"] = encode_run(path, enc, texts, dtype, args.encode_docs)
            print(name, f"encode {dtype}: {r[f'encode_docs_per_s_{dtype}']:.0f} docs/s", flush=True)
        r["bf16_vs_fp32"] = r["train_bf16"]["samples_per_s"] / r["train_fp32"]["samples_per_s"]

    # torchrun, one process: the DDP/NCCL launch path of the paper recipes
    path, enc = models.get("drama-0.1b-shape") or models["minilm-shape"]
    cfg = work / "torchrun.yaml"
    cfg.write_text(json.dumps({
        "model": str(path), "output_dir": str(work / "torchrun"), "datasets": [str(data)], **enc,
        "query_max_len": 64, "passage_max_len": 256, "batch_size": args.batch_size, "train_group_size": 8,
        "max_steps": 6, "warmup_steps": 1, "bf16": "true" if DEVICE == "cuda" else "false", "logging_steps": 3, "save_steps": 3,
        "matryoshka_dims": [256, 128],
    }))
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "1",
                           "-m", "drama_models.cli", "train", "--config", str(cfg)],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    results["torchrun_1gpu"] = {"rc": proc.returncode, "wall_s": time.perf_counter() - t0,
                                "tail": (proc.stdout + proc.stderr)[-1500:]}
    print("torchrun nproc 1: rc", proc.returncode, f"{results['torchrun_1gpu']['wall_s']:.1f} s", flush=True)
    if proc.returncode:
        print(results["torchrun_1gpu"]["tail"], flush=True)

    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "gpu_paths.json").write_text(json.dumps(results, indent=2) + "\n")
    for name in models:
        r = results[name]
        print(f"{name}: fp32 {r['train_fp32']['samples_per_s']:.0f} / bf16 {r['train_bf16']['samples_per_s']:.0f} "
              f"samples/s (batch {args.batch_size}, group 8, 256 tokens); GradCache batch {args.batch_size * 4}: "
              f"{r['train_bf16_gradcache']['samples_per_s']:.0f} samples/s, peak {r['train_bf16_gradcache']['peak_cuda_gib']:.1f} "
              f"GiB vs {r['train_bf16']['peak_cuda_gib']:.1f} GiB at batch {args.batch_size}; encode "
              f"{r['encode_docs_per_s_float32']:.0f} / {r['encode_docs_per_s_bfloat16']:.0f} docs/s fp32 / bf16")
    print(f"gpu_train_bf16_vs_fp32: {results[list(models)[-1]]['bf16_vs_fp32']:.2f}x "
          "(goal: >= 1.5x, DRAMA-0.1B shape)")


if __name__ == "__main__":
    main()
