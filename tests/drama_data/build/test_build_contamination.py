"""``build --exclude-contaminated``: rows whose query or passages overlap an evaluation collection are removed."""
import json

import pyarrow as pa
from click.testing import CliRunner

from drama_data.datasets.folder import read_table, write_dataset
from drama_data.mining.mine import CANDIDATES_SCHEMA, PASSAGES_SCHEMA


def cands(n):
    return [{"docid": f"d{r}", "score": float(100 - r), "rank": r, "is_source": False} for r in range(1, n + 1)]


def q(i):
    return f"query number {i} about zinc and colds in winter"


def row(qid, query, source, src_pid, candidates):
    return {"query_id": qid, "query": query, "source": source, "language": "en", "source_passage_id": src_pid,
            "source_rank": None, "candidates": candidates, "retriever": "test"}


def make_candidates(folder, rows, texts):
    ids = sorted({c["docid"] for r in rows for c in r["candidates"]} | {r["source_passage_id"] for r in rows
                                                                       if r["source_passage_id"]})
    passages = [{"id": d, "doc_id": d, "title": "", "text": texts.get(d, f"text of passage {d}")} for d in ids]
    write_dataset(folder, {"candidates": pa.Table.from_pylist(rows, schema=CANDIDATES_SCHEMA),
                           "passages": pa.Table.from_pylist(passages, schema=PASSAGES_SCHEMA)},
                  default="candidates", card_body="test", card_meta={"drama_mine": {"k": 50, "k_effective": 50}})
    return str(folder)

LEAK_TEXT = "Statin therapy lowers cardiovascular events in elderly patients according to a large randomised trial."


def eval_folder(tmp_path):
    e = tmp_path / "evalset"
    (e / "qrels").mkdir(parents=True)
    (e / "queries.jsonl").write_text(json.dumps({"_id": "e1", "text": "Statins reduce heart attacks in old age"}) + "\n")
    (e / "corpus.jsonl").write_text(json.dumps({"_id": "D9", "title": "", "text": LEAK_TEXT}) + "\n")
    (e / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\ne1\tD9\t1\n")
    return e


def test_exclude_contaminated_removes_leaking_rows(tmp_path):
    from drama_data.cli import main

    rows = [row("clean", q(1), "qgen", "", cands(50)),
            row("leakq", "statins reduce heart attacks in old age!", "qgen", "", cands(50)),
            row("leakp", q(3), "qgen", "dL", cands(50))]  # its source passage dL (a positive) is the judged text
    c = make_candidates(tmp_path / "c", rows, texts={"dL": LEAK_TEXT})
    e = eval_folder(tmp_path)
    res = CliRunner().invoke(main, ["build", "--candidates", c, "--output", str(tmp_path / "out"),
                                    "--exclude-contaminated", str(e), "--no-progress", "--miner", "strong"])
    assert res.exit_code == 0, res.output
    assert [r["query_id"] for r in read_table(tmp_path / "out", "train").to_pylist()] == ["clean"]
    removed = {r["query_id"]: r for r in read_table(tmp_path / "out", "removed").to_pylist()}
    assert removed["leakq"]["reason"] == "contaminated" and "evalset:e1" in removed["leakq"]["detail"]
    assert removed["leakp"]["detail"] == "passage 'dL' ~ evalset:D9 (overlap 1.0)"
    card = (tmp_path / "out" / "README.md").read_text()
    assert "## Quality report" in card and "Contamination" in card
    assert "contamination: 0 queries, 0 passages" in res.output  # the report checks the output: clean now


def test_build_no_report_still_filters_but_writes_no_report(tmp_path):
    from drama_data.cli import main

    rows = [row("clean", q(1), "qgen", "", cands(50)),
            row("leakq", "statins reduce heart attacks in old age!", "qgen", "", cands(50))]
    c = make_candidates(tmp_path / "c", rows, texts={})
    res = CliRunner().invoke(main, ["build", "--candidates", c, "--output", str(tmp_path / "out"), "--no-report",
                                    "--exclude-contaminated", str(eval_folder(tmp_path)), "--no-progress",
                                    "--miner", "strong"])
    assert res.exit_code == 0, res.output
    assert [r["query_id"] for r in read_table(tmp_path / "out", "train").to_pylist()] == ["clean"]
    assert "## Quality report" not in (tmp_path / "out" / "README.md").read_text()
    assert "report           " not in res.output
