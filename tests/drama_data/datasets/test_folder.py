"""Dataset folders keep every config a stage writes, an empty one too (issue 26, item 6: the Quickstart's
``load_dataset("runs/quickstart", "failures")`` raised "BuilderConfig 'failures' not found" after a clean run)."""
from __future__ import annotations

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from drama_data.datasets.folder import read_card, read_table, write_dataset
from drama_data.generate.runner import FAILURE_SCHEMA

SAMPLE = "drama_data/samples/scifact-sample"


def _configs(folder) -> dict:
    meta, _ = read_card(folder)
    return {c["config_name"]: c for c in meta["configs"]}


def test_an_empty_config_is_written_with_its_columns_and_no_row_group(tmp_path):
    out = write_dataset(tmp_path / "ds", {"queries": pa.table({"query": ["a", "b"]}),
                                          "failures": FAILURE_SCHEMA.empty_table()},
                        default="queries", card_body="# t\n")
    assert set(_configs(out)) == {"queries", "failures"}
    meta, _ = read_card(out)
    info = {i["config_name"]: i for i in meta["dataset_info"]}["failures"]
    assert info["splits"] == [{"name": "train", "num_bytes": 0, "num_examples": 0}]
    (shard,) = (out / "data" / "failures").glob("*.parquet")
    assert pq.ParquetFile(shard).metadata.num_row_groups == 0
    assert read_table(out, "failures").schema == FAILURE_SCHEMA
    assert read_table(out, "failures").num_rows == 0


def test_load_dataset_failures_after_a_clean_run(tmp_path):
    """`generate --task crop` (no LLM: nothing can fail) on the bundled sample, then the card's snippet."""
    from drama_data.cli import main

    out = tmp_path / "quickstart"
    res = CliRunner().invoke(main, ["generate", "--task", "crop", "--corpus", SAMPLE, "--output", str(out),
                                    "--no-progress", "--no-report"])
    assert res.exit_code == 0, res.output
    assert set(_configs(out)) == {"queries", "failures"}
    _, body = read_card(out)
    assert 'load_dataset("<this folder or repo id>", "failures", streaming=True)' in body
    fails = datasets.load_dataset(str(out), "failures", streaming=True, cache_dir=str(tmp_path / "hf"))
    assert list(fails) == ["train"] and list(fails["train"]) == []
    assert list(fails["train"].features) == FAILURE_SCHEMA.names
    ds = datasets.load_dataset(str(out), split="train", cache_dir=str(tmp_path / "hf"))
    assert ds.num_rows > 0 and "query" in ds.column_names


def test_datasets_still_cannot_load_an_empty_split_without_streaming(tmp_path):
    """The limit the card and README work around (huggingface/datasets#8401). When this test fails, ``datasets``
    loads empty splits: drop ``streaming=True`` from the card's and README's snippets."""
    out = write_dataset(tmp_path / "ds", {"queries": pa.table({"query": ["a"]}),
                                          "failures": FAILURE_SCHEMA.empty_table()},
                        default="queries", card_body="# t\n")
    with pytest.raises(ValueError, match="corresponds to no data"):
        datasets.load_dataset(str(out), "failures", cache_dir=str(tmp_path / "hf"))


def test_a_dataset_folder_gets_the_users_umask(tmp_path):
    """Not tempfile.mkdtemp's 0700: the output folder is readable by whom the user's umask lets read it."""
    import os
    import stat

    old = os.umask(0o022)
    try:
        out = write_dataset(tmp_path / "ds", {"queries": pa.table({"query": ["a"]})}, default="queries",
                            card_body="# t\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o755
    assert stat.S_IMODE((out / "data").stat().st_mode) == 0o755
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".ds.tmp-")]
