"""``drama-data publish --dry-run``: the file list, counted nouns that agree, and --json as one object."""
from __future__ import annotations

import json

import pyarrow as pa
from click.testing import CliRunner

from drama_data.cli import main
from drama_data.datasets.folder import write_dataset


def test_publish_dry_run_text_and_json(tmp_path):
    write_dataset(tmp_path / "ds", {"queries": pa.table({"query_id": ["a"], "query": ["q"]})}, default="queries",
                  card_body="# ds\n")
    res = CliRunner().invoke(main, ["publish", str(tmp_path / "ds"), "--repo-id", "me/ds", "--dry-run"])
    assert res.exit_code == 0, res.output
    last = res.stdout.splitlines()[-1]
    assert last.startswith("would upload ") and last.endswith(" to datasets/me/ds") and " 1 files" not in last
    res = CliRunner().invoke(main, ["publish", str(tmp_path / "ds"), "--repo-id", "me/ds", "--dry-run", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["dry_run"] is True and summary["repo_id"] == "me/ds"
    assert summary["bytes"] == sum(f["size"] for f in summary["files"]) and summary["files"]
