"""The report's numbers, streamed: the card and the report count languages from one source (issue 26, item 4:
a documents folder's card said `en 4` while its report said `en 3, jv 1`)."""
from __future__ import annotations

import json
import re

import pyarrow as pa
from click.testing import CliRunner

from drama_data.datasets.folder import read_card, write_dataset
from drama_data.report import report_folder
from drama_data.report.stats import QueryStats

GUIDE = """---
title: Solar guide
---
# Solar panel maintenance

Panel surya maintenance kit for solar panel owners.
"""
PAGE = """<html><head><title>Inverter care</title></head><body><h1>Inverter care</h1>
<p>Clean the panels twice a year with soft water.</p></body></html>
"""


def _counts(text: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r"`([^`]+)` (\d+)", text)}


def test_card_and_report_agree_on_languages_when_detection_is_ambiguous(tmp_path):
    from drama_data.cli import main

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "guide.md").write_text(GUIDE, encoding="utf-8")
    (docs / "page.html").write_text(PAGE, encoding="utf-8")
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["generate", "--task", "crop", "--corpus", str(docs), "--output", str(out),
                                    "--no-progress"])
    assert res.exit_code == 0, res.output
    _, body = read_card(out)
    card_line = next(line for line in body.splitlines() if line.startswith("- by language:"))
    report_line = next(line for line in body.splitlines() if line.startswith("| languages (`language` column"))
    card, report = _counts(card_line), _counts(report_line.split("|")[2])
    assert card and card == report
    q = json.loads((out / "report" / "quality.json").read_text())
    assert q["languages"]["declared"] == card
    # the detector, asked about the query text alone, is the check beside them (its own row, its own name)
    detected = next(line for line in body.splitlines() if line.startswith("| languages detected on the query text"))
    assert _counts(detected.split("|")[2]) == q["languages"]["detected"]
    assert sum(q["languages"]["detected"].values()) == sum(card.values())


def _queries(folder, queries, languages):
    rows = [{"query_id": f"q{i}", "query": q, "passage_id": f"p{i}", "text": f"passage {i} about {q}",
             "language": lang} for i, (q, lang) in enumerate(zip(queries, languages))]
    write_dataset(folder, {"queries": pa.Table.from_pylist(rows)}, default="queries", card_body="# q\n\n## Licence\n")
    return folder


def test_a_sample_is_stated_and_every_row_still_counted(tmp_path, monkeypatch):
    monkeypatch.setattr("drama_data.report.sampling.SAMPLE_ROWS", 40)
    queries = [f"what is the effect of compound {i % 60} on cell growth" for i in range(300)]
    folder = _queries(tmp_path / "q", queries, ["en"] * 300)
    s = report_folder(folder)
    assert s["rows"] == 300 and s["query_length"]["n"] == 300 and s["copy_rate"]["n"] == 300
    assert s["languages"]["declared"] == {"en": 300} and sum(s["languages"]["detected"].values()) == 40
    assert s["sample"] == {"rows": 40, "of": 300, "complete": False, "seed": 0}
    d = s["duplicates"]
    assert d["judged_rows"] == 40 and d["estimated_exact"] == round(d["exact"] / 40 * 300)
    # 60 distinct queries in 300 rows: 80% of the rows repeat an earlier one
    assert abs(d["exact_rate"] - 0.8) <= 0.2
    _, body = read_card(folder)
    assert "a uniform random sample of 40 of the 300 rows (seed 0)" in body
    assert re.search(r"\| exact duplicates \| about [\d,]+ \([\d.]+%; \d+ of 40 sampled rows\) \|", body)


def test_query_stats_without_language_column_or_passages():
    qs = QueryStats(3, sample_size=10)
    qs.add(["a", "b", "c"], ["one two three", "one two three", "four"], None)
    s = qs.finish(iter([(["a", "b", "c"], ["one two three", "one two three", "four"])]))
    assert s["languages"]["declared"] == {"(none)": 3} and s["copy_rate"]["n"] == 0
    assert s["duplicates"]["exact"] == 1 and s["query_length"]["histogram"] == {3: 2, 1: 1}
