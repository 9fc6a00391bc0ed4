"""Listwise reranking: windows of all queries batched together vs one query (one request) at a time.

Candidates: bm25s top-``depth`` over scifact for the first ``--queries`` test queries. Both runs use the
same embedded Gemma-3-270M engine, the same prompts (window 20, stride 10), temperature 0, no request
cache, prefix cache reset before each. Reports wall time of each, the speed-up, and whether the final
rankings are identical (greedy decoding can differ in the last bits between batch shapes on CPU; the
share of identical rankings is printed).

Last line: ``rerank_batching: <speed-up>x (goal: >= 5x)``.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import pyarrow as pa

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--depth", type=int, default=40)
    ap.add_argument("--window", type=int, default=20)
    ap.add_argument("--stride", type=int, default=10)
    ap.add_argument("--passage-tokens", type=int, default=32, help="paper: 256; short here so CPU runs finish")
    ap.add_argument("--max-model-len", type=int, default=4096)
    a = ap.parse_args()
    root = Path(a.data_root) / "scifact"

    from drama_data.backends import make_backend
    from drama_data.datasets.folder import write_dataset
    from drama_data.mining.mine import mine
    from drama_data.rerank.stage import RerankSettings, _read_candidates, rerank
    from drama_data.tasks.prompting import load_prompt

    test_ids = []
    for line in (root / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        qid = line.split("\t")[0]
        if qid not in test_ids:
            test_ids.append(qid)
    queries = {}
    for line in (root / "queries.jsonl").read_text().splitlines():
        q = json.loads(line)
        queries[str(q["_id"])] = q["text"]
    chosen = [q for q in test_ids if q in queries][: a.queries]
    with tempfile.TemporaryDirectory() as tmp:
        rows = [{"query_id": q, "query": queries[q], "passage_id": "", "source": "beir", "language": "en"}
                for q in chosen]
        write_dataset(Path(tmp) / "q", {"queries": pa.Table.from_pylist(rows)}, default="queries", card_body="")
        mine(Path(tmp) / "q", str(root), Path(tmp) / "m", k=a.depth, work_dir=Path(tmp) / "work", progress=False)
        cands, texts = _read_candidates(str(Path(tmp) / "m"), a.depth, None)

    backend = make_backend("vllm", None, max_model_len=a.max_model_len)
    llm = backend.start()
    form = "chat" if backend.supports_chat() else "completion"
    prompt = load_prompt("rerank", form)
    settings = RerankSettings(depth=a.depth, window=a.window, stride=a.stride, passage_tokens=a.passage_tokens)
    timings, results = {}, {}
    for mode in (True, False):
        llm.reset_prefix_cache()
        t0 = time.time()
        results[mode], failures, stats = rerank(cands, texts, backend, None, settings, prompt,
                                                batch_queries=mode, progress=False)
        timings[mode] = time.time() - t0
        name = "batched across queries" if mode else "one query at a time"
        print(f"{name}: {timings[mode]:.1f} s for {stats.requests} window requests "
              f"({stats.completion_tokens} completion tokens; {len(failures)} windows repaired)")
    backend.close()
    same = sum(a["ranking"] == b["ranking"] for a, b in zip(results[True], results[False]))
    print(f"identical final rankings: {same}/{len(cands)}")
    print(f"rerank_batching: {timings[False] / timings[True]:.1f}x (goal: >= 5x)")


if __name__ == "__main__":
    main()
