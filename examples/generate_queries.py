"""Generate synthetic queries (QGen) for a corpus from Python: the same run as ``drama-data generate``.

In:  ``--corpus`` (default: the bundled SciFact sample), ``--output`` (default ``runs/example-qgen``),
     ``--limit`` passages (default 2), ``--model`` (default: the embedded Gemma-3-270M on the vllm backend).
Out: a dataset folder (configs ``queries`` and ``failures``), read back with ``datasets.load_dataset``.

    python examples/generate_queries.py --limit 2                 # 1-4 minutes on 2 CPU cores (engine start)
    python examples/generate_queries.py --limit 2                 # again: seconds (answers from the request cache)
    python examples/generate_queries.py --model Qwen/Qwen2.5-7B-Instruct --limit 100   # on a GPU

For a hosted API or a local OpenAI-compatible server pass ``backend_name="openai"`` and ``base_url=...``
(see docs/how-to/hosted-apis.md); the key comes from ``OPENAI_API_KEY`` (or ``api_key_env=``).
"""
import argparse

from _sample import SAMPLE
from datasets import load_dataset

from drama_data.api import run_generate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default=SAMPLE)
    ap.add_argument("--output", default="runs/example-qgen")
    ap.add_argument("--limit", type=int, default=2)
    ap.add_argument("--model", default=None, help="default: the embedded Gemma-3-270M")
    ap.add_argument("--no-cache", action="store_true", help="ignore the request cache (generate every answer)")
    args = ap.parse_args()

    summary = run_generate(task_name="queries", backend_name="vllm", model=args.model, corpus=args.corpus,
                           output=args.output, limit=args.limit, overwrite=True, no_progress=True,
                           no_cache=args.no_cache)
    print(summary.render())

    queries = load_dataset(args.output, "queries", split="train")
    for row in queries.select(range(min(3, len(queries)))):
        print(f"{row['passage_id']}: {row['query']}")


if __name__ == "__main__":
    main()
