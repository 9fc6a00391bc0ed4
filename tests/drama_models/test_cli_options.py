"""``drama-models`` speaks the command-line language of ``drama-data`` (issue 27, item 5): commands in flow order,
--help in sections with defaults and an example, --output everywhere (old spellings warn), --json as one object,
errors that name the flags the user typed."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from drama_models.cli import main

REPO = Path(__file__).resolve().parents[2]


def beir(root: Path, qrels: list[str]) -> Path:
    """A three-document BEIR folder."""
    (root / "qrels").mkdir(parents=True)
    docs = {"d1": "aspirin reduces fever", "d2": "the eiffel tower is in paris", "d3": "plants use light"}
    (root / "corpus.jsonl").write_text("".join(json.dumps({"_id": k, "text": v}) + "\n" for k, v in docs.items()))
    (root / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "aspirin fever"}) + "\n"
                                        + json.dumps({"_id": "q2", "text": "paris tower"}) + "\n")
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(x + "\n" for x in qrels))
    return root


def invoke(*args):
    return CliRunner().invoke(main, list(args))


def test_commands_are_listed_in_flow_order():
    out = invoke("--help").output
    listed = [line.split()[0] for line in out.split("Commands:")[1].splitlines() if line.strip()]
    assert listed == ["prune", "pretrain", "train", "evaluate", "export", "zoo", "recipe"]
    out = invoke("recipe", "--help").output
    assert [line.split()[0] for line in out.split("Commands:")[1].splitlines() if line.strip()] == \
        ["run", "validate", "list"]


@pytest.mark.parametrize("command", [["prune"], ["pretrain"], ["evaluate"], ["zoo"], ["recipe", "run"],
                                     ["recipe", "validate"], ["recipe", "list"]])
def test_help_is_grouped_with_defaults_and_an_example(command):
    res = invoke(*command, "--help")
    assert res.exit_code == 0
    out = res.output
    assert "Output:" in out and "--json" in out
    assert "Examples:" in out and f"drama-models {' '.join(command)}" in out.split("Examples:")[1]
    if command[0] in ("prune", "pretrain", "evaluate"):
        assert "Input:" in out and "Model/backend:" in out and "[default: " in out
    if command[0] in ("prune", "pretrain"):
        assert "--output DIRECTORY" in out and "--out " not in out  # the old spelling works but is not shown


def test_evaluate_json_is_one_object(tmp_path):
    data = beir(tmp_path / "a", ["q1\td1\t1", "q2\td2\t1"])
    res = invoke("evaluate", "--bm25", "--data", str(data), "--output", str(tmp_path / "ev"), "--json")
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["output"] == str(tmp_path / "ev") and summary["results"][0]["system"] == "BM25"
    assert "runs and metrics written to" in res.stderr


def test_evaluate_errors_name_the_flag(tmp_path):
    res = invoke("evaluate", "--bm25", "--data", str(beir(tmp_path / "a", ["q1\td1\t1"])), "--k", "50")
    assert res.exit_code == 2
    assert res.output.strip().startswith("Error: --k=50: the run must hold at least 100"), res.output


def test_train_errors_name_the_flags_not_the_config_fields(tmp_path):
    res = invoke("train", "--model", "m", "--output", str(tmp_path / "run"))
    assert res.exit_code == 2
    assert res.output.strip() == "Error: --dataset needs at least one training dataset", res.output
    res = invoke("train", "--model", "m", "--dataset", "x.parquet")
    assert res.exit_code == 2
    assert res.output.strip().startswith("Error: --output") and res.output.strip().endswith("is required")


def test_zoo_and_recipe_json(tmp_path):
    res = invoke("zoo", "--json", "--zoo-dir", str(tmp_path))
    assert res.exit_code == 0
    models = json.loads(res.stdout)["models"]
    assert models[0]["name"] == "facebook/drama-base" and models[0]["local_copy"] is None
    res = invoke("recipe", "list", "--json")
    assert res.exit_code == 0
    kinds = {Path(r["file"]).name: r["kind"] for r in json.loads(res.stdout)["recipes"]}
    assert kinds["cpu-demo.yaml"] == "flow"
    res = invoke("recipe", "validate", str(REPO / "recipes" / "cpu-demo.yaml"), "--json")
    assert res.exit_code == 0, res.output
    checked = json.loads(res.stdout)["recipes"]
    assert checked[0]["ok"] and checked[0]["kind"] == "flow" and checked[0]["stages"]
