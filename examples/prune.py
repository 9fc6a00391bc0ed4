"""Prune a decoder LLM into a small encoder backbone (one-shot importance, as in DRAMA), on the bundled sample.

In:  ``--model`` (a Hub id, a folder, or ``embedded:gemma-3-270m``, the default), ``--target`` (a shape or
     ``drama-0.1b``/``drama-0.3b``/``full``), ``--output`` (default ``runs/example-prune``).
Out: a plain Hugging Face checkpoint (the backbone to train with ``drama-models train``) and its
     ``pruning.json`` report; prints the parameter counts.

    python examples/prune.py          # about a minute on 2 CPU cores (Gemma-3-270M -> a 6-layer backbone)
    python examples/prune.py --model meta-llama/Llama-3.2-1B --target drama-0.1b   # the paper's 0.1B, on a GPU
"""
import argparse

from _sample import SAMPLE

from drama_models.pruning.pipeline import PruneSettings, prune
from drama_models.zoo import resolve_zoo_name


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="embedded:gemma-3-270m")
    ap.add_argument("--target", default="hidden=384,ffn=1536,heads=4,layers=6,kv_heads=1")
    ap.add_argument("--output", default="runs/example-prune")
    args = ap.parse_args()

    settings = PruneSettings(seq_len=64, calibration_blocks=8, min_calibration_blocks=4, heldout_blocks=4,
                             vocab_from=SAMPLE, overwrite=True, progress=False)
    report = prune(resolve_zoo_name(args.model), args.target, SAMPLE, args.output, settings)
    for stage in ("parameters_before", "parameters_after_pruning", "parameters_after_vocabulary"):
        if stage in report:
            counts = report[stage]
            print(f"{stage.replace('_', ' '):28} {counts['total'] / 1e6:7.1f}M "
                  f"(embedding {counts['embedding'] / 1e6:.1f}M, non-embedding {counts['non_embedding'] / 1e6:.1f}M)")
    print(f"pruned backbone written to {args.output}")


if __name__ == "__main__":
    main()
