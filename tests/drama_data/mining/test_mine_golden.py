"""Golden outputs of ``drama-data mine`` on the bundled SciFact sample: every file of the output folder (parquet
rows and schema, card, provenance) and the printed summary are what they were before the stage was refactored
into :class:`~drama_data.mining.mine.MineConfig` and named steps (dates, timings and temporary paths aside)."""
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from mining_helpers import HashEncoder, write_queries
from output_digest import check_golden, folder_digests, normalise

from drama_data.chunking import load_passages

GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture()
def queries_dir(tmp_path, sample_dir, sample_queries, sample_qrels):
    passages, _ = load_passages(str(sample_dir))
    first_chunk = {}
    for p in passages:
        first_chunk.setdefault(p.doc_id, p.id)
    rows = [{"query_id": qid, "query": text if i != 3 else " ", "passage_id": first_chunk[sample_qrels[qid][0]],
             "source": "qgen" if i % 2 else "sent", "language": "en"} for i, (qid, text) in enumerate(sample_queries)]
    return write_queries(tmp_path / "queries", rows)


def test_cli_bm25_output_is_unchanged(tmp_path, queries_dir, sample_dir):
    from drama_data.cli import main

    args = ["mine", "--queries", str(queries_dir), "--corpus", str(sample_dir), "--output", str(tmp_path / "out"),
            "-k", "10", "--language", "en", "--k1", "1.2", "--work-dir", str(tmp_path / "w"), "--chunk-size", "7",
            "--no-progress"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    replace = {str(tmp_path): "<TMP>", str(sample_dir): "<SAMPLE>"}
    summary = normalise(res.output, replace)
    res = CliRunner().invoke(main, args[:-1] + ["--json", "--no-progress"])
    assert res.exit_code == 0, res.output
    as_json = json.loads(res.stdout)
    as_json["seconds"] = sorted(as_json["seconds"])
    as_json["retriever"]["index_dir"] = "<V>"
    actual = {"files": folder_digests(tmp_path / "out", replace), "summary": summary.splitlines(),
              "json": json.loads(normalise(json.dumps(as_json, sort_keys=True), replace))}
    check_golden(GOLDEN / "mine_bm25_cli.json", actual)


def test_python_api_dense_output_is_unchanged(tmp_path, queries_dir, sample_dir):
    from drama_data.mining.dense import DenseRetriever
    from drama_data.mining.mine import mine

    r = DenseRetriever(encoder=HashEncoder(), progress=False)
    report = mine(queries_dir, str(sample_dir), tmp_path / "out", retriever=r, k=8, work_dir=tmp_path / "w",
                  chunk_size=6, batch_size=4, progress=False)
    replace = {str(tmp_path): "<TMP>", str(sample_dir): "<SAMPLE>"}
    actual = {"files": folder_digests(tmp_path / "out", replace),
              "summary": normalise(report.render(), replace).splitlines()}
    check_golden(GOLDEN / "mine_dense_api.json", actual)
