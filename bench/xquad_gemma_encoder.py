"""Issue 12, item 6: a multilingual encoder trained here, measured on XQuAD-R (de->zh, zh->de, de->de, zh->zh).

One command reproduces it (2 CPU cores; every stage resumes, generation from the request cache):

    python bench/xquad_gemma_encoder.py [--out runs/xquad-gemma] [--data-root ../shared/data]

What it does, with the toolkit's own stages:

1. **generate** from the XQuAD-R *passages only* (``corpus.jsonl`` of ``xquad-r-de`` and ``xquad-r-zh``; the
   XQuAD-R questions are test queries and are never read), one vLLM engine for all four runs, each over a
   shuffled subset of one language's passages with a ``--per-language`` quota:
   in-language queries (``--task queries``: German for German passages, Chinese for Chinese) and cross-lingual
   ones (``--task crosslingual --method direct``: Chinese queries for German passages, German queries for
   Chinese passages). The subsets of the two languages are disjoint in passage ids, so the aligned
   translations of a passage never meet in the training data (the alignment is no training signal).
2. **mine** each output with BM25 in its passage language (``mine --language``; cross-lingual rows are mined
   with their source passage's text, ``--cross-lingual auto``), and **build** two training sets:
   (a) in-language rows only, (b) the same plus the cross-lingual rows.
3. **prune** Gemma-3-270M (``embedded:gemma-3-270m``) to the vocabulary of the generated data and the passages
   (``--vocab-from``) keeping its full shape (``--target full``: vocabulary-only pruning).
4. **train** the pruned model as a bidirectional mean-pooled encoder (``"Query: "`` prefix, as the cpu-demo
   recipe's train-gemma stage) on (a) and on (b), same steps and batch.
5. **evaluate** both with ``bench/xquad_crosslingual.py``'s collections; the last line is its headline.

Never trains on ``queries.jsonl`` of XQuAD-R; a dev split, where one is needed, comes from held-back generated
queries (``--dev-queries``).
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
    backend = build_backend("vllm", a.llm, echo=print, max_model_len=2048)
    runs = []
    for lang in LANGS:
        runs.append((f"queries-{lang}", get_task("queries", per_language=a.per_language, **common),
                     folders[f"{lang}-queries"]))
    for lang in ("zh", "de"):  # German queries for Chinese passages first: the de->zh headline needs them
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "xquad-gemma")
    ap.add_argument("--llm", default=None, help="generation model (default: the embedded Gemma-3-270M)")
    ap.add_argument("--per-language", type=int, default=100, help="in-language queries per language")
    ap.add_argument("--per-language-xl", type=int, default=100, help="cross-lingual queries per language pair")
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--max-attempts", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--regenerate", action="store_true")
    ap.add_argument("--until", default=None, help="stop after this stage (generate, build, prune, train)")
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    folders = passage_subsets(a.data_root, a.out, a.seed)
    generate_all(a, folders)
    if a.until == "generate":
        return


if __name__ == "__main__":
    main()
