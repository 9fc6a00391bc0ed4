"""Pass rates of the language checks per method and language pair (issue 12) on XQuAD-R passages.

The first ``--passages`` sentences of ``xquad-r-de`` and of ``xquad-r-zh`` (passages only: the XQuAD-R
questions are test queries and are never read) go through, with one vLLM engine:

1. ``--task queries`` (in-language queries, checked like the cross-lingual ones on non-English passages),
2. ``--task crosslingual --method direct`` into ``--targets``,
3. ``--task crosslingual --method translate`` of the queries of step 1 into ``--targets``,

and the script prints, per step and (passage language -> query language) pair: slots, rows, slots without a
row, failed attempts, the share of slots that got a row, the share of attempts that passed, and the commonest
rejection reasons. The outputs stay in ``--out`` (dataset folders with cards).

    python bench/xl_pass_rates.py [--data-root ../shared/data] [--passages 20] [--targets en,de,zh]

(from a worktree whose code is not the installed one: ``PYTHONPATH=. python bench/xl_pass_rates.py``)

Last line: ``xl_slot_pass_rate: queries X, direct Y, translate Z``.
"""
from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

DEFAULT_DATA_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data"


def write_corpus(data_root: Path, n: int, folder: Path) -> Path:
    """The first ``n`` passages of xquad-r-de and of xquad-r-zh in one BEIR folder (ids ``de-…``, ``zh-…``)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as out:
        for lang in ("de", "zh"):
            with open(data_root / f"xquad-r-{lang}" / "corpus.jsonl", encoding="utf-8") as fh:
                for i, line in enumerate(fh):
                    if i >= n:
                        break
                    row = json.loads(line)
                    out.write(json.dumps({**row, "_id": f"{lang}-{row['_id']}"}, ensure_ascii=False) + "\n")
    return folder


def summarise(folder: Path) -> list[dict]:
    """Per (passage language, query language) of a generate output: slots, rows, failed slots and attempts,
    pass rates and the three commonest rejection reasons."""
    from drama_data.datasets.folder import read_table
    from drama_data.generate.runner import FAILURE_SCHEMA

    rows = read_table(folder, "queries").to_pylist() if (folder / "data" / "queries").is_dir() else []
    fails = read_table(folder, "failures", FAILURE_SCHEMA).to_pylist()
    pairs: dict[tuple, dict] = {}

    def entry(key):
        return pairs.setdefault(key, {"rows": 0, "failed_slots": 0, "failed_attempts": 0, "reasons": Counter()})

    for r in rows:
        entry((r.get("passage_language") or "?", r.get("language") or "?"))["rows"] += 1
    for f in fails:
        e = entry((f.get("passage_language") or "?", f.get("language") or "?"))
        e["failed_attempts"] += 1
        e["failed_slots"] += bool(f.get("final"))
        e["reasons"][f["reason"]] += 1
    out = []
    for (pl, ql), e in sorted(pairs.items()):
        slots = e["rows"] + e["failed_slots"]
        attempts = e["rows"] + e["failed_attempts"]
        out.append({"pair": f"{pl}->{ql}", "slots": slots, "rows": e["rows"], "failed_slots": e["failed_slots"],
                    "failed_attempts": e["failed_attempts"], "slot_pass_rate": e["rows"] / slots if slots else 0.0,
                    "attempt_pass_rate": e["rows"] / attempts if attempts else 0.0,
                    "reasons": e["reasons"].most_common(3)})
    return out


def render(name: str, table: list[dict]) -> str:
    lines = [f"### {name}", "", "| pair | slots | rows | slots without a row | failed attempts | slots passed | "
             "attempts passed | top reasons |", "|---|---|---|---|---|---|---|---|"]
    for t in table:
        reasons = "; ".join(f"{k} ({v})" for k, v in t["reasons"])
        lines.append(f"| {t['pair']} | {t['slots']} | {t['rows']} | {t['failed_slots']} | {t['failed_attempts']} | "
                     f"{t['slot_pass_rate']:.0%} | {t['attempt_pass_rate']:.0%} | {reasons} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", default=str(DEFAULT_DATA_ROOT))
    ap.add_argument("--passages", type=int, default=20, help="passages per language (de and zh)")
    ap.add_argument("--targets", default="en,de,zh")
    ap.add_argument("--model", default=None, help="default: the embedded Gemma-3-270M")
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--max-attempts", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="/tmp/xl-pass-rates")
    args = ap.parse_args()

    from drama_data.backends import build_backend
    from drama_data.backends.base import Sampling
    from drama_data.generate.cache import RequestCache
    from drama_data.generate.runner import CorpusOptions, generate
    from drama_data.tasks import get_task
    from drama_data.tasks.queries import PAPER_SAMPLING

    out = Path(args.out)
    corpus = write_corpus(Path(args.data_root), args.passages, out / "corpus")
    targets = [t for t in args.targets.split(",") if t]
    sampling = Sampling(temperature=PAPER_SAMPLING.temperature, top_p=PAPER_SAMPLING.top_p, max_tokens=args.max_tokens)
    common = {"sampling": sampling, "seed": args.seed, "max_attempts": args.max_attempts}
    backend = build_backend("vllm", args.model, echo=print, max_model_len=2048)
    cache = RequestCache(out / "requests.sqlite")
    steps = [("queries", get_task("queries", **common), corpus),
             ("direct", get_task("crosslingual", target_languages=targets, **common), corpus)]
    rates = {}
    try:
        for name, task, source in steps + [("translate", None, None)]:
            if name == "translate":
                task = get_task("crosslingual", target_languages=targets, method="translate",
                                queries=str(out / "queries"), **common)
                source = out / "queries"
            generate(task, CorpusOptions(str(source)), out / name, backend=backend, cache=cache, progress=False,
                     echo=None, overwrite=True)
            table = summarise(out / name)
            print(render(name, table) + "\n")
            slots = sum(t["slots"] for t in table)
            rates[name] = sum(t["rows"] for t in table) / slots if slots else 0.0
    finally:
        backend.close()
        cache.close()
    print("xl_slot_pass_rate: " + ", ".join(f"{k} {v:.2f}" for k, v in rates.items()))


if __name__ == "__main__":
    main()
