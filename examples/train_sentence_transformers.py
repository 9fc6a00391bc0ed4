"""Train all-MiniLM-L6-v2 with sentence-transformers on a ``drama-data build`` output.

crop -> mine (BM25) -> build, then ``load_dataset(OUTPUT/train, "sentence-transformers")`` (columns ``anchor,
positive, negative_1..N, scores``) goes straight into ``SentenceTransformerTrainer`` with
``CachedMultipleNegativesRankingLoss``; nDCG@10 on the sample's 20 test claims, before and after, is measured by
sentence-transformers' ``InformationRetrievalEvaluator``.

In:  ``--output`` (default ``runs/example-st``), ``--steps`` (default 2), ``--negatives`` (negative columns,
     default 1), ``--batch-size`` (default 8), ``--model`` (default the bundled all-MiniLM-L6-v2).
Out: ``OUTPUT/crop``, ``OUTPUT/candidates``, ``OUTPUT/train`` (Tevatron ``train`` and ``sentence-transformers``
     configs) and ``OUTPUT/model`` (a sentence-transformers folder).

    python examples/train_sentence_transformers.py --steps 2     # 1-2 minutes on 2 CPU cores (45 s of CPU)

A few steps only show the plumbing: the sample has 85 pseudo-queries (cropped sentences), too few to move the
model much. For distillation, ``scores`` (the miner's score of the positive, then of each negative) is the label
``MarginMSELoss`` and ``DistillKLDivLoss`` take as it is.
"""
import argparse
import json
from pathlib import Path

from _sample import SAMPLE

from drama_data.api import run_generate
from drama_data.build import build
from drama_data.build.config import InputSpec, load_config
from drama_data.mining.mine import mine
from drama_models.model_source import resolve_model_source


def sample_evaluator():
    """sentence-transformers' IR evaluator on the bundled sample's test claims (the documents as ``title text``)."""
    from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

    sample = Path(SAMPLE)
    corpus = {}
    for line in (sample / "corpus.jsonl").read_text(encoding="utf-8").splitlines():
        d = json.loads(line)
        corpus[d["_id"]] = f"{d['title']} {d['text']}".strip() if d.get("title") else d["text"]
    qrels: dict[str, set[str]] = {}
    for line in (sample / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        qid, doc, score = line.split("\t")
        if int(score) > 0:
            qrels.setdefault(qid, set()).add(doc)
    queries = {q["_id"]: q["text"] for q in map(json.loads, (sample / "queries.jsonl").read_text().splitlines())
               if q["_id"] in qrels}
    return InformationRetrievalEvaluator(queries, corpus, qrels, name="scifact-sample", ndcg_at_k=[10],
                                         show_progress_bar=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--output", default="runs/example-st")
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--negatives", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--model", default="all-MiniLM-L6-v2")
    args = ap.parse_args()
    out = Path(args.output)

    # 1-3. the data: cropped-sentence queries, BM25 candidates, labelled rows (also in sentence-transformers' layout)
    run_generate(task_name="crop", corpus=SAMPLE, output=str(out / "crop"), language="en", overwrite=True,
                 no_progress=True, no_report=True, echo=None)
    mine(str(out / "crop"), None, str(out / "candidates"), retriever="bm25s", k=50, overwrite=True, progress=False)
    cfg = load_config(None, inputs=[InputSpec(candidates=str(out / "candidates"), queries=str(out / "crop"),
                                              name="crop")], output=str(out / "train"),
                      st_negatives=args.negatives)  # drama-data build --st-negatives N
    print(build(cfg, overwrite=True, progress=False).render())

    # 4. sentence-transformers from here on
    from datasets import load_dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
    from sentence_transformers import SentenceTransformerTrainingArguments as Args
    from sentence_transformers.sentence_transformer.losses import CachedMultipleNegativesRankingLoss

    train = load_dataset(str(out / "train"), "sentence-transformers", split="train")
    print(f"training rows: {len(train)}; columns: {', '.join(train.column_names)}")
    model = SentenceTransformer(resolve_model_source(args.model), device="cpu")
    evaluator = sample_evaluator()
    before = evaluator(model)["scifact-sample_cosine_ndcg@10"]
    max_length, model.max_seq_length = model.max_seq_length, 64  # short passages while training on 2 CPU cores
    loss = CachedMultipleNegativesRankingLoss(model, mini_batch_size=8)  # MNRL losses ignore the scores column
    trainer = SentenceTransformerTrainer(
        model=model, train_dataset=train, loss=loss,
        args=Args(output_dir=str(out / "checkpoints"), max_steps=args.steps, per_device_train_batch_size=args.batch_size,
                  learning_rate=2e-5, warmup_steps=0, logging_steps=1, save_strategy="no", report_to=[],
                  use_cpu=True, seed=0, dataloader_drop_last=True))
    trainer.train()
    model.max_seq_length = max_length
    after = evaluator(model)["scifact-sample_cosine_ndcg@10"]
    print(f"nDCG@10 on the sample's test claims (InformationRetrievalEvaluator): {before:.4f} -> {after:.4f}")
    model.save_pretrained(str(out / "model"))
    print(f"model saved to {out / 'model'}")


if __name__ == "__main__":
    main()
