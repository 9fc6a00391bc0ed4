"""The click commands: thin over the API, bad input -> a usage error naming the option, exit code 2."""
from __future__ import annotations

import json

import click
from click.testing import CliRunner

from drama_models.pruning.cli import register


def _group():
    @click.group()
    def group():
        pass

    register(group)
    return group


def test_prune_and_pretrain_commands(tiny_dirs, corpus_file, tmp_path):
    runner = CliRunner()
    out = tmp_path / "pruned"
    res = runner.invoke(_group(), ["prune", "--model", str(tiny_dirs["qwen2"]), "--target", "hidden=64,ffn=128,heads=2,layers=2",
                                   "--calibration", str(corpus_file), "--output", str(out), "--seq-len", "32",
                                   "--calibration-blocks", "16", "--heldout", str(corpus_file), "--heldout-blocks", "2",
                                   "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "perplexity after" in res.output and (out / "model.safetensors").is_file()
    assert json.loads((out / "pruning.json").read_text())["target"]["kv_heads"] == 1

    args = ["pretrain", "--model", str(out), "--corpus", str(corpus_file), "--out", str(tmp_path / "pt"), "--steps", "3",
            "--batch-size", "2", "--seq-len", "32", "--save-every", "1", "--no-progress"]
    res = runner.invoke(_group(), args + ["--stop-after", "2"])  # --out: the old spelling of --output still works
    assert res.exit_code == 0, res.output
    assert res.stderr.splitlines()[0] == ("warning: --out is deprecated; use --output (the old spelling still works "
                                          "for now)")
    assert res.stdout == f"stopped at step 2 of 3 (a rerun continues); checkpoint in {tmp_path / 'pt'}\n"
    res = runner.invoke(_group(), args + ["--heldout", str(corpus_file), "--heldout-skip-docs", "190",
                                          "--heldout-blocks", "2", "--json"])
    assert res.exit_code == 0, res.output
    final = json.loads(res.stdout)  # --json: one object, nothing else on stdout
    assert final["finished"] is True and final["heldout_perplexity_after"] > 0
    assert final["output"] == str(tmp_path / "pt")


def test_bad_input_is_a_usage_error(tiny_dirs, corpus_file, tmp_path):
    res = CliRunner().invoke(_group(), ["prune", "--model", str(tiny_dirs["llama"]), "--target", "hidden=512,ffn=128,heads=2,layers=2",
                                        "--calibration", str(corpus_file), "--output", str(tmp_path / "x")])
    assert res.exit_code == 2
    assert "--target: hidden=512 is larger than the source model's 128" in res.output
    assert not (tmp_path / "x").exists()
