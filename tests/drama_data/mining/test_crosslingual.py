"""Cross-lingual rows under a lexical retriever: mined with their source query or their passage's own text,
never their foreign query, and the clear errors when forced another way. Corpus: the shipped XQuAD-R Chinese
sample; queries written by :mod:`crosslingual_helpers`."""
import pytest
from crosslingual_helpers import HAN, ZH, queries  # noqa: F401  (queries is a fixture)
from crosslingual_helpers import mine_zh as _mine

from drama_data.datasets.folder import read_card, read_table
from drama_data.errors import ConfigError
from drama_data.mining.mine import mine


def test_translated_row_is_mined_with_its_source_query_direct_row_with_its_passage(tmp_path, queries):
    report = _mine(queries, tmp_path)
    assert report.mined_with == {"query": 1, "source_query": 1, "passage": 1} and report.cross_lingual_rows == 2
    assert "2 of 3 rows: 1 with their source query, 1 with their passage text" in report.render()
    rows = {r["query_id"]: r for r in read_table(tmp_path / "cands", "candidates").to_pylist()}
    t1, d1, z1 = rows["t1"], rows["d1"], rows["z1"]
    assert (t1["mined_with"], d1["mined_with"], z1["mined_with"]) == ("source_query", "passage", "query")
    assert t1["query"].startswith("Wie viele")  # the row keeps its (German) query; its ranking is the source query's
    assert t1["source_rank"] == 1 and d1["source_rank"] == 1  # the Chinese source query finds its passage first
    assert len(t1["candidates"]) > 3
    passages = {r["id"]: r["text"] for r in read_table(tmp_path / "cands", "passages").to_pylist()}
    assert all(HAN.search(passages[c["docid"]]) for r in (t1, d1) for c in r["candidates"])
    # passage rows are left out of the source-passage rate (a passage finds itself)
    assert report.with_source == 2
    _, body = read_card(tmp_path / "cands")
    assert "mined_with" in body and "1 with their source query" in body


def test_lexical_retriever_never_ranks_a_foreign_query(tmp_path, queries):
    with pytest.raises(ConfigError, match=r"row 1, query 't1' \(de query, zh passage\): --retriever bm25s is "
                                          r"lexical .* use --retriever dense --model M"):
        _mine(queries, tmp_path, cross_lingual="query")
    with pytest.raises(ConfigError, match=r"row 2, query 'd1' .*has no source query .*--cross-lingual passage"):
        _mine(queries, tmp_path, cross_lingual="source-query")
    report = _mine(queries, tmp_path, cross_lingual="passage")
    assert report.mined_with == {"query": 1, "passage": 2}


def test_dense_retriever_mines_cross_lingual_rows_with_the_query(tmp_path, queries):
    from mining_helpers import HashEncoder

    from drama_data.mining.dense import DenseRetriever

    report = mine(queries, str(ZH), tmp_path / "dense", k=21, retriever=DenseRetriever(encoder=HashEncoder()),
                  work_dir=tmp_path / "work", progress=False)
    assert report.mined_with == {"query": 3} and "mined with their own query" in report.cross_lingual_line
    assert set(read_table(tmp_path / "dense", "candidates").column("mined_with").to_pylist()) == {"query"}


def test_cli_error_is_one_line_and_says_what_to_do(tmp_path, queries):
    from click.testing import CliRunner

    from drama_data.cli import main

    args = ["mine", "--queries", str(queries), "--corpus", str(ZH), "--output", str(tmp_path / "o"), "-k", "5",
            "--language", "zh", "--work-dir", str(tmp_path / "w"), "--no-progress"]
    res = CliRunner().invoke(main, args + ["--cross-lingual", "query"])
    assert res.exit_code == 2 and res.output.count("\n") == 1 and "use --retriever dense --model M" in res.output
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "cross-lingual    2 of 3 rows: 1 with their source query, 1 with their passage text" in res.output


def test_a_passage_searched_as_a_query_is_cut_under_lucenes_clause_limit():
    from drama_data.mining.crosslingual import MAX_PASSAGE_QUERY_UNITS, passage_query

    zh = "黑豹队的防守" * 200
    assert len(passage_query(zh)) == MAX_PASSAGE_QUERY_UNITS and zh.startswith(passage_query(zh))
    en = " ".join(f"w{i}" for i in range(1000))
    assert passage_query(en).split() == en.split()[:MAX_PASSAGE_QUERY_UNITS]
    assert passage_query("kurz und gut") == "kurz und gut"
