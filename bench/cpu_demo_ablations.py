"""Ablations behind the cpu-demo's defaults: which generated training data makes all-MiniLM-L6-v2 better?

Dev split only: SciFact's *train* qrels (809 claims) over a fixed subset of the corpus (every document judged
for those claims plus ``--distractors`` random others); the test queries are never looked at. Each variant runs
the toolkit's own ``build`` (with the given rule options) over mined candidates (``drama-data mine``), trains
with :func:`drama_models.training.trainer.train` and reports dev nDCG@10 next to the untrained model.

    python bench/cpu_demo_ablations.py --qgen runs/qgen-cands --crop runs/crop-cands \\
        --variants base,qgen,qgen+sent,qgen-strong --steps 40

Variants (comma-separated):
- ``base``: the untrained model;
- ``qgen``: LLM queries, build defaults (``miner: weak``: source passage positive, round trip, ranks 3-30
  negatives);
- ``sent``: cropped sentences, build defaults (inverse-cloze positives);
- ``qgen+sent``: both inputs, one ratio each (1:1);
- ``qgen-strong`` / ``sent-strong``: the paper's rules (``miner: strong``: ranks 1-10 positive, 30-50 negative);
- ``qgen-noroundtrip``: ``qgen`` without the round-trip check;
- ``sent-copy``: ``sent`` with the whole source passage as the positive (no inverse cloze).
Training options apply to every variant and are part of the result key: ``--steps``, ``--lr``, ``--group``,
``--temperature``, ``--distill-weight`` / ``--distill-temperature`` / ``--contrastive-weight`` (distil the
candidates' scores: mine with ``--retriever hybrid``), ``--rules JSON`` (rule overrides, e.g.
``'{"qgen": {"negatives": [1, 10], "fn_margin": null}}'``). Results accumulate in ``OUT/results.json``.
Last line: ``cpu_demo_dev_ndcg10: BEST_VARIANT VALUE (goal: > base + 0.03)``.

A query for every dev document (is coverage the limit?): ``--write-dev-corpus FILE`` writes the dev collection's
documents (corpus order, BEIR ``corpus.jsonl`` lines) and exits; generate over it, mine over the whole corpus,
then train as above:

    python bench/cpu_demo_ablations.py --write-dev-corpus runs/devcov/corpus.jsonl
    drama-data generate --task queries --corpus runs/devcov/corpus.jsonl --output runs/devcov/queries --seed 0
    drama-data mine --queries runs/devcov/queries --corpus ../shared/data/scifact --output runs/devcov/mine \
        --retriever hybrid -k 50 --model minilm --weight 0.5
    python bench/cpu_demo_ablations.py --qgen runs/devcov/mine --variants base,qgen --steps 80 \
        --distill-weight 1 --out runs/devcov/ablations
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

VARIANTS = {
    "qgen": ({"qgen": {}}, "weak", {}),
    "sent": ({"sent": {}}, "weak", {}),
    "qgen+sent": ({"qgen": {}, "sent": {}}, "weak", {}),
    "qgen-strong": ({"qgen": {}}, "strong", {}),
    "sent-strong": ({"sent": {}}, "strong", {}),
    "qgen-noroundtrip": ({"qgen": {}}, "weak", {"qgen": {"roundtrip_top": None}}),
    "sent-copy": ({"sent": {}}, "weak", {"sent": {"positive_text": "passage"}}),
    "qgen-bm25neg": ({"qgen": {}}, "weak", {"qgen": {"negatives": [30, 50]}}),
}


def dev_collection(data_root: Path, distractors: int, seed: int):
    from drama_models.beir import BeirCollection, load_beir

    c = load_beir(data_root / "scifact", "train")
    judged = {d for q in c.qrels.values() for d in q}
    others = sorted(set(c.corpus) - judged)
    random.Random(seed).shuffle(others)
    keep = judged | set(others[:distractors])
    corpus = {d: v for d, v in c.corpus.items() if d in keep}
    return BeirCollection(name="scifact-dev", path=c.path, split="train", corpus=corpus,
                          queries={q: c.queries[q] for q in c.qrels}, qrels=c.qrels)


def write_corpus(collection, path: Path) -> None:
    """``collection``'s documents as BEIR ``corpus.jsonl`` lines, in the collection's order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for doc_id, doc in collection.corpus.items():
            f.write(json.dumps({"_id": doc_id, "title": doc["title"] or "", "text": doc["text"]},
                               ensure_ascii=False) + "\n")
    print(f"{path}: {len(collection.corpus)} documents")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--qgen", default=None, help="mine output over generated queries")
    ap.add_argument("--crop", default=None, help="mine output over cropped sentences")
    ap.add_argument("--variants", default="base,qgen,qgen+sent")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--group", type=int, default=4)
    ap.add_argument("--lr", type=float, default=2e-5)
    ap.add_argument("--temperature", type=float, default=0.05)
    ap.add_argument("--passage-len", type=int, default=128)
    ap.add_argument("--distill-weight", type=float, default=0.0,
                    help="KL distillation of the candidates' scores (use with `mine --retriever hybrid` candidates)")
    ap.add_argument("--distill-temperature", type=float, default=1.0)
    ap.add_argument("--contrastive-weight", type=float, default=1.0)
    ap.add_argument("--rules", default=None, help='JSON rule overrides for every variant, e.g. {"qgen": {"negatives": [1, 16]}}')
    ap.add_argument("--distractors", type=int, default=1200)
    ap.add_argument("--out", type=Path, default=REPO / "runs" / "ablations")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--write-dev-corpus", type=Path, default=None, metavar="FILE",
                    help="write the dev collection's documents as corpus.jsonl lines to FILE and exit")
    a = ap.parse_args()

    from scifact_data import minilm_path

    from drama_data.build import build
    from drama_data.build.config import InputSpec, load_config
    from drama_models.encoder import DramaEncoder
    from drama_models.evaluation import compute_metrics, dense_run
    from drama_models.training.config import TrainConfig
    from drama_models.training.trainer import train

    dev = dev_collection(a.data_root, a.distractors, a.seed)
    if a.write_dev_corpus:
        write_corpus(dev, a.write_dev_corpus)
        return
    a.out.mkdir(parents=True, exist_ok=True)
    base_model = minilm_path()
    print(f"dev: {len(dev.queries)} queries, {len(dev.corpus)} documents", flush=True)
    results_path = a.out / "results.json"
    results: dict[str, dict] = json.loads(results_path.read_text()) if results_path.is_file() else {}

    def dev_metrics(model_path: str) -> dict:
        enc = DramaEncoder.from_pretrained(model_path)
        m = compute_metrics(dev.qrels, dense_run(enc, dev, k=100, show_progress=False))
        return {"ndcg@10": round(m["ndcg@10"], 4), "recall@100": round(m["recall@100"], 4)}

    inputs = {"qgen": a.qgen, "sent": a.crop}
    for v in [x.strip() for x in a.variants.split(",") if x.strip()]:
        t0 = time.time()
        key = v if v == "base" else f"{v}/steps{a.steps}/lr{a.lr}/g{a.group}/t{a.temperature}"
        if v != "base" and a.distill_weight:
            key += f"/distill{a.distill_weight}@{a.distill_temperature}"
        if v != "base" and a.contrastive_weight != 1.0:
            key += f"/nce{a.contrastive_weight}"
        if v != "base" and a.rules:
            key += f"/rules{a.rules.replace(' ', '')}"
        if key in results:
            print(f"{key}: {results[key]} (cached)", flush=True)
            continue
        if v == "base":
            results[key] = dev_metrics(base_model)
        else:
            if v not in VARIANTS:
                raise SystemExit(f"unknown variant {v}; known: base, {', '.join(VARIANTS)}")
            used, miner, rules = VARIANTS[v]
            if a.rules:
                extra = json.loads(a.rules)
                rules = {src: {**rules.get(src, {}), **extra.get(src, {})} for src in {*rules, *extra}}
            specs = [InputSpec(candidates=inputs[name], name=name, group=name) for name in used]
            if any(s.candidates is None for s in specs):
                raise SystemExit(f"{v} needs --{'/--'.join(used)}")
            data = a.out / f"train-{v}"
            model_dir = a.out / f"model-{key.replace('/', '_')}"
            cfg = load_config(None, inputs=specs, output=str(data), miner=miner, rules=rules,
                              mix_ratios={name: 1 for name in used} if len(used) > 1 else None)
            report = build(cfg, overwrite=True, progress=False)
            cfg_t = TrainConfig(model=base_model, output_dir=str(model_dir), datasets=[str(data)],
                                query_max_len=32, passage_max_len=a.passage_len, batch_size=a.batch_size,
                                train_group_size=a.group, temperature=a.temperature, learning_rate=a.lr,
                                distill_weight=a.distill_weight, distill_temperature=a.distill_temperature,
                                contrastive_weight=a.contrastive_weight,
                                max_steps=a.steps, warmup_steps=max(1, a.steps // 10), logging_steps=10,
                                save_steps=0, bf16="false", seed=a.seed, resume="none", show_progress=False)
            path = train(cfg_t)
            results[key] = {**dev_metrics(str(path)), "rows": report.rows, "removed": report.removed}
        results[key]["seconds"] = round(time.time() - t0)
        print(f"{key}: {results[key]}", flush=True)
        # another run may have written results meanwhile: merge, do not overwrite
        on_disk = json.loads(results_path.read_text()) if results_path.is_file() else {}
        results = {**on_disk, **results}
        results_path.write_text(json.dumps(results, indent=2))
    base = results.get("base", {}).get("ndcg@10", float("nan"))
    trained = {k: r["ndcg@10"] for k, r in results.items() if k != "base"}
    best = max(trained, key=trained.get) if trained else "base"
    print(f"cpu_demo_dev_ndcg10: {best} {trained.get(best, base):.4f} (goal: > base {base:.4f} + 0.03)")


if __name__ == "__main__":
    main()
