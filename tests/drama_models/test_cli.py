"""The drama-models command line: train from a recipe plus flags, evaluate, clear errors."""
import json
import subprocess
import sys
from pathlib import Path

import datasets
import pytest
from click.testing import CliRunner
from tiny_models import one_torch_thread, tiny_model_dir  # noqa: F401

from drama_models.cli import main
from drama_models.training.config import TrainConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")

REPO = Path(__file__).resolve().parents[2]


def beir(root: Path, qrels: list[str]) -> Path:
    (root / "qrels").mkdir(parents=True)
    docs = {"d1": "aspirin reduces fever", "d2": "the eiffel tower is in paris", "d3": "plants use light"}
    (root / "corpus.jsonl").write_text("".join(json.dumps({"_id": k, "text": v}) + "\n" for k, v in docs.items()))
    (root / "queries.jsonl").write_text(
        json.dumps({"_id": "q1", "text": "aspirin fever"}) + "\n" + json.dumps({"_id": "q2", "text": "paris tower"}) + "\n"
    )
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(l + "\n" for l in qrels))
    return root


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory.mktemp("cli") / "tiny", "llama")


def test_recipes_are_valid():
    cfg = TrainConfig.from_yaml(REPO / "recipes" / "drama-0.1b.yaml")
    assert (cfg.batch_size, cfg.train_group_size, cfg.max_steps, cfg.passage_max_len) == (2048, 8, 200_000, 256)
    assert cfg.matryoshka_dims == [768, 256] and cfg.query_prefix == "Query: "
    tiny = TrainConfig.from_yaml(REPO / "recipes" / "tiny-cpu.yaml", {"model": "m", "datasets": ["d.parquet"]})
    assert tiny.batch_size == 16 and tiny.bf16 == "false" and tiny.gradcache_chunk_size == 32


def test_help_lists_commands():
    out = CliRunner().invoke(main, ["--help"])
    assert out.exit_code == 0 and "train" in out.output and "evaluate" in out.output
    out = CliRunner().invoke(main, ["train", "--help"])
    assert "--gradcache-chunk-size" in out.output and "--dataset" in out.output and "--no-normalize" in out.output


def test_evaluate_command(tmp_path, model):
    a = beir(tmp_path / "a", ["q1\td1\t1", "q2\td2\t1"])
    b = beir(tmp_path / "b", ["q1\td1\t1", "q2\td2\t1"])
    out = CliRunner().invoke(main, ["evaluate", "--model", str(model), "--data", str(a), str(b), "--bm25",
                                    "--output", str(tmp_path / "out"), "--batch-size", "2"])
    assert out.exit_code == 0, out.output
    assert "| a | tiny |" in out.output and "| b | BM25 | 1.0000 |" in out.output
    assert (tmp_path / "out" / "a" / "tiny.trec").is_file() and (tmp_path / "out" / "results.json").is_file()
    at_dim = CliRunner().invoke(main, ["evaluate", "--model", str(model), "--data", str(a), "--dim", "32"])
    assert at_dim.exit_code == 0, at_dim.output
    too_big = CliRunner().invoke(main, ["evaluate", "--model", str(model), "--data", str(a), "--dim", "4096"])
    assert too_big.exit_code != 0 and "option `dim`=4096" in too_big.output
    bm25_only = CliRunner().invoke(main, ["evaluate", "--data", str(a), "--bm25"])
    assert bm25_only.exit_code == 0 and "| a | BM25 |" in bm25_only.output


def test_evaluate_errors_name_the_file(tmp_path, model):
    empty = beir(tmp_path / "empty", [])
    out = CliRunner().invoke(main, ["evaluate", "--model", str(model), "--data", str(empty)])
    assert out.exit_code != 0 and "qrels/test.tsv: empty split" in out.output
    unknown = beir(tmp_path / "unknown", ["q1\td1\t1", "q7\td1\t1"])
    out = CliRunner().invoke(main, ["evaluate", "--data", str(unknown), "--bm25", "--strict"])
    assert out.exit_code != 0 and "1 query id(s) not in queries.jsonl" in out.output


def test_train_command_recipe_plus_flags(tmp_path, model):
    rows = [{"query_id": str(i), "query": f"question {i}",
             "positive_passages": [{"docid": f"p{i}", "title": "", "text": f"answer number {i}"}],
             "negative_passages": [{"docid": f"n{i}", "title": "", "text": f"something else {i}"}]} for i in range(8)]
    datasets.Dataset.from_list(rows).to_parquet(str(tmp_path / "train.parquet"))
    out = CliRunner().invoke(main, [
        "train", "--config", str(REPO / "recipes" / "tiny-cpu.yaml"), "--model", str(model),
        "--dataset", f"{tmp_path / 'train.parquet'}:1.0", "--output-dir", str(tmp_path / "run"), "--max-steps", "2",
        "--batch-size", "4", "--train-group-size", "2", "--gradcache-chunk-size", "none", "--no-show-progress",
        "--save-steps", "0",
    ])
    assert out.exit_code == 0, out.output
    assert "model saved to" in out.output
    saved = json.loads((tmp_path / "run" / "train_config.json").read_text())
    assert saved["max_steps"] == 2 and saved["gradcache_chunk_size"] is None and saved["temperature"] == 0.05
    assert len((tmp_path / "run" / "train_log.jsonl").read_text().splitlines()) == 1  # logging_steps 5 -> last step


def test_train_command_rejects_unknown_recipe_keys(tmp_path):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("model: m\noutput_dir: o\ndatasets: [x]\nbatchsize: 4\n")
    out = CliRunner().invoke(main, ["train", "--config", str(recipe)])
    assert out.exit_code == 2 and "unknown training option(s) ['batchsize']" in out.output


def test_console_script_entry_point():
    proc = subprocess.run([sys.executable, "-m", "drama_models.cli", "--help"], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert proc.returncode == 0 and "evaluate" in proc.stdout
