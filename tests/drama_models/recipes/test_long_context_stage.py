"""The ``long-context`` recipe stage: Passkey/Needle rows for the given models (a tiny random Llama) and BM25,
its files and counts, its command lines, and recipes/long-context.yaml's plan with it."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from tiny_models import one_torch_thread, tiny_model_dir, tiny_tokenizer  # noqa: F401

from drama_models.recipes.runner import run_recipe
from drama_models.recipes.schema import RecipeError, opt
from drama_models.recipes.stage_registry import stage_types
from drama_models.recipes.stages.base import Stage
from drama_models.recipes.stages.long_context import LongContextStage
from drama_models.training.loop import STATE_FILE

pytestmark = pytest.mark.usefixtures("one_torch_thread")
REPO = Path(__file__).resolve().parents[3]


def _types():
    import drama_models.recipes.stages  # noqa: F401  (registers the built-in stages)

    return {**stage_types(), "long-context": LongContextStage}


def test_runs_the_tasks_for_a_model_and_bm25(tmp_path):
    model = tiny_model_dir(tmp_path / "llama", "llama", tokenizer=tiny_tokenizer())
    recipe = tmp_path / "lc.yaml"
    recipe.write_text(f"name: lc\nstages:\n  long-context:\n    models: [{model}]\n    tasks: [passkey]\n"
                      "    lengths: [256, 4096]\n    queries: 2\n    long_queries: 1\n    bf16: false\n",
                      encoding="utf-8")
    manifest = run_recipe(recipe, output=str(tmp_path / "run"), stage_types=_types(), echo=lambda m: None)
    counts = manifest["stages"][0]["counts"]["long_context"]
    assert set(counts) == {"llama", "BM25"}
    assert set(counts["BM25"]) == {"passkey@256", "passkey@4096"} and counts["BM25"]["passkey@256"] == 100.0
    saved = json.loads((tmp_path / "run" / "long-context" / "llama" / "long_context.json").read_text())
    assert {(r["length"], r["num_queries"]) for r in saved["rows"] if r["system"] == "llama"} == {(256, 2), (4096, 1)}
    assert "| llama |" in (tmp_path / "run" / "long_context.md").read_text()


def test_bad_lengths_are_one_error_naming_the_key(tmp_path):
    recipe = tmp_path / "lc.yaml"
    recipe.write_text("stages:\n  long-context: {lengths: [12x]}\n", encoding="utf-8")
    with pytest.raises(RecipeError, match="stages.long-context.*lengths"):
        run_recipe(recipe, output=str(tmp_path / "run"), stage_types=_types(), dry_run=True, echo=lambda m: None)


def test_the_long_context_recipe_plans_every_stage():
    plan = run_recipe(REPO / "recipes" / "long-context.yaml", stage_types=_types(), dry_run=True,
                      echo=lambda m: None)
    text = json.dumps(plan, default=str)
    for needle in ("--pack-tokens 1600", "length_buckets", "--long-context passkey,needle",
                   "--lengths 512,2048", "--lengths 4096,8192", "train-long (trained)"):
        assert needle in text


class _KeptCheckpoints(Stage):
    """A stand-in ``train`` stage: the tiny model as its final output and as two kept checkpoints (steps 1, 2)."""

    kind = "train"
    OPTIONS = {"model": opt(str), "max_steps": opt(int, default=3)}

    def run(self, ctx):
        out = ctx.stage_dir(self.name)
        shutil.copytree(self.options["model"], out, dirs_exist_ok=True)
        for step in (1, 2):
            shutil.copytree(self.options["model"], out / f"checkpoint-{step}" / "model")
            (out / f"checkpoint-{step}" / STATE_FILE).write_bytes(b"")
        return {}


def test_checkpoints_give_the_curve_by_step(tmp_path):
    model = tiny_model_dir(tmp_path / "llama", "llama", tokenizer=tiny_tokenizer())
    recipe = tmp_path / "lc.yaml"
    recipe.write_text(f"name: lc\nstages:\n  tr:\n    kind: train\n    model: {model}\n  long-context:\n"
                      "    tasks: [passkey]\n    lengths: [256]\n    queries: 2\n    bm25: false\n    bf16: false\n"
                      "    checkpoints: true\n", encoding="utf-8")
    types = {**_types(), "train": _KeptCheckpoints}
    manifest = run_recipe(recipe, output=str(tmp_path / "run"), stage_types=types, echo=lambda m: None)
    counts = manifest["stages"][-1]["counts"]["long_context"]
    assert set(counts) == {"tr step 1", "tr step 2", "tr (trained)"}
    text = (tmp_path / "run" / "long_context.md").read_text()
    assert "### tr: nDCG@1 x 100 by training step" in text and "| step | passkey 256 |" in text
    curve = text[text.index("### tr"):].splitlines()
    assert [line.split(" |")[0] for line in curve[4:]] == ["| 1", "| 2", "| 3"]
