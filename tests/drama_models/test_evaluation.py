"""BEIR reader, metrics (against a hand computation), search, BM25 and the evaluate() API."""
import json
import math
from pathlib import Path

import numpy as np
import pytest
from tiny_models import one_torch_thread, tiny_model_dir  # noqa: F401

from drama_models.beir import BeirCollection, BeirFormatError, detect_language, load_beir
from drama_models.evaluation import bm25_run, compute_metrics, dense_run, evaluate, format_table, ranked, write_trec_run

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see tiny_models.one_torch_thread

DOCS = {
    "d1": "Aspirin reduces fever and pain in adults.",
    "d2": "The Eiffel tower is in Paris, France.",
    "d3": "Photosynthesis converts light into chemical energy.",
    "d4": "Mount Everest is the highest mountain.",
}
QUERIES = {"q1": "does aspirin reduce fever", "q2": "where is the eiffel tower", "q3": "highest mountain on earth"}


def make_beir(root: Path, qrels_lines, docs=DOCS, queries=QUERIES, gz=False) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "qrels").mkdir(exist_ok=True)
    lines = "".join(json.dumps({"_id": k, "title": "", "text": v}) + "\n" for k, v in docs.items())
    if gz:
        import gzip

        with gzip.open(root / "corpus.jsonl.gz", "wt", encoding="utf-8") as f:
            f.write(lines)
    else:
        (root / "corpus.jsonl").write_text(lines)
    (root / "queries.jsonl").write_text("".join(json.dumps({"_id": k, "text": v}) + "\n" for k, v in queries.items()))
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(l + "\n" for l in qrels_lines))
    return root


GOOD_QRELS = ["q1\td1\t1", "q2\td2\t1", "q3\td4\t1"]


# ------------------------------------------------------------------ metrics


def test_metrics_match_hand_computation():
    qrels = {"q1": {"d1": 1, "d2": 2}, "q2": {"d3": 1}, "q3": {"d4": 1}, "q4": {"d5": 1}, "q5": {"a": 1}}
    run = {
        "q1": {"d3": 0.9, "d1": 0.8, "d4": 0.7, "d2": 0.6},  # relevant at ranks 2 (gain 1) and 4 (gain 2)
        "q2": {"d3": 0.5, "d1": 0.4},  # relevant at rank 1
        # q3: nothing retrieved -> counts as 0 in every mean
        "q4": {**{f"x{i}": 1.0 - i / 20 for i in range(10)}, "d5": 0.01},  # relevant at rank 11
        "q5": {"a": 0.5, "b": 0.5},  # tie: trec_eval puts "b" first (doc id descending), so "a" is rank 2
    }
    ndcg_q1 = (1 / math.log2(3) + 2 / math.log2(5)) / (2 / math.log2(2) + 1 / math.log2(3))
    ndcg_q5 = (1 / math.log2(3)) / 1.0
    m = compute_metrics(qrels, run)
    assert m["num_queries"] == 5
    assert m["ndcg@10"] == pytest.approx((ndcg_q1 + 1 + 0 + 0 + ndcg_q5) / 5, abs=1e-12)
    assert m["recall@100"] == pytest.approx((1 + 1 + 0 + 1 + 1) / 5, abs=1e-12)
    assert m["mrr@10"] == pytest.approx((0.5 + 1 + 0 + 0 + 0.5) / 5, abs=1e-12)
    assert m["per_query"]["q4"] == {"ndcg@10": 0.0, "recall@100": 1.0, "mrr@10": 0.0}


def test_trec_run_file(tmp_path):
    path = write_trec_run({"q1": {"a": 0.5, "b": 0.9}, "q2": {"c": 0.1}}, tmp_path / "r.trec", "my model")
    assert path.read_text().splitlines() == [
        "q1 Q0 b 1 0.900000 my_model",
        "q1 Q0 a 2 0.500000 my_model",
        "q2 Q0 c 1 0.100000 my_model",
    ]


# ------------------------------------------------------------------ reader and bad input


@pytest.mark.parametrize("gz", [False, True])
def test_reader(tmp_path, gz):
    c = load_beir(make_beir(tmp_path / "c", GOOD_QRELS, gz=gz))
    assert c.qrels == {"q1": {"d1": 1}, "q2": {"d2": 1}, "q3": {"d4": 1}}
    assert set(c.queries) == {"q1", "q2", "q3"} and len(c.corpus) == 4
    assert c.skipped == {"qrels_unknown_query": 0, "qrels_unknown_doc": 0, "queries_dropped": 0}


def test_unknown_ids_in_qrels_are_skipped_and_counted_or_strict(tmp_path, caplog):
    folder = make_beir(tmp_path / "c", GOOD_QRELS + ["q1\tnope\t1", "q9\td1\t1", "q2\tghost\t1"])
    c = load_beir(folder)
    assert c.skipped == {"qrels_unknown_query": 1, "qrels_unknown_doc": 2, "queries_dropped": 1}
    assert c.qrels["q1"] == {"d1": 1} and "q9" not in c.qrels
    assert "skipped 1 judgement(s) naming unknown queries" in caplog.text
    with pytest.raises(BeirFormatError, match=r"test\.tsv: 1 query id\(s\) not in queries\.jsonl .*'q9'.*2 document"):
        load_beir(folder, strict=True)


def test_empty_split_names_the_file(tmp_path):
    folder = make_beir(tmp_path / "c", [])
    with pytest.raises(BeirFormatError, match=r"qrels/test\.tsv: empty split"):
        load_beir(folder)
    with pytest.raises(BeirFormatError, match=r"qrels/dev\.tsv: qrels file not found"):
        load_beir(folder, "dev")


def test_malformed_files_name_file_and_line(tmp_path):
    folder = make_beir(tmp_path / "c", GOOD_QRELS)
    with open(folder / "corpus.jsonl", "a") as f:
        f.write("{not json\n")
    with pytest.raises(BeirFormatError, match=r"corpus\.jsonl:5: not valid JSON"):
        load_beir(folder)
    folder = make_beir(tmp_path / "d", GOOD_QRELS + ["q1 d2 1"])
    with pytest.raises(BeirFormatError, match=r"test\.tsv:5: expected 3 tab-separated fields"):
        load_beir(folder)
    folder = make_beir(tmp_path / "e", GOOD_QRELS)
    with open(folder / "corpus.jsonl", "a") as f:
        f.write(json.dumps({"_id": "d1", "text": "again"}) + "\n")
    with pytest.raises(BeirFormatError, match=r"corpus\.jsonl:5: duplicate document id 'd1'"):
        load_beir(folder)


def test_all_judgements_unknown_is_an_error(tmp_path):
    with pytest.raises(BeirFormatError, match="no judgement names a known query and document"):
        load_beir(make_beir(tmp_path / "c", ["q1\tzzz\t1"]))


# ------------------------------------------------------------------ search and BM25


class _FixedEncoder:
    """Returns preset embeddings (documents then queries), as DramaEncoder's encode_* would."""

    def __init__(self, docs, queries):
        self.docs, self.queries = docs, queries

    def encode_documents(self, texts, **_):
        assert len(texts) == len(self.docs)
        return self.docs

    def encode_queries(self, texts, **_):
        assert len(texts) == len(self.queries)
        return self.queries


@pytest.mark.parametrize("method", ["auto", "exact", "faiss"])
def test_dense_run_agrees_with_brute_force(method):
    rng = np.random.default_rng(0)
    docs = rng.standard_normal((1000, 16)).astype(np.float32)
    queries = rng.standard_normal((7, 16)).astype(np.float32)
    collection = BeirCollection(name="r", path=Path("."), split="test", corpus={f"d{i}": {"title": "", "text": "x"} for i in range(1000)},
                                queries={f"q{i}": "x" for i in range(7)}, qrels={})
    run = dense_run(_FixedEncoder(docs, queries), collection, k=10, search_method=method, show_progress=False)
    truth = np.argsort(-(queries @ docs.T), axis=1)[:, :10]
    for row, (_qid, hits) in enumerate(run.items()):
        assert [d for d, _ in ranked(hits)] == [f"d{i}" for i in truth[row]]
        np.testing.assert_allclose(sorted(hits.values(), reverse=True), (queries @ docs.T)[row, truth[row]], rtol=1e-5)
    with pytest.raises(ValueError, match="`search_method`"):
        dense_run(_FixedEncoder(docs, queries), collection, k=5, search_method="annoy")


def test_bm25_run_and_language_rules(tmp_path):
    collection = BeirCollection(name="t", path=tmp_path, split="test", corpus={d: {"title": "", "text": t} for d, t in DOCS.items()},
                                queries=QUERIES, qrels={})
    run = bm25_run(collection, k=2)
    assert max(run["q1"], key=run["q1"].get) == "d1" and max(run["q3"], key=run["q3"].get) == "d4"
    assert all(len(v) <= 2 for v in run.values())
    (tmp_path / "SOURCE.md").write_text("- **Language:** German\n")
    assert detect_language(tmp_path) == "de"
    (tmp_path / "SOURCE.md").write_text("- **Language:** Chinese (Simplified)\n")
    assert detect_language(tmp_path) == "zh"
    assert detect_language(tmp_path / "nowhere", ["黑豹队的防守只丢了分"]) == "zh"
    assert detect_language(tmp_path / "nowhere", ["plain English"]) == "en"


# ------------------------------------------------------------------ evaluate() end to end


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory.mktemp("m") / "llama", "llama")


def test_evaluate_writes_runs_metrics_and_table(tmp_path, tiny_model):
    a = make_beir(tmp_path / "alpha", GOOD_QRELS)
    b = make_beir(tmp_path / "beta", GOOD_QRELS + ["q1\tmissing\t1"])
    out = tmp_path / "out"
    results = evaluate(str(tiny_model), [a, b], bm25=True, output_dir=out, show_progress=False)
    assert [(r["dataset"], r["system"]) for r in results] == [
        ("alpha", "llama"), ("alpha", "BM25"), ("beta", "llama"), ("beta", "BM25")]
    bm25_alpha = results[1]
    assert bm25_alpha["ndcg@10"] == pytest.approx(1.0) and bm25_alpha["num_queries"] == 3
    assert results[2]["skipped"]["qrels_unknown_doc"] == 1
    lines = (out / "alpha" / "llama.trec").read_text().splitlines()
    assert len(lines) == 3 * 4 and lines[0].split()[1] == "Q0"
    metrics = json.loads((out / "beta" / "BM25.metrics.json").read_text())
    assert set(metrics["per_query"]) == {"q1", "q2", "q3"}
    table = (out / "results.md").read_text()
    assert "| alpha | BM25 | 1.0000 |" in table and "average (2)" in table
    assert json.loads((out / "results.json").read_text()) == results
    assert format_table(results).splitlines()[0].startswith("| dataset | system | nDCG@10")


def test_evaluate_rejects_shallow_runs(tmp_path):
    with pytest.raises(ValueError, match="`k`=10"):
        evaluate(None, [tmp_path], bm25=True, k=10)


def test_trec_round_trip_and_fused_run(tmp_path):
    """A written run reads back; fusing a run with itself keeps its order; fusion is the miner's z-score fusion."""
    from drama_data.mining.hybrid import z_fuse
    from drama_models.evaluation import fused_run, read_trec_run, write_trec_run

    lexical = {"q1": {"a": 12.0, "b": 9.0, "c": 1.5}, "q2": {"b": 3.0}}
    dense = {"q1": {"c": 0.9, "a": 0.5, "d": 0.4}, "q2": {"a": 0.7, "b": 0.2}}
    back = read_trec_run(write_trec_run(lexical, tmp_path / "x.trec", "bm25"))
    assert back == {q: pytest.approx(d) for q, d in lexical.items()}
    same = fused_run(dense, dense)
    assert [d for d, _ in sorted(same["q1"].items(), key=lambda x: -x[1])] == ["c", "a", "d"]
    fused = fused_run(lexical, dense, 0.5)
    assert fused["q1"] == pytest.approx(z_fuse(sorted(lexical["q1"].items(), key=lambda x: -x[1]),
                                                sorted(dense["q1"].items(), key=lambda x: -x[1]), 0.5))
    # d is not in BM25's list: it gets BM25's lowest score (1.5), like c
    assert fused["q1"]["d"] < fused["q1"]["c"]
    (tmp_path / "bad.trec").write_text("q1 Q0 a 1\n")
    with pytest.raises(ValueError, match="bad.trec:1"):
        read_trec_run(tmp_path / "bad.trec")


def test_missing_data_folders_fail_before_the_model_loads(tmp_path, monkeypatch):
    """Every --data folder is checked first: one line naming it (no Hub lookup, no model loaded)."""
    from drama_data.sources import SourceError
    from drama_models import encoder

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(encoder.DramaEncoder, "from_pretrained",
                        classmethod(lambda cls, *a, **k: pytest.fail("the model loaded before the data was checked")))
    good = make_beir(tmp_path / "good", ["q1\td1\t1"])
    for missing in ("data/scifact", "BeIR/scifact", str(tmp_path / "nope")):
        with pytest.raises(SourceError, match=f"^--data: no such folder: {missing} \\(a BEIR folder"):
            evaluate("some/model", [good, missing])
    (tmp_path / "file.jsonl").write_text("{}\n")
    with pytest.raises(SourceError, match="^--data: not a folder: file.jsonl"):
        evaluate(None, ["file.jsonl"], bm25=True)


def test_results_table_matches_the_golden_text():
    """results.md / the printed table: byte-identical to the text captured before it moved to cards/ (a template)."""
    rows = [
        {"dataset": "scifact", "system": "drama-base", "ndcg@10": 0.712345, "recall@100": 0.95, "mrr@10": 0.66666,
         "num_queries": 300, "num_docs": 5183},
        {"dataset": "scifact", "system": "BM25", "ndcg@10": 0.665, "recall@100": 0.9081, "mrr@10": 0.63,
         "num_queries": 300, "num_docs": 5183},
        {"dataset": "nfcorpus", "system": "drama-base", "ndcg@10": 0.35, "recall@100": 0.3, "mrr@10": 0.55,
         "num_queries": 323, "num_docs": 3633},
        {"dataset": "nfcorpus", "system": "BM25", "ndcg@10": 0.325, "recall@100": 0.25, "mrr@10": 0.5,
         "num_queries": 323, "num_docs": 3633},
    ]
    text = ("===== two datasets\n" + format_table(rows) + "\n===== one dataset\n" + format_table(rows[:2])
            + "\n===== empty\n" + format_table([]) + "\n")
    assert text == (Path(__file__).parent / "golden" / "results_table.md").read_text(encoding="utf-8")
