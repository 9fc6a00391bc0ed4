"""Hybrid mining: BM25 + dense z-score fusion equals the formula; endpoints follow one side; cache round trip."""

import numpy as np
import pytest
from mining_helpers import HashEncoder  # noqa: E402

from drama_data.errors import ConfigError
from drama_data.mining import make_retriever
from drama_data.mining.bm25 import BM25sRetriever
from drama_data.mining.dense import DenseRetriever
from drama_data.mining.hybrid import HybridRetriever


def _by_formula(passages, query, weight, depth):
    """The module docstring's formula, computed independently from the two retrievers' own results."""
    bm = BM25sRetriever(progress=False)
    bm.index(passages)
    de = DenseRetriever(encoder=HashEncoder(), progress=False)
    de.index(passages)
    lex = dict(bm.search([query], depth)[0])
    den_hits = de.search([query], depth)[0]
    q = de._encode([query], "queries")[0]
    emb = {p.id: de.embeddings[i] for i, p in enumerate(passages)}
    union = set(lex) | {d for d, _ in den_hits}
    d_vals = np.array([s for _, s in den_hits])
    b_vals = np.array(list(lex.values()))
    fused = {}
    for d in union:
        zd = (float(emb[d] @ q) - d_vals.mean()) / max(d_vals.std(), 1e-6)
        zb = (lex.get(d, b_vals.min()) - b_vals.mean()) / max(b_vals.std(), 1e-6)
        fused[d] = weight * zd + (1 - weight) * zb
    return fused


def test_fusion_matches_the_formula(sample_passages):
    query = "vitamin D deficiency and bone density in older adults"
    r = HybridRetriever(encoder=HashEncoder(), depth=15, progress=False)
    r.index(sample_passages)
    hits = r.search([query], 10)[0]
    expected = _by_formula(sample_passages, query, 0.5, 15)
    assert len(hits) == 10
    assert [d for d, _ in hits] == sorted(expected, key=lambda d: -expected[d])[:10]
    for d, s in hits:
        assert s == pytest.approx(expected[d], abs=1e-4)


def test_weight_one_is_the_dense_order(sample_passages, sample_queries):
    queries = [t for _, t in sample_queries[:5]]
    r = HybridRetriever(encoder=HashEncoder(), weight=1.0, depth=50, progress=False)
    r.index(sample_passages)
    de = DenseRetriever(encoder=HashEncoder(), progress=False)
    de.index(sample_passages)
    assert [[d for d, _ in h] for h in r.search(queries, 5)] == [[d for d, _ in h] for h in de.search(queries, 5)]


def test_save_load_and_options(tmp_path, sample_passages):
    r = HybridRetriever(encoder=HashEncoder(), progress=False)
    r.index(sample_passages, folder=tmp_path)
    assert r.save(tmp_path)
    r2 = HybridRetriever(encoder=HashEncoder(), progress=False)
    assert r2.load(tmp_path) and r2.size == len(sample_passages)
    q = ["statin therapy and cholesterol"]
    assert r.search(q, 5) == r2.search(q, 5)
    assert r.settings()["bm25"]["name"] == "bm25s" and r.settings()["weight"] == 0.5
    with pytest.raises(ConfigError, match="--model"):
        make_retriever("hybrid")
    with pytest.raises(ConfigError, match="--weight"):
        HybridRetriever(encoder=HashEncoder(), weight=2.0)
