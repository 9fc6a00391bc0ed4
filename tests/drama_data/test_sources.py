"""Local path or Hub dataset id: a mistyped path is one line at once and never a Hub lookup, on every flag."""
from __future__ import annotations

import time

import pytest
from click.testing import CliRunner

from drama_data.sources import HUB_PREFIX, SourceError, load_hub_dataset, local_path, resolve_source


@pytest.fixture()
def no_hub(monkeypatch):
    """Fail the test if anything asks the Hub or loads a dataset by name."""
    import datasets
    from huggingface_hub import HfApi

    def called(*a, **k):
        raise AssertionError(f"the Hub was asked: {a} {k}")

    monkeypatch.setattr(HfApi, "dataset_info", called)
    monkeypatch.setattr(datasets, "load_dataset", called)


@pytest.mark.parametrize("value", [
    "data/scifact", "runs/qgen", "out/x", "output/x", "./scifact", "../scifact", "/no/such/place", "~/no-such-xyz",
    "a/b/c", "corpus.jsonl", "corpus.jsonl.gz", "docs.parquet", "notes.md", "docs/", "my docs", "folder\\x",
    "here/sub",  # its first part exists here
])
def test_a_value_that_looks_like_a_path_is_no_such_file_or_folder(tmp_path, monkeypatch, no_hub, value):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "here").mkdir()
    with pytest.raises(SourceError, match=r"^--corpus: no such file or folder: ") as err:
        resolve_source(value, "--corpus")
    assert value.strip() in str(err.value) and "\n" not in str(err.value)


def test_the_readme_example_says_how_to_mean_the_hub(tmp_path, monkeypatch, no_hub):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SourceError) as err:
        resolve_source("data/scifact", "--corpus")
    assert str(err.value) == ("--corpus: no such file or folder: data/scifact (data/ means a local folder; for the "
                              f"Hugging Face Hub dataset write {HUB_PREFIX}data/scifact)")


@pytest.mark.parametrize("value", ["BeIR/scifact", "squad", "mteb/scifact", "HuggingFaceFW/fineweb-2",
                                   "org/name.v2"])
def test_a_hub_id_is_left_for_the_hub_without_asking_it(tmp_path, monkeypatch, no_hub, value):
    monkeypatch.chdir(tmp_path)
    assert resolve_source(value, "--corpus").hub_id == value
    with pytest.raises(SourceError, match=f"--queries: no such folder: {value}"):  # a local-only option
        local_path(value, "--queries", kind="folder")


def test_existing_paths_and_the_hub_prefix(tmp_path, monkeypatch, no_hub):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "BeIR").mkdir()
    (tmp_path / "corpus.jsonl").write_text("{}\n")
    assert resolve_source("corpus.jsonl").path.name == "corpus.jsonl"
    assert resolve_source("BeIR").path.name == "BeIR"
    with pytest.raises(SourceError, match="no such file or folder: BeIR/scifact"):  # BeIR/ is a folder here
        resolve_source("BeIR/scifact", "--corpus")
    assert resolve_source("hf:BeIR/scifact").hub_id == "BeIR/scifact"
    assert resolve_source("hf:data/scifact").hub_id == "data/scifact"
    with pytest.raises(SourceError, match="not a folder: corpus.jsonl"):
        local_path("corpus.jsonl", "--queries", kind="folder")


def _hub_error(kind: str):
    from huggingface_hub.errors import RepositoryNotFoundError

    if kind == "missing":
        import httpx2

        url = "https://huggingface.co/api/datasets/BeIR/nothere"
        response = httpx2.Response(404, request=httpx2.Request("GET", url))
        return RepositoryNotFoundError(f"404 Client Error. Repository Not Found for url: {url}", response=response)
    return ConnectionError("[Errno -2] Name or service not known")


@pytest.mark.parametrize("kind, why", [
    ("missing", "not found on the Hub (a private dataset needs HF_TOKEN)"),
    ("offline", "the Hub cannot be reached (ConnectionError: [Errno -2] Name or service not known); give a local "
                "path, or set HF_HUB_OFFLINE=1 to use a cached copy"),
])
def test_a_hub_id_that_fails_is_one_line_naming_it(monkeypatch, kind, why):
    import datasets
    from huggingface_hub import HfApi, constants

    def info(self, repo_id, **k):
        raise _hub_error(kind)

    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):  # the suite runs offline; this test plays online
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(HfApi, "dataset_info", info)
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: pytest.fail("loaded after a failed check"))
    with pytest.raises(SourceError) as err:
        load_hub_dataset(resolve_source("BeIR/nothere", "--corpus"), "--corpus")
    assert str(err.value) == ("--corpus BeIR/nothere: not a local file or folder, so it was tried as a Hugging Face "
                              f"Hub dataset id: {why}")


def test_offline_hub_ids_load_from_the_cache_or_fail_in_one_line(monkeypatch):
    import datasets
    from huggingface_hub import HfApi, constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(HfApi, "dataset_info", lambda *a, **k: pytest.fail("asked the Hub while offline"))
    monkeypatch.setattr(datasets, "load_dataset", lambda name, config, split: [{"_id": "1", "text": "x"}])
    assert load_hub_dataset(resolve_source("hf:BeIR/scifact"), "--corpus") == [{"_id": "1", "text": "x"}]

    def fail(*a, **k):
        raise ConnectionError("Couldn't reach 'BeIR/scifact' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setattr(datasets, "load_dataset", fail)
    with pytest.raises(SourceError, match=r"^--corpus hf:BeIR/scifact: tried as the Hugging Face Hub dataset "
                                          r"BeIR/scifact: HF_HUB_OFFLINE is set and it is not in the Hugging Face "
                                          r"cache$"):
        load_hub_dataset(resolve_source("hf:BeIR/scifact"), "--corpus")


def _data_cli():
    from drama_data.cli import main

    return main


def _models_cli():
    from drama_models.cli import main

    return main


@pytest.mark.parametrize("cli, args, line", [
    (_data_cli, ["generate", "--task", "crop", "--corpus", "data/scifact", "--output", "o"],
     "--corpus: no such file or folder: data/scifact"),
    (_data_cli, ["generate", "--task", "queries", "--backend", "vllm", "--corpus", "./scifact", "--output", "o"],
     "--corpus: no such file or folder: ./scifact"),
    (_data_cli, ["generate", "--task", "rerank", "--corpus", "BeIR/cands", "--output", "o"],
     "--corpus: no such folder: BeIR/cands"),
    (_data_cli, ["mine", "--queries", "runs/qgen", "--output", "o"], "--queries: no such folder: runs/qgen"),
    (_data_cli, ["mine", "--queries", "q", "--corpus", "data/scifact", "--output", "o"],
     "--corpus: no such file or folder: data/scifact"),
    (_data_cli, ["build", "--candidates", "runs/cands", "--output", "o"],
     "inputs[0] (cands) candidates: no such folder: runs/cands"),
    (_data_cli, ["build", "--candidates", "c", "--queries", "runs/qgen", "--output", "o"],
     "inputs[0] (c) queries: no such folder: runs/qgen"),
    (_data_cli, ["build", "--input", "candidates=c,rerank=runs/rr", "--output", "o"],
     "inputs[0] (c) rerank: no such folder: runs/rr"),
    (_models_cli, ["evaluate", "--bm25", "--data", "data/scifact"], "--data: no such folder: data/scifact"),
    (_models_cli, ["train", "--model", "m", "--dataset", "runs/train", "--output", "o"],
     "training dataset: no such file or folder: runs/train"),
])
def test_every_flag_names_a_missing_path_in_one_line_at_once(tmp_path, monkeypatch, no_hub, cli, args, line):
    """The same function answers every flag: one line, exit 2, no Hub call, nothing written, in well under 10 s."""
    monkeypatch.chdir(tmp_path)
    for folder in ("q", "c"):  # a queries folder and a candidates folder that exist (their content is not reached)
        (tmp_path / folder).mkdir()
    if "train" in args:  # the model is checked before the datasets: let any value pass
        from drama_models import model_source

        monkeypatch.setattr(model_source, "resolve_model", lambda value, *a, **k: value)
    if args[0] == "build":
        (tmp_path / "c" / "data" / "candidates").mkdir(parents=True)
    start = time.perf_counter()
    result = CliRunner().invoke(cli(), args)
    seconds = time.perf_counter() - start
    lines = [x for x in result.output.strip().splitlines() if x.strip()]
    assert result.exit_code == 2, result.output
    assert lines[-1].startswith("Error: ") and line in lines[-1], result.output
    assert len(lines) == 1, result.output
    assert not (tmp_path / "o").exists() and seconds < 10
