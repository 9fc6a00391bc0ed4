"""Quality report on hand-made datasets with known copies, duplicates, languages and a planted leak."""
from __future__ import annotations

import json

import pyarrow as pa
import pytest
from click.testing import CliRunner

from drama_data.build import TRAIN_SCHEMA
from drama_data.datasets.folder import read_card, write_dataset
from drama_data.generate.runner import FAILURE_SCHEMA, PROVENANCE_COLUMNS, QUERY_COLUMNS
from drama_data.report import report_folder
from drama_data.report.contamination import load_index
from drama_data.report.stats import summary

P1 = "Zinc deficiency in children is caused by poor diet and by diarrhoea, which also makes it worse."
P2 = "Vitamin D supplements in older people were studied for side effects over two winters."
P3 = "Vitamin C was tested against the common cold in a trial of 500 volunteers."
LEAKED = ("Statin therapy lowers cardiovascular events in elderly patients according to a large randomised "
          "trial of ten thousand people followed for five years.")
ROWS = [  # (query_id, query, passage_id, text, declared language)
    ("p1/qgen0", "what causes zinc deficiency in children", "p1", P1, "en"),               # copy 0.5
    ("p1/qgen1", "Zinc deficiency in children is caused by poor diet", "p1", P1, "en"),    # copy 1.0
    ("p1/qgen2", "What causes zinc deficiency in children?", "p1", P1, "en"),              # exact dup of qgen0
    ("p1/qgen3", "what causes a zinc deficiency in children", "p1", P1, "en"),             # near dup (0.9), copy 0.4
    ("p2/qgen0", "Welche Nebenwirkungen hat die Einnahme von Vitamin D bei älteren Menschen?", "p2", P2, "de"),
    ("p3/qgen0", "维生素C能预防感冒吗", "p3", P3, "zh"),
    ("p4/qgen0", "statins reduce the risk of heart attacks in older adults.", "p4", LEAKED, "en"),  # planted leak
    ("p3/qgen1", "Wie wirkt Zink gegen Erkältungen bei Kindern?", "p3", P3, "en"),        # declared en, is de
]


def write_heldout_collection(folder):
    (folder / "qrels").mkdir(parents=True)
    (folder / "queries.jsonl").write_text(
        json.dumps({"_id": "e1", "text": "Statins reduce the risk of heart attacks in older adults"}) + "\n"
        + json.dumps({"_id": "e2", "text": "an unjudged query about statins and older adults"}) + "\n")
    (folder / "corpus.jsonl").write_text(
        json.dumps({"_id": "D9", "title": "Statins", "text": LEAKED}) + "\n"
        + json.dumps({"_id": "D8", "title": "", "text": P2}) + "\n")  # not judged in test: no leak
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\ne1\tD9\t1\n")
    (folder / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\ne2\tD8\t1\n")
    return folder


def write_queries(folder):
    rows = [{"query_id": q, "query": t, "passage_id": p, "doc_id": p, "title": "", "text": x, "source": "qgen",
             "language": lang} for q, t, p, x, lang in ROWS]
    schema = pa.schema({**QUERY_COLUMNS, **PROVENANCE_COLUMNS})
    fails = [{"query_id": "p5/qgen0", "passage_id": "p5", "attempt": 0, "kind": "parse", "reason": "no 'Query:' line",
              "raw_text": "hmm", "final": False},
             {"query_id": "p5/qgen0", "passage_id": "p5", "attempt": 1, "kind": "parse", "reason": "empty query",
              "raw_text": "Query:", "final": True}]
    write_dataset(folder, {"queries": pa.Table.from_pylist(rows, schema=schema),
                           "failures": pa.Table.from_pylist(fails, schema=FAILURE_SCHEMA)},
                  default="queries", card_body="# test\n\n## Licence\n\nx\n")
    return folder


def test_generate_output_report_numbers(tmp_path):
    folder = write_queries(tmp_path / "qgen")
    s = report_folder(folder, contamination=[str(write_heldout_collection(tmp_path / "evalset"))])
    assert s["kind"] == "queries" and s["rows"] == 8
    ql = s["query_length"]
    # tokens: 6, 9, 6, 7, 11, 10 (9 CJK characters + "c"), 10, 7
    assert ql["histogram"] == {6: 2, 7: 2, 10: 2, 9: 1, 11: 1}
    assert (ql["min"], ql["max"], ql["mean"], ql["median"], ql["p5"], ql["p95"]) == (6, 11, 8.25, 8.0, 6, 11)
    assert s["languages"]["detected"] == {"en": 5, "de": 2, "zh": 1}
    assert s["languages"]["declared"] == {"en": 6, "de": 1, "zh": 1}
    assert s["languages"]["mismatch"] == 1
    cr = s["copy_rate"]
    assert cr["at_or_above"] == 1 and cr["share_at_or_above"] == 0.125
    # rates 0.5, 1.0, 0.5, 0.4, then the de/zh/leaked/mismatched rows (0.0 each)
    assert cr["histogram"]["0.5"] == 2 and cr["histogram"]["0.4"] == 1 and cr["histogram"]["0.9"] == 1
    assert cr["n"] == 8 and sum(cr["histogram"].values()) == 8 and cr["max"] == 1.0
    d = s["duplicates"]
    assert (d["exact"], d["near"]) == (1, 1) and d["exact_rate"] == 0.125 and d["near_rate"] == 0.125
    assert d["exact_examples"] == [{"id": "p1/qgen2", "of": "p1/qgen0", "similarity": 1.0}]
    assert d["near_examples"] == [{"id": "p1/qgen3", "of": "p1/qgen0", "similarity": 0.9}]
    f = s["failures"]
    assert f["attempts_by_reason"] == {"empty query": 1, "no 'Query:' line": 1}
    assert f["failed_slots"] == 1 and f["rate"] == round(1 / 9, 4)
    c = s["contamination"]
    assert [(x["id"], x["eval_id"], x["similarity"]) for x in c["queries"]] == [("p4/qgen0", "evalset:e1", 1.0)]
    assert [(x["id"], x["eval_id"], x["overlap"]) for x in c["passages"]] == [("p4", "evalset:D9", 1.0)]
    assert c["collections"] == [{"name": "evalset", "folder": str(tmp_path / "evalset"), "split": "test",
                                 "queries": 1, "judged_passages": 1}]
    # the card: section with figures, before the licence; a rerun replaces it
    _, body = read_card(folder)
    assert body.count("## Quality report") == 1 and body.index("## Quality report") < body.index("## Licence")
    assert "![Query length](report/query_length.png)" in body and "`p4/qgen0` ~ `evalset:e1`" in body
    for name in ("query_length", "languages", "copy_rate", "failures"):
        png = (folder / "report" / f"{name}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((folder / "report" / "quality.json").read_text())["rows"] == 8
    report_folder(folder)
    _, body = read_card(folder)
    assert body.count("## Quality report") == 1 and "Contamination" not in body


def test_summary_percentiles():
    assert summary([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) == {"n": 10, "mean": 5.5, "median": 5.5, "p5": 1, "p95": 10,
                                                         "min": 1, "max": 10}


def _passage(d, text):
    return {"docid": d, "title": "", "text": text}


def test_train_report_labels_and_ranks(tmp_path):
    cands = tmp_path / "cands"
    ranked = {"q1": ["a", "b", "c", "d"], "q2": ["e", "f", "g", "h"]}
    ctable = pa.Table.from_pylist([{"query_id": q, "candidates": [{"docid": d, "rank": i + 1, "score": 1.0 - i / 10}
                                                                 for i, d in enumerate(ds)]} for q, ds in ranked.items()])
    write_dataset(cands, {"candidates": ctable}, default="candidates", card_body="# c\n")
    rows = [
        {"query_id": "q1", "query": "what causes zinc deficiency in children", "source": "qgen", "language": "en",
         "rule": "qgen", "group": "g", "input": "cands", "source_passage_id": "a", "retriever": "bm25", "agreement": None,
         "positive_passages": [_passage("a", P1), _passage("c", P3)],
         "negative_passages": [_passage("d", P2)]},
        {"query_id": "q2", "query": "statins reduce the risk of heart attacks in older adults", "source": "qgen",
         "language": "en", "rule": "qgen", "group": "g", "input": "cands", "source_passage_id": "x",
         "retriever": "bm25", "agreement": None,
         "positive_passages": [_passage("x", LEAKED)],
         "negative_passages": [_passage("g", P2), _passage("h", P3)]},
    ]
    out = tmp_path / "train"
    write_dataset(out, {"train": pa.Table.from_pylist(rows, schema=TRAIN_SCHEMA)}, default="train", card_body="# t\n",
                  extra_files={"provenance.json": json.dumps({"inputs": [{"name": "cands", "candidates": str(cands)}]})})
    s = report_folder(out, contamination=[str(write_heldout_collection(tmp_path / "evalset"))])
    lab = s["labels"]
    assert lab["positives_per_query"]["histogram"] == {1: 1, 2: 1} and lab["positives_per_query"]["mean"] == 1.5
    assert lab["negatives_per_query"]["histogram"] == {1: 1, 2: 1}
    assert lab["positive_ranks"]["histogram"] == {1: 1, 3: 1, "not ranked": 1}
    assert lab["positive_ranks"]["ranked"] == 2 and lab["positive_ranks"]["total"] == 3
    cr = s["copy_rate"]  # against each row's source passage: 0.5 and 0.0
    assert (cr["n"], cr["min"], cr["max"], cr["histogram"]["0.5"], cr["histogram"]["0.0"]) == (2, 0.0, 0.5, 1, 1)
    c = s["contamination"]
    assert [x["id"] for x in c["queries"]] == ["q2"] and [x["id"] for x in c["passages"]] == ["x"]
    assert (out / "report" / "labels.png").is_file()


def test_cli_report_two_folders_side_by_side(tmp_path):
    from drama_data.cli import main

    a = write_queries(tmp_path / "a")
    b = tmp_path / "b"
    write_dataset(b, {"queries": pa.Table.from_pylist(
        [{"query_id": "x/qgen0", "query": "how does zinc help with colds", "passage_id": "x", "text": P1,
          "language": "en"}], schema=pa.schema({**QUERY_COLUMNS, **PROVENANCE_COLUMNS}))},
        default="queries", card_body="# b\n")
    res = CliRunner().invoke(main, ["report", str(a), str(b), "--output", str(tmp_path / "cmp")])
    assert res.exit_code == 0, res.output
    assert "| metric | `a` | `b` |" in res.stdout
    assert "| rows | 8 | 1 |" in res.stdout
    assert "| exact duplicates | 1 (12.5%) | 0 (0.0%) |" in res.stdout
    assert (tmp_path / "cmp" / "compare.md").is_file() and (tmp_path / "cmp" / "query_length.png").is_file()
    # the old spelling still works, with one warning line; --json: one object on stdout
    res = CliRunner().invoke(main, ["report", str(a), str(b), "--compare-output", str(tmp_path / "cmp2"), "--json"])
    assert res.exit_code == 0, res.output
    assert "warning: --compare-output is deprecated; use --output" in res.stderr
    summary = json.loads(res.stdout)
    assert [d["label"] for d in summary["datasets"]] == ["a", "b"] and summary["datasets"][0]["quality"]["rows"] == 8
    assert summary["compare"] == str(tmp_path / "cmp2" / "compare.md") and (tmp_path / "cmp2" / "compare.md").is_file()
    bad = CliRunner().invoke(main, ["report", str(tmp_path / "cmp")])
    assert bad.exit_code == 2 and "not a dataset folder" in bad.output


def test_contamination_collection_errors(tmp_path):
    from drama_data.errors import InputError

    (tmp_path / "x").mkdir()
    with pytest.raises(InputError, match="no qrels/test.tsv"):
        load_index([str(tmp_path / "x")])


def test_rankings_report(tmp_path):
    out = tmp_path / "rr"
    rows = [{"query_id": "a", "query": "what causes zinc deficiency in children", "language": "en", "repaired": 0},
            {"query_id": "b", "query": "What causes zinc deficiency in children", "language": "en", "repaired": 3}]
    write_dataset(out, {"rankings": pa.Table.from_pylist(rows)}, default="rankings", card_body="# r\n")
    s = report_folder(out)
    assert s["kind"] == "rankings" and s["duplicates"]["exact"] == 1
    assert s["failures"] == {"queries_with_repaired_windows": 1, "rate": 0.5}
    assert s["copy_rate"]["n"] == 0 and "no passage text" in (out / "README.md").read_text()
