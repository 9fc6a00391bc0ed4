"""``build`` on cross-lingual candidates mined with their source query or their passage's text: the source passage is
the positive, negatives in the passage's language, and the card and summary count rows per labelling way."""
from crosslingual_helpers import HAN, mine_zh, queries  # noqa: F401  (queries is a fixture)

from drama_data.build import build
from drama_data.build.config import load_config
from drama_data.datasets.folder import read_card, read_table


def test_build_labels_both_ways_and_counts_them(tmp_path, queries):
    mine_zh(queries, tmp_path)
    cfg = load_config(None, inputs=[{"candidates": str(tmp_path / "cands"), "queries": str(queries)}],
                      output=str(tmp_path / "out"), rules={"crosslingual": {"negatives": [5, 21]}, "qgen": {"negatives": [3, 21]}},
                      filters={"min_query_tokens": 1})
    report = build(cfg, progress=False)
    train = {r["query_id"]: r for r in read_table(tmp_path / "out", "train").to_pylist()}
    assert {"t1", "d1"} <= set(train)
    for qid, src in (("t1", "p0s0"), ("d1", "p0s1")):
        row = train[qid]
        assert [p["docid"] for p in row["positive_passages"]] == [src] and row["rule"] == "crosslingual"
        assert row["negative_passages"] and src not in {p["docid"] for p in row["negative_passages"]}
        assert all(HAN.search(p["text"]) for p in row["negative_passages"])  # in the passage's language
    assert train["t1"]["mined_with"] == "source_query" and train["d1"]["mined_with"] == "passage"
    assert report.counts["mined_with"]["source_query"] == 1 and report.counts["mined_with"]["passage"] == 1
    text = report.render()
    assert "mined with       passage 1, query 1, source_query 1" in text
    assert "source_query: cross-lingual translations labelled by their source query's ranking" in text
    _, body = read_card(tmp_path / "out")
    assert "| crosslingual | source_query | 1 |" in body and "| crosslingual | passage | 1 |" in body
