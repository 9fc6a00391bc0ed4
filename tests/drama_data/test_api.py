"""The Python API: one call per stage (generate -> mine -> build), with keywords or the stages' config objects;
both forms write the same rows."""
from __future__ import annotations

from pathlib import Path

import drama_data
from drama_data.api import run_build, run_generate, run_mine
from drama_data.build.config import InputSpec, load_config
from drama_data.datasets.folder import read_table
from drama_data.mining.config import MineConfig

SAMPLE = str(Path(drama_data.__file__).parent / "samples" / "scifact-sample")


def test_one_call_per_stage_with_keywords_or_configs(tmp_path):
    run_generate(task_name="crop", corpus=SAMPLE, output=str(tmp_path / "crop"), limit=30, echo=None)

    run_mine(queries=str(tmp_path / "crop"), output=str(tmp_path / "mined"), progress=False)
    run_mine(MineConfig(queries=str(tmp_path / "crop"), output=str(tmp_path / "mined-config"), progress=False))
    mined = read_table(tmp_path / "mined", "candidates")
    assert mined.num_rows == 30 and mined.equals(read_table(tmp_path / "mined-config", "candidates"))

    report = run_build(inputs=[str(tmp_path / "mined")], output=str(tmp_path / "train"), progress=False)
    assert "rows written     30" in report.render()
    config = load_config(inputs=[InputSpec(candidates=str(tmp_path / "mined"))])
    run_build(config, str(tmp_path / "train-config"), progress=False)
    assert read_table(tmp_path / "train", "train").equals(read_table(tmp_path / "train-config", "train"))
