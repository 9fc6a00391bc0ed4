"""``drama-data merge``: shards of one run into one folder; --json prints one object; counted nouns agree."""
from __future__ import annotations

import json

from click.testing import CliRunner
from fake_backend import FakeBackend

from drama_data.cli import main
from drama_data.generate.runner import CorpusOptions, generate
from drama_data.tasks import get_task


def test_merge_prints_a_summary_or_one_json_object(small_corpus, tmp_path):
    shards = []
    for i in range(2):
        generate(get_task("queries"), CorpusOptions(str(small_corpus)), tmp_path / f"s{i}", backend=FakeBackend(),
                 cache=None, progress=False, echo=None, num_shards=2, shard_index=i)
        shards.append(str(tmp_path / f"s{i}"))
    res = CliRunner().invoke(main, ["merge", *shards, "--output", str(tmp_path / "m")])
    assert res.exit_code == 0, res.output
    assert res.stdout == f"merged 2 shards: 6 rows -> {tmp_path / 'm'}\n"
    res = CliRunner().invoke(main, ["merge", *shards, "--output", str(tmp_path / "m"), "--overwrite", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert (summary["shards"], summary["rows"], summary["output"]) == (2, 6, str(tmp_path / "m"))
