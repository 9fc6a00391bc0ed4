"""Score retrievers on a BEIR folder (nDCG@10, Recall@100, MRR@10): an encoder and BM25 beside it.

In:  ``--model`` (a model folder, a Hub id or ``all-MiniLM-L6-v2``, the bundled default), ``--data`` (a BEIR
     folder with ``qrels/test.tsv``; default the bundled sample).
Out: prints the table ``drama-models evaluate`` prints; the results as a list of dicts.

    python examples/evaluate.py                                   # about 30 s on 2 CPU cores
    python examples/evaluate.py --model runs/example-train/model  # the model examples/build_and_train.py wrote
"""
import argparse

from _sample import SAMPLE

from drama_models.evaluation import evaluate, format_table
from drama_models.model_source import resolve_model_source


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="all-MiniLM-L6-v2")
    ap.add_argument("--data", default=SAMPLE)
    args = ap.parse_args()

    results = evaluate(resolve_model_source(args.model), [args.data], bm25=True, name=args.model, show_progress=False)
    print(format_table(results))
    best = max(results, key=lambda r: r["ndcg@10"])
    print(f"best: {best['system']} nDCG@10 {best['ndcg@10']:.4f}")


if __name__ == "__main__":
    main()
