"""From a corpus to a fine-tuned retriever in Python: crop -> mine (BM25) -> build -> train (a few steps).

In:  ``--output`` (default ``runs/example-train``), ``--steps`` (default 2), ``--model`` (default the bundled
     all-MiniLM-L6-v2).
Out: ``OUTPUT/crop``, ``OUTPUT/candidates``, ``OUTPUT/train`` (a Tevatron training set) and ``OUTPUT/model``
     (a sentence-transformers folder).

    python examples/build_and_train.py --steps 2      # about a minute on 2 CPU cores

A couple of steps only smoke-test the flow; see recipes/cpu-demo.yaml for a run that trains something.
"""
import argparse
from pathlib import Path

from _sample import SAMPLE

from drama_data.api import run_generate
from drama_data.build import build
from drama_data.build.config import InputSpec, load_config
from drama_data.mining.mine import mine
from drama_models.model_source import resolve_model_source
from drama_models.training.config import TrainConfig
from drama_models.training.trainer import train


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--output", default="runs/example-train")
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--model", default="all-MiniLM-L6-v2")
    args = ap.parse_args()
    out = Path(args.output)

    # 1. pseudo-queries: a random sentence of every passage (no LLM)
    run_generate(task_name="crop", corpus=SAMPLE, output=str(out / "crop"), language="en", overwrite=True,
                 no_progress=True, no_report=True, echo=None)
    # 2. top-50 BM25 candidates per query (corpus None: the one generate recorded)
    report = mine(str(out / "crop"), None, str(out / "candidates"), retriever="bm25s", k=50, overwrite=True,
                  progress=False)
    print(f"mine: {report.queries} queries over {report.passages} passages")
    # 3. label positives and hard negatives (the weak-miner rules), filter, dedup -> Tevatron rows
    cfg = load_config(None, inputs=[InputSpec(candidates=str(out / "candidates"), queries=str(out / "crop"),
                                              name="crop")], output=str(out / "train"))
    built = build(cfg, overwrite=True, progress=False)
    print(built.render())
    # 4. a few InfoNCE steps (the settings of recipes/tiny-cpu.yaml, smaller)
    config = TrainConfig(model=resolve_model_source(args.model), output_dir=str(out / "model"),
                         datasets=[str(out / "train")], query_max_len=32, passage_max_len=64, batch_size=8,
                         train_group_size=2, temperature=0.05, learning_rate=5e-5, max_steps=args.steps,
                         warmup_steps=0, logging_steps=1, save_steps=0, bf16=False, show_progress=False)
    train(config)
    print(f"model saved to {out / 'model'}")


if __name__ == "__main__":
    main()
