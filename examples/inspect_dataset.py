"""Write a small dataset (cropped-sentence pseudo-queries: no LLM, seconds) and inspect it with ``datasets``.

In:  ``--output`` (default ``runs/example-crop``).
Out: prints the folder's configs, the columns of ``queries`` with one row, the failures and the provenance.

    python examples/inspect_dataset.py
"""
import argparse
import json
from pathlib import Path

from _sample import SAMPLE
from datasets import get_dataset_config_names, load_dataset

from drama_data.api import run_generate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--output", default="runs/example-crop")
    args = ap.parse_args()

    run_generate(task_name="crop", corpus=SAMPLE, output=args.output, language="en", overwrite=True,
                 no_progress=True, no_report=True, echo=None)

    print("configs:", get_dataset_config_names(args.output))
    queries = load_dataset(args.output, "queries", split="train")
    print(f"{len(queries)} rows; columns: {', '.join(queries.column_names)}")
    for key, value in queries[0].items():
        print(f"  {key:20} {str(value)[:70]}")
    # failed attempts are kept with their raw text and reason; an empty config loads only when streaming
    failures = list(load_dataset(args.output, "failures", split="train", streaming=True))
    print(f"{len(failures)} failed attempts", *(f"  {f['reason']}" for f in failures[:3]), sep="\n")
    provenance = json.loads((Path(args.output) / "provenance.json").read_text())
    print("provenance keys:", ", ".join(sorted(provenance)))


if __name__ == "__main__":
    main()
