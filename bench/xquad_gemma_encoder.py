"""Issue 12, item 6: a multilingual encoder trained here, measured on XQuAD-R (de->zh, zh->de, de->de, zh->zh).

One command reproduces it (2 CPU cores; every stage resumes, generation from the request cache):

    python bench/xquad_gemma_encoder.py [--out runs/xquad-gemma] [--data-root ../shared/data]

What it does, with the toolkit's own stages:

1. **prune** Gemma-3-270M (``embedded:gemma-3-270m``) to the vocabulary of both collections' passages
   (``--vocab-from``: 262k -> 23k tokens) and, by default, to 6 of its 18 layers at full width (one-shot
   importance); ``--target full`` keeps every layer (vocabulary-only pruning).
2. **generate** from the XQuAD-R *passages only* (``corpus.jsonl`` of ``xquad-r-de`` and ``xquad-r-zh``; the
   XQuAD-R questions are test queries and are never read), one vLLM engine for all runs, each over a shuffled
   quarter of one language's passage ids with a ``--per-language`` quota: in-language queries (``--task
   queries``: German for German passages, Chinese for Chinese; 100 each) and cross-lingual ones (``--task
   crosslingual --method direct``: German queries for Chinese passages, 50; Chinese queries for German passages
   only with ``--with-xl-de``). The quarters are disjoint in passage ids across both languages, so the aligned
   translations of a passage never meet in the training data (the alignment is no training signal).
3. **mine** each output with BM25 in its passage language (``mine --language``; cross-lingual rows are mined
   with their source passage's text, ``--cross-lingual auto``), and **build** two training sets:
   (a) in-language rows only, (b) the same plus the cross-lingual rows.
4. **train** the pruned model as a bidirectional mean-pooled encoder (``"Query: "`` prefix, as the cpu-demo
   recipe's train-gemma stage) on (a) and on (b), same steps and batch.
5. **evaluate** both with ``bench/xquad_crosslingual.py``'s collections; the last line is its headline.

Never trains on ``queries.jsonl`` of XQuAD-R, and picks nothing on it (no setting here was tuned). Measured
(README, "A multilingual encoder trained here"): de->zh nDCG@10 (a) 0.1929, (b) 0.2077 (goal 0.2031).
Stages can run side by side: ``--only generate``, ``--only a`` (needs only the in-language outputs), ``--only b``.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA_ROOT = REPO.parent / "shared" / "data"
LANGS = ("de", "zh")
OTHER = {"de": "zh", "zh": "de"}
# xl-<passage language>: queries in the other language. xl-de (Chinese queries for German passages) is left out
# by default (--with-xl-de adds it): it serves only zh->de, and the 270M model fails most of its attempts
ALL_GENERATE_RUNS = ("queries-de", "queries-zh", "xl-zh", "xl-de")
GENERATE_RUNS = ALL_GENERATE_RUNS[:3]
QUERY_PREFIX = "Query: "
NICE = 15
DEFAULT_TARGET = "hidden=640,ffn=2048,heads=4,layers=6,kv_heads=1"  # Gemma-3-270M's width, 6 of its 18 layers


def passage_subsets(data_root: Path, out: Path, seed: int) -> dict[str, Path]:
    """Four disjoint quarters of the passage ids (a seeded hash), one per (language, task): German in-language,
    Chinese in-language, German passages with Chinese queries, Chinese passages with German queries. The two
    languages share ids (aligned sentences), so no id gets training rows in both languages and the alignment is
    never a training signal. Each quarter is written shuffled (the quota then takes passages spread over the
    collection) to ``out/corpus/<lang>-<task>/corpus.jsonl``; returns those folders by ``<lang>-<task>``."""
    quarter = {("de", "queries"): 0, ("zh", "queries"): 1, ("de", "xl"): 2, ("zh", "xl"): 3}
    folders = {}
    for lang in LANGS:
        with open(data_root / f"xquad-r-{lang}" / "corpus.jsonl", encoding="utf-8") as fh:
            rows = [json.loads(line) for line in fh if line.strip()]
        for task in ("queries", "xl"):
            chosen = [r for r in rows if id_quarter(r["_id"], seed) == quarter[(lang, task)]]
            random.Random(f"{seed}:{lang}:{task}").shuffle(chosen)
            folder = out / "corpus" / f"{lang}-{task}"
            folder.mkdir(parents=True, exist_ok=True)
            with open(folder / "corpus.jsonl", "w", encoding="utf-8") as fh:
                for r in chosen:
                    fh.write(json.dumps(r, ensure_ascii=False) + "\n")
            folders[f"{lang}-{task}"] = folder
    return folders


def id_quarter(passage_id: str, seed: int) -> int:
    """0-3 from a seeded hash of the id (the same for a passage and its aligned translation)."""
    import hashlib

    return int(hashlib.sha1(f"{seed}:{passage_id}".encode()).hexdigest(), 16) % 4


def generate_all(a, folders: dict[str, Path]) -> None:
    """The four generate runs with one engine (resumable through the request cache)."""
    from drama_data.backends import build_backend
    from drama_data.backends.base import Sampling
    from drama_data.generate.runner import CorpusOptions, generate
    from drama_data.tasks import get_task
    from drama_data.tasks.queries import PAPER_SAMPLING

    sampling = Sampling(temperature=PAPER_SAMPLING.temperature, top_p=PAPER_SAMPLING.top_p, max_tokens=a.max_tokens)
    common = {"sampling": sampling, "seed": a.seed, "max_attempts": a.max_attempts}
    # a bounded KV cache: the machine is shared, and a 4 GiB cache got this process killed for memory once
    backend = build_backend("vllm", a.llm, echo=print, max_model_len=2048,
                            engine_kwargs={"kv_cache_memory_bytes": a.kv_cache_gib << 30})
    runs = []
    for lang in LANGS:
        runs.append((f"queries-{lang}", get_task("queries", per_language=a.per_language, **common),
                     folders[f"{lang}-queries"]))
    for lang in ("zh", "de"):  # German queries for Chinese passages first: the de->zh headline needs them
        if f"xl-{lang}" not in GENERATE_RUNS:
            continue
        runs.append((f"xl-{lang}", get_task("crosslingual", target_languages=[OTHER[lang]],
                                            per_language=a.per_language_xl, **common), folders[f"{lang}-xl"]))
    try:
        for name, task, corpus in runs:
            if (a.out / "generate" / name / "README.md").exists() and not a.regenerate:
                print(f"generate {name}: done", flush=True)
                continue
            s = generate(task, CorpusOptions(str(corpus)), a.out / "generate" / name, backend=backend,
                         progress=True, echo=None, overwrite=True)
            print(f"generate {name}: {s.rows} rows, {s.failed_slots} slots without a row", flush=True)
    finally:
        backend.close()


def cli(package: str, *args: str) -> None:
    """Run ``drama-data``/``drama-models`` (``package``: drama_data or drama_models) of *this* checkout, niced."""
    print("$", " ".join(["drama-data" if package == "drama_data" else "drama-models", *map(str, args)]), flush=True)
    run_here([sys.executable, "-c", f"from {package}.cli import main; main()", *map(str, args)])


def run_here(cmd: list[str]) -> None:
    """``cmd`` niced, with this checkout first on the import path, from the project root; fails on error."""
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    subprocess.run(["nice", "-n", str(NICE), *cmd], check=True, env=env, cwd=REPO)


def passage_language(name: str) -> str:
    return name.rsplit("-", 1)[1]


VARIANTS = {"a": [n for n in GENERATE_RUNS if n.startswith("queries-")], "b": list(GENERATE_RUNS)}


def mine_and_build(a, variants=("a", "b")) -> dict[str, Path]:
    """BM25 candidates per generate output (its passage language, the whole collection of that language), then
    the training sets: ``a`` (in-language rows) and ``b`` (the same plus the cross-lingual rows)."""
    gen = a.out / "generate"
    for name in sorted({n for v in variants for n in VARIANTS[v]}, key=GENERATE_RUNS.index):
        out = a.out / "mine" / name
        if (out / "README.md").exists():
            continue
        lang = passage_language(name)
        cli("drama_data", "mine", "--queries", gen / name, "--corpus", a.data_root / f"xquad-r-{lang}",
            "--output", out, "--retriever", "bm25s", "--language", lang, "-k", 50)
    outs = {}
    for variant in variants:
        names = VARIANTS[variant]
        out = a.out / "build" / variant
        if not (out / "README.md").exists():
            inputs = [x for n in names for x in ("--input", f"candidates={a.out / 'mine' / n},queries={gen / n}")]
            cli("drama_data", "build", *inputs, "--output", out, "--no-report")
        outs[variant] = out
    return outs


def vocabulary_text(a) -> Path:
    """The text the vocabulary is cut to: both collections' passages and the query prefix (the languages in
    play; the XQuAD-R questions are not read). Generated queries are not needed: they are written from these
    passages, and a token outside the vocabulary still encodes through Gemma's byte fallback."""
    path = a.out / "vocab.jsonl"
    with open(path, "w", encoding="utf-8") as out:
        out.write(json.dumps({"text": QUERY_PREFIX}) + "\n")
        for lang in LANGS:
            with open(a.data_root / f"xquad-r-{lang}" / "corpus.jsonl", encoding="utf-8") as fh:
                for line in fh:
                    if line.strip():
                        out.write(json.dumps({"text": json.loads(line)["text"]}, ensure_ascii=False) + "\n")
    return path


def prune(a) -> Path:
    """Gemma-3-270M with its vocabulary cut to :func:`vocabulary_text` (``--vocab-from``), to ``--target``:
    ``full`` keeps every layer (vocabulary-only pruning); the default keeps the full width and the 6 layers that
    one-shot block-influence importance ranks highest on the same passages (the full depth is too slow for
    this CPU budget: see the README)."""
    from drama_models.zoo import resolve_model

    out = a.out / "prune"
    if not (out / "pruning.json").exists():
        vocab = vocabulary_text(a)
        cli("drama_models", "prune", "--model", resolve_model(a.model), "--target", a.target, "--vocab-from", vocab,
            "--calibration", vocab, "--seq-len", 128, "--calibration-blocks", 32, "--output", out, "--device", "cpu",
            "--overwrite", "--no-progress")
    return out


def train(a, backbone: Path, dataset: Path, variant: str) -> Path:
    """The backbone as a DRAMA encoder (bidirectional, mean pooling, normalised, ``"Query: "``) on ``dataset``."""
    out = a.out / f"train-{variant}"
    if (out / "train_config.json").exists() and (out / "config.json").exists():
        return out
    cli("drama_models", "train", "--model", backbone, "--dataset", dataset, "--output-dir", out,
        "--pooling", "mean", "--bidirectional", "--normalize", "--query-prefix", QUERY_PREFIX, "--document-prefix", "",
        "--max-steps", a.steps, "--batch-size", a.batch_size, "--train-group-size", a.group_size,
        "--query-max-len", 32, "--passage-max-len", a.passage_max_len, "--learning-rate", a.lr,
        "--temperature", a.temperature, "--distill-weight", 0, "--warmup-steps", max(1, a.steps // 10),
        "--gradcache-chunk-size", "none", "--bf16", "false", "--logging-steps", 5, "--save-steps", 10,
        "--save-total-limit", 1, "--seed", a.seed)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "xquad-gemma")
    ap.add_argument("--llm", default=None, help="generation model (default: the embedded Gemma-3-270M)")
    ap.add_argument("--model", default="embedded:gemma-3-270m", help="the encoder's backbone")
    ap.add_argument("--target", default=DEFAULT_TARGET,
                    help="prune target: 'full' (vocabulary only) or a shape; default: full width, 6 layers")
    ap.add_argument("--per-language", type=int, default=100, help="in-language queries per language")
    ap.add_argument("--per-language-xl", type=int, default=50, help="cross-lingual queries per language pair")
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--with-xl-de", action="store_true",
                    help="also generate Chinese queries for German passages (xl-de) and train (b) on them")
    ap.add_argument("--kv-cache-gib", type=int, default=1, help="vLLM KV cache size")
    ap.add_argument("--max-attempts", type=int, default=3)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--group-size", type=int, default=2, help="1 positive + N-1 hard negatives")
    ap.add_argument("--passage-max-len", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--temperature", type=float, default=0.05)
    ap.add_argument("--eval-max-length", type=int, default=128)
    ap.add_argument("--with-minilm", action="store_true", help="evaluate all-MiniLM-L6-v2 too")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--regenerate", action="store_true")
    ap.add_argument("--until", default=None, choices=["prune", "generate", "build", "train"],
                    help="stop after this stage")
    ap.add_argument("--only", choices=["generate", "a", "b"],
                    help="run just generation, or just one variant's mine, build and training (a: in-language "
                         "data, which needs only the queries-* outputs)")
    a = ap.parse_args()
    if a.with_xl_de:
        global GENERATE_RUNS
        GENERATE_RUNS = ALL_GENERATE_RUNS
        VARIANTS["b"] = list(GENERATE_RUNS)
    a.out.mkdir(parents=True, exist_ok=True)
    if a.only == "generate":  # e.g. generation while the prune stage runs in another process
        generate_all(a, passage_subsets(a.data_root, a.out, a.seed))
        return
    if a.only in VARIANTS:  # one variant's mine, build and training, beside a generation still running
        train(a, prune(a), mine_and_build(a, (a.only,))[a.only], a.only)
        return
    backbone = prune(a)
    if a.until == "prune":
        return
    generate_all(a, passage_subsets(a.data_root, a.out, a.seed))
    if a.until == "generate":
        return
    sets = mine_and_build(a)
    if a.until == "build":
        return
    models = [train(a, backbone, sets[v], v) for v in ("a", "b")]
    if a.until == "train":
        return
    evaluate = [sys.executable, str(REPO / "bench" / "xquad_crosslingual.py"), "--data-root", str(a.data_root),
                "--max-length", str(a.eval_max_length)]
    for m in (["minilm"] if a.with_minilm else []) + [str(p) for p in models]:
        evaluate += ["--model", m]
    print("$", " ".join(evaluate[1:]), flush=True)
    run_here(evaluate)


if __name__ == "__main__":
    main()
