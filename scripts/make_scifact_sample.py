"""Rebuild ``drama_data/samples/scifact-sample`` from the full SciFact collection (BEIR layout).

Picks the first 20 test queries (``qrels/test.tsv`` order) with their relevant abstracts, then fills the
corpus up to 50 abstracts with each query's best-ranked non-relevant abstracts (round robin, bm25s
ranking), so that the sample has realistic hard negatives. Deterministic.

    python scripts/make_scifact_sample.py [--data-root ../shared/data] [--out drama_data/samples/scifact-sample]
"""
from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from drama_data.chunking import Passage
from drama_data.corpus import iter_jsonl
from drama_data.mining.bm25 import BM25sRetriever

N_QUERIES, N_DOCS = 20, 50


def main() -> None:
    root = Path(__file__).resolve().parents[1]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", default=str(root.parent / "shared" / "data"))
    ap.add_argument("--out", default=str(root / "drama_data" / "samples" / "scifact-sample"))
    args = ap.parse_args()
    src, out = Path(args.data_root) / "scifact", Path(args.out)

    docs = {obj["_id"]: obj for _, obj in iter_jsonl(src / "corpus.jsonl.gz")}
    queries = {obj["_id"]: obj for _, obj in iter_jsonl(src / "queries.jsonl")}
    qrels: dict[str, list[str]] = {}
    with open(src / "qrels" / "test.tsv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            qrels.setdefault(row["query-id"], []).append(row["corpus-id"])
    qids = list(qrels)[:N_QUERIES]
    chosen: list[str] = []
    for q in qids:
        for d in qrels[q]:
            if d not in chosen:
                chosen.append(d)

    retriever = BM25sRetriever(progress=False)
    retriever.index([Passage(id=i, doc_id=i, chunk=0, title=d.get("title", ""), text=d["text"])
                     for i, d in docs.items()])
    ranked = retriever.search([queries[q]["text"] for q in qids], k=N_DOCS)
    cursors = [0] * len(qids)
    while len(chosen) < N_DOCS:
        for qi, hits in enumerate(ranked):
            while cursors[qi] < len(hits) and hits[cursors[qi]][0] in chosen:
                cursors[qi] += 1
            if cursors[qi] < len(hits) and len(chosen) < N_DOCS:
                chosen.append(hits[cursors[qi]][0])

    (out / "qrels").mkdir(parents=True, exist_ok=True)
    order = [d for d in docs if d in set(chosen)]  # keep the source's corpus order
    with open(out / "corpus.jsonl", "w", encoding="utf-8") as fh:
        for d in order:
            fh.write(json.dumps({"_id": d, "title": docs[d].get("title", ""), "text": docs[d]["text"]},
                                ensure_ascii=False) + "\n")
    with open(out / "queries.jsonl", "w", encoding="utf-8") as fh:
        for q in qids:
            fh.write(json.dumps({"_id": q, "text": queries[q]["text"]}, ensure_ascii=False) + "\n")
    with open(out / "qrels" / "test.tsv", "w", encoding="utf-8") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        for q in qids:
            for d in qrels[q]:
                fh.write(f"{q}\t{d}\t1\n")
    print(f"wrote {len(order)} docs, {len(qids)} queries, {sum(len(qrels[q]) for q in qids)} qrels to {out}")


if __name__ == "__main__":
    main()
