"""Why the cpu-demo's generated data barely moves all-MiniLM-L6-v2: diagnostics on the SciFact dev split.

Same dev split as ``bench/cpu_demo_ablations.py`` (SciFact *train* claims over their judged documents plus 1,200
others; the test claims are only counted in ``overlap``, never scored). Each mode prints ``RESULT ...`` lines;
the last line is the headline.

- ``overlap``: how many SciFact *test* claims share a relevant document with a *train* claim (the human-query
  control of issue 11, +5.2 points on test, trains on those documents).
- ``human-halves``: query-side training (below) on half the train claims with their judged documents, scored on
  the other half, and on the part of that half whose documents no training claim touches (the "disjoint" row).
- ``query-side``: only a copy of the encoder for queries is trained; passages keep the untrained model's
  embeddings (encoded once). Steps are then cheap (about 0.6 s for 32 queries on 2 cores against 7,000 fixed
  passages), so many more steps fit than with the symmetric trainer. Training rows come from a ``mine`` output
  (``--cands``: generated queries or crops with hybrid candidates); the loss is KL(teacher || student) over the
  top ``--topk`` candidates (teacher = the miner's fused scores) plus InfoNCE against every fixed passage with the
  source passage as positive. The dev score is split into claims whose judged document was a source of a
  training row ("covered") and the rest.
- ``dev-crops``: query-side InfoNCE on sentences cropped from every dev document (full coverage, no LLM).
- ``titles``: symmetric in-batch InfoNCE on (title -> abstract) pairs of every dev document.
- ``dev-crops-kl``: GPL-style pseudo-labels without an LLM: two cropped sentences of every dev document as
  queries, the hybrid teacher (BM25 + the untrained encoder, z-score fusion as ``mine --retriever hybrid``) over
  the dev collection, query-side KL(teacher || student) over the teacher's top ``--topk`` (no InfoNCE); the
  dev score every 100 steps.
- ``hard-docs``: would picking the documents that get an LLM query help? A document is "hard" when the untrained
  encoder misses it at rank 1 for one of three of its own cropped sentences; prints the hard documents' share of
  the collection and of the untrained encoder's nDCG@10 shortfall (sum of 1 - nDCG@10) on the dev claims.

    python bench/cpu_demo_diagnostics.py overlap
    python bench/cpu_demo_diagnostics.py query-side --cands runs/cpu-demo/mine/queries --steps 200
    python bench/cpu_demo_diagnostics.py human-halves --steps 100
    python bench/cpu_demo_diagnostics.py dev-crops-kl --steps 500
    python bench/cpu_demo_diagnostics.py hard-docs
"""
from __future__ import annotations

import argparse
import glob
import random
import re
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))


def mean_ndcg(per_query: dict, qids) -> float | None:
    qids = list(qids)
    return round(float(np.mean([per_query[q]["ndcg@10"] for q in qids])), 4) if qids else None


class FixedPassages:
    """The dev collection and the untrained encoder's document embeddings (computed once per process)."""

    def __init__(self, data_root: Path, model: str):
        from cpu_demo_ablations import dev_collection

        from drama_models.encoder import DramaEncoder

        self.dev = dev_collection(data_root, 1200, 0)
        self.model = model
        self.base = DramaEncoder.from_pretrained(model)
        self.doc_ids = list(self.dev.corpus)
        self.docs = self.base.encode_documents(self.dev.document_texts(self.doc_ids), show_progress=True)

    def metrics(self, encoder, qids) -> dict:
        """:func:`compute_metrics` of ``encoder``'s queries (``qids``) against the fixed document embeddings."""
        import torch

        from drama_models.evaluation import compute_metrics

        encoder.train(False)  # inference mode (module.eval)
        with torch.no_grad():
            q = encoder.encode_queries([self.dev.queries[i] for i in qids], show_progress=False)
        s = q @ self.docs.T
        top = np.argsort(-s, axis=1)[:, :100]
        run = {qid: {self.doc_ids[j]: float(s[n, j]) for j in top[n]} for n, qid in enumerate(qids)}
        return compute_metrics({q: self.dev.qrels[q] for q in qids}, run)

    def score(self, encoder, qids, covered: set[str] = frozenset()) -> dict:
        """nDCG@10 over ``qids``, and over the claims whose judged document is / is not in ``covered``."""
        m = self.metrics(encoder, qids)
        pq = m["per_query"]
        cov = [q for q in pq if set(self.dev.qrels[q]) & covered]
        return {"ndcg@10": round(m["ndcg@10"], 4), "covered": (len(cov), mean_ndcg(pq, cov)),
                "uncovered": (len(pq) - len(cov), mean_ndcg(pq, set(pq) - set(cov)))}


def train_query_side(model: str, rows, passages: np.ndarray, a, every=None) -> object:
    """rows: ``(query, candidate_indices, teacher_scores or None, positive position in candidates or -1)``."""
    import torch

    from drama_models.encoder import DramaEncoder

    torch.manual_seed(a.seed)
    rng = random.Random(a.seed)
    enc = DramaEncoder.from_pretrained(model)
    enc.train()
    opt = torch.optim.AdamW(enc.parameters(), lr=a.lr, weight_decay=0.0)
    fixed = torch.from_numpy(passages)
    t0 = time.time()
    for step in range(1, a.steps + 1):
        for g in opt.param_groups:
            g["lr"] = a.lr * min(1.0, step / max(1, a.steps // 10))
        batch = rng.sample(rows, min(a.batch_size, len(rows)))
        q = enc.encode(enc.tokenize([enc.query_prefix + b[0] for b in batch], 32))
        loss = torch.zeros(())
        if a.kl:
            kl = [torch.nn.functional.kl_div(torch.log_softmax(fixed[b[1]] @ q[i] / a.temperature, -1),
                                             torch.log_softmax(torch.from_numpy(b[2]), -1),
                                             log_target=True, reduction="sum")
                  for i, b in enumerate(batch) if b[2] is not None]
            if kl:
                loss = loss + a.kl * torch.stack(kl).mean()
        have = [i for i, b in enumerate(batch) if b[3] >= 0]
        if a.nce and have:
            target = torch.tensor([batch[i][1][batch[i][3]] for i in have])
            loss = loss + a.nce * torch.nn.functional.cross_entropy(q[have] @ fixed.T / a.temperature, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0 or step == a.steps:
            print(f"step {step} loss {loss.item():.3f} {time.time() - t0:.0f}s", flush=True)
        if every and step % 100 == 0:
            print(f"RESULT step {step}", every(enc), flush=True)
            enc.train()
    return enc


def dev_crops(fx, seed: int, per_doc: int = 2) -> list[tuple[str, int]]:
    """``per_doc`` random sentences (6-40 words) of every dev document: ``(sentence, document index)``."""
    rng = random.Random(seed)
    rows = []
    for j, d in enumerate(fx.doc_ids):
        sents = [s for s in re.split(r"(?<=[.!?])\s+", fx.dev.corpus[d]["text"]) if 6 <= len(s.split()) <= 40]
        rng.shuffle(sents)
        rows += [(s, j) for s in sents[:per_doc]]
    return rows


def teacher_rows(fx, crops, topk: int):
    """The hybrid teacher's top ``topk`` over the dev collection for each crop: rows for :func:`train_query_side`."""
    from drama_data.chunking import Passage
    from drama_data.mining.bm25 import BM25sRetriever
    from drama_data.mining.hybrid import z_fuse

    bm25 = BM25sRetriever("en", progress=False)
    bm25.index([Passage(d, d, 0, fx.dev.corpus[d].get("title", ""), fx.dev.corpus[d]["text"]) for d in fx.doc_ids])
    row = {d: i for i, d in enumerate(fx.doc_ids)}
    s = fx.base.encode_queries([c[0] for c in crops], show_progress=True) @ fx.docs.T
    lexical = bm25.search([c[0] for c in crops], 100)
    rows = []
    for i, (text, _) in enumerate(crops):
        dense = [(fx.doc_ids[j], float(s[i, j])) for j in np.argsort(-s[i])[:100]]
        fused = z_fuse(lexical[i], dense, 0.5, {d: float(s[i, row[d]]) for d, _ in lexical[i]})
        top = sorted(fused.items(), key=lambda x: -x[1])[:topk]
        rows.append((text, [row[d] for d, _ in top], np.array([v for _, v in top], np.float32), -1))
    return rows


def mined_rows(cands: str, base, topk: int):
    import pandas as pd

    cand = pd.read_parquet(glob.glob(f"{cands}/data/candidates/*.parquet"))
    pas = pd.read_parquet(glob.glob(f"{cands}/data/passages/*.parquet"))
    index = {p: i for i, p in enumerate(pas["id"])}
    passages = base.encode_documents([f"{t} {x}".strip() for t, x in zip(pas["title"], pas["text"])],
                                     show_progress=True)
    rows = []
    for r in cand.itertuples():
        c = list(r.candidates)[:topk]
        src = [k for k, x in enumerate(c) if x["is_source"]]
        rows.append((r.query, [index[x["docid"]] for x in c], np.array([x["score"] for x in c], np.float32),
                     src[0] if src else -1))
    covered = {str(p).split("#")[0] for p in cand["source_passage_id"]}
    return rows, passages, covered


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mode", choices=["overlap", "human-halves", "query-side", "dev-crops", "titles", "dev-crops-kl", "hard-docs"])
    ap.add_argument("--data-root", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--cands", help="query-side: a `drama-data mine --retriever hybrid` output")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-5)
    ap.add_argument("--temperature", type=float, default=0.05)
    ap.add_argument("--kl", type=float, default=1.0, help="query-side: weight of the teacher KL")
    ap.add_argument("--nce", type=float, default=1.0, help="query-side: weight of InfoNCE on the source passage")
    ap.add_argument("--topk", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    if a.mode == "overlap":
        from drama_models.beir import read_qrels

        folder = a.data_root / "scifact" / "qrels"
        train, test = read_qrels(folder / "train.tsv"), read_qrels(folder / "test.tsv")
        train_docs = {d for q in train.values() for d in q}
        shared = sum(1 for q in test.values() if set(q) & train_docs)
        print(f"scifact_test_claims_sharing_a_train_document: {shared}/{len(test)} ({shared / len(test):.0%})")
        return

    from scifact_data import minilm_path

    model = minilm_path()
    fx = FixedPassages(a.data_root, model)
    dev, qids = fx.dev, list(fx.dev.queries)
    print("RESULT untrained", fx.score(fx.base, qids), flush=True)
    if a.mode == "query-side":
        if not a.cands:
            raise SystemExit("query-side needs --cands DIR (a mine output)")
        rows, passages, covered = mined_rows(a.cands, fx.base, a.topk)
        print("RESULT untrained (coverage split)", fx.score(fx.base, qids, covered), flush=True)
        enc = train_query_side(model, rows, passages, a)
        result = fx.score(enc, qids, covered)
    elif a.mode == "human-halves":
        order = sorted(qids)
        random.Random(1).shuffle(order)
        half = order[: len(order) // 2]
        docs_a = {d for q in half for d in dev.qrels[q]}
        rows = [(dev.queries[q], [fx.doc_ids.index(d) for d in dev.qrels[q]], None, 0) for q in half]
        rest = order[len(order) // 2:]
        disjoint = [q for q in rest if not set(dev.qrels[q]) & docs_a]
        a.kl = 0
        print("RESULT untrained (other half, disjoint part)", fx.score(fx.base, rest), fx.score(fx.base, disjoint))
        enc = train_query_side(model, rows, fx.docs, a)
        print("RESULT trained on half A, other half", fx.score(enc, rest), flush=True)
        result = fx.score(enc, disjoint)
        print(f"RESULT trained on half A, disjoint part ({len(disjoint)} claims)", result)
    elif a.mode == "dev-crops":
        rows = [(text, [j], None, 0) for text, j in dev_crops(fx, a.seed)]
        a.kl = 0
        enc = train_query_side(model, rows, fx.docs, a)
        result = fx.score(enc, qids)
    elif a.mode == "hard-docs":
        crops = dev_crops(fx, a.seed, per_doc=3)
        s = fx.base.encode_queries([c[0] for c in crops], show_progress=True) @ fx.docs.T
        hard = {fx.doc_ids[j] for i, (_, j) in enumerate(crops) if int(np.argmax(s[i])) != j}
        per_query = {q: m["ndcg@10"] for q, m in fx.metrics(fx.base, qids)["per_query"].items()}
        shortfall = {q: 1 - per_query[q] for q in qids}
        on_hard = [q for q in qids if set(dev.qrels[q]) & hard]
        share = sum(shortfall[q] for q in on_hard) / sum(shortfall.values())
        result = {"ndcg@10": round(float(np.mean(list(per_query.values()))), 4), "hard_documents": len(hard),
                  "documents": len(fx.doc_ids), "claims_on_hard": len(on_hard), "shortfall_share": round(share, 3)}
    elif a.mode == "dev-crops-kl":
        rows = teacher_rows(fx, dev_crops(fx, a.seed), a.topk)
        a.nce = 0
        enc = train_query_side(model, rows, fx.docs, a, every=lambda e: fx.score(e, qids))
        result = fx.score(enc, qids)
    else:  # titles
        import torch

        from drama_models.encoder import DramaEncoder

        torch.manual_seed(a.seed)
        rng = random.Random(a.seed)
        pairs = [(v["title"], v["text"]) for v in dev.corpus.values() if v["title"] and v["text"]]
        enc = DramaEncoder.from_pretrained(model)
        enc.train()
        opt = torch.optim.AdamW(enc.parameters(), lr=a.lr, weight_decay=0.0)
        for step in range(1, a.steps + 1):
            for g in opt.param_groups:
                g["lr"] = a.lr * min(1.0, step / max(1, a.steps // 10))
            b = rng.sample(pairs, a.batch_size)
            q, p = enc.encode(enc.tokenize([x[0] for x in b], 32)), enc.encode(enc.tokenize([x[1] for x in b], 128))
            loss = torch.nn.functional.cross_entropy(q @ p.T / a.temperature, torch.arange(len(b)))
            opt.zero_grad()
            loss.backward()
            opt.step()
        from drama_models.evaluation import compute_metrics, dense_run

        enc.train(False)  # inference mode (module.eval)
        with torch.no_grad():
            result = {"ndcg@10": round(compute_metrics(dev.qrels, dense_run(enc, dev, show_progress=False))["ndcg@10"], 4)}
    print(f"RESULT {a.mode}", result, flush=True)
    print(f"cpu_demo_diagnostics_{a.mode.replace('-', '_')}_dev_ndcg10: {result['ndcg@10']} (untrained: see above)")


if __name__ == "__main__":
    main()
