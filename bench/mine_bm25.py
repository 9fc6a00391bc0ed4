"""Benchmark: our default BM25 miner (bm25s) vs the rank-bm25 reference on SciFact, plus nDCG@10.

Corpus: SciFact in BEIR layout (5,183 abstracts, whole documents, title + text), all 1,109 claims as
queries, top-100 per query. Both miners use the same analyzer (NFKC, casefold, English stopwords, Snowball
stemmer). Search throughput (queries/s) counts query analysis and scoring, not indexing (reported apart).
nDCG@10 of our BM25 on the 300 test claims (``qrels/test.tsv``) is computed with pytrec_eval; the BEIR
paper reports about 0.665 for BM25 on SciFact (Thakur et al. 2021).

    python bench/mine_bm25.py [--data-root ../shared/data] [--threads 0] [--rank-bm25-queries N] [--pyserini]

The last line printed is ``NAME: VALUE (goal: ...)``: the search speedup over rank-bm25 (goal: >= 20x).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from drama_data.chunking import load_passages  # noqa: E402
from drama_data.corpus import iter_jsonl  # noqa: E402
from drama_data.mining.bm25 import BM25sRetriever  # noqa: E402
from drama_data.mining.rank_bm25 import RankBM25Retriever  # noqa: E402


def ndcg10(run: dict[str, list[tuple[str, float]]], qrels: dict[str, dict[str, int]]) -> float:
    """Mean nDCG@10 over the queries in ``qrels`` (pytrec_eval; a query missing from the run counts 0)."""
    import pytrec_eval

    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"})
    scored = {q: {d: float(s) for d, s in run.get(q, [])} for q in qrels}
    per_query = evaluator.evaluate({q: v for q, v in scored.items() if v})
    return sum(per_query.get(q, {}).get("ndcg_cut_10", 0.0) for q in qrels) / len(qrels)


def timed_search(retriever, texts: list[str], k: int) -> tuple[list, float]:
    t = time.perf_counter()
    hits = retriever.search(texts, k)
    return hits, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"),
                    help="folder holding scifact/ (default: ../shared/data relative to the repo root)")
    ap.add_argument("-k", type=int, default=100)
    ap.add_argument("--threads", type=int, default=0, help="bm25s search threads (0 = calling thread)")
    ap.add_argument("--rank-bm25-queries", type=int, default=0,
                    help="time rank-bm25 on the first N queries only (0 = all, the default)")
    ap.add_argument("--pyserini", action="store_true", help="also time pyserini (starts a JVM)")
    args = ap.parse_args()

    root = Path(args.data_root) / "scifact"
    if not root.is_dir():
        sys.exit(f"no SciFact collection at {root} (pass --data-root)")
    passages, _ = load_passages(str(root), max_tokens=10**9)  # whole abstracts: BEIR evaluates documents
    queries = [(obj["_id"], obj["text"]) for _, obj in iter_jsonl(root / "queries.jsonl")]
    qrels: dict[str, dict[str, int]] = {}
    with open(root / "qrels" / "test.tsv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            qrels.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
    qids, texts = [q for q, _ in queries], [t for _, t in queries]
    print(f"machine: {platform.machine()} {os.cpu_count()} cpus, python {platform.python_version()}")
    print(f"corpus: {len(passages)} docs, {len(queries)} queries, k={args.k}, test queries with qrels: {len(qrels)}")

    ours = BM25sRetriever(threads=args.threads, progress=False)
    t = time.perf_counter()
    ours.index(passages)
    t_index = time.perf_counter() - t
    ours.search(texts[:10], args.k)  # warm-up (first-call imports)
    hits, t_ours = timed_search(ours, texts, args.k)
    qps_ours = len(texts) / t_ours
    nd_ours = ndcg10(dict(zip(qids, hits)), qrels)
    print(f"bm25s   {ours.describe()}")
    print(f"bm25s   index {t_index:.2f} s; search {len(texts)} q in {t_ours:.3f} s = {qps_ours:,.0f} q/s")

    ref = RankBM25Retriever(progress=False)
    t = time.perf_counter()
    ref.index(passages)
    t_index_ref = time.perf_counter() - t
    n_ref = args.rank_bm25_queries or len(texts)
    ref_hits, t_ref = timed_search(ref, texts[:n_ref], args.k)
    qps_ref = n_ref / t_ref
    print(f"rank-bm25 {ref.describe()}")
    print(f"rank-bm25 index {t_index_ref:.2f} s; search {n_ref} q in {t_ref:.3f} s = {qps_ref:,.1f} q/s")
    if n_ref == len(texts):
        print(f"rank-bm25 nDCG@10 (test, its defaults k1=1.5 b=0.75): {ndcg10(dict(zip(qids, ref_hits)), qrels):.4f}")

    if args.pyserini:
        from drama_data.mining.pyserini import PyseriniRetriever

        with PyseriniRetriever(threads=max(1, args.threads or 2), progress=False) as ps:
            t = time.perf_counter()
            ps.index(passages)
            t_index_ps = time.perf_counter() - t
            ps.search(texts[:10], args.k)
            ps_hits, t_ps = timed_search(ps, texts, args.k)
            print(f"pyserini index {t_index_ps:.2f} s; search {len(texts)} q in {t_ps:.3f} s = "
                  f"{len(texts) / t_ps:,.0f} q/s; nDCG@10 {ndcg10(dict(zip(qids, ps_hits)), qrels):.4f}")

    result = {"bm25s_qps": round(qps_ours, 1), "rank_bm25_qps": round(qps_ref, 2),
              "speedup": round(qps_ours / qps_ref, 1), "ndcg10_bm25s": round(nd_ours, 4)}
    print("json:", json.dumps(result))
    print(f"bm25s_ndcg@10_scifact_test: {nd_ours:.4f} (goal: about 0.665, BEIR paper BM25)")
    print(f"bm25s_speedup_vs_rank_bm25: {qps_ours / qps_ref:.1f}x (goal: >= 20x)")


if __name__ == "__main__":
    main()
