"""The recipe's build stage picks its inputs: every mined generate stage by default, only its ``inputs`` when set."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from drama_models.recipes.runner import run_recipe
from drama_models.recipes.schema import RecipeError

SAMPLE = Path(__file__).resolve().parents[3] / "drama_data" / "samples" / "scifact-sample"


def recipe(tmp_path: Path, build: str) -> Path:
    path = tmp_path / "r.yaml"
    path.write_text(
        f"corpus: {SAMPLE}\nstages:\n"
        "  crop-a: {kind: crop, passages: 20}\n"
        "  crop-b: {kind: crop, passages: 20, seed: 1}\n"
        "  mine: {retriever: bm25s, k: 10}\n"
        f"  build: {build}\n", encoding="utf-8")
    return path


def built_inputs(run: Path) -> list[str]:
    cfg = yaml.safe_load((run / "configs" / "build.yaml").read_text(encoding="utf-8"))
    return [i["name"] for i in cfg["inputs"]]


def test_build_reads_every_mined_stage_or_only_its_inputs(tmp_path):
    rules = "groups: {crop-a: sent, crop-b: sent}, rules: {sent: {negatives: [3, 10]}}"
    opts = "{" + rules + "}"
    run_recipe(recipe(tmp_path, opts), output=str(tmp_path / "all"), echo=lambda m: None)
    assert built_inputs(tmp_path / "all") == ["crop-a", "crop-b"]
    opts = "{inputs: [crop-a], " + rules + "}"
    manifest = run_recipe(recipe(tmp_path, opts), output=str(tmp_path / "one"), echo=lambda m: None)
    assert built_inputs(tmp_path / "one") == ["crop-a"]
    build = next(s for s in manifest["stages"] if s["name"] == "build")
    assert 0 < build["counts"]["rows"] <= 20


def test_an_input_that_is_no_generate_stage_or_was_not_mined_is_one_clear_error(tmp_path):
    with pytest.raises(RecipeError, match=r"stages\.build\.inputs: 'queries' is not a generate stage of this recipe"):
        run_recipe(recipe(tmp_path, "{inputs: [queries]}"), output=str(tmp_path / "run"), echo=lambda m: None)
    path = recipe(tmp_path, "{inputs: [crop-b]}")
    path.write_text(path.read_text().replace("seed: 1}", "seed: 1, enabled: false}"), encoding="utf-8")
    with pytest.raises(RecipeError, match=r"stages\.build\.inputs: crop-b is not a generate stage mined before it"):
        run_recipe(path, output=str(tmp_path / "run2"), echo=lambda m: None)
