"""Missing input paths of a recipe: ``recipe validate``, ``--dry-run`` and ``recipe run`` name each one as a
WARNING with its stage and key; paths a stage of the recipe makes, Hub ids, ``corpus`` and ``@STAGE`` are not."""
from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from drama_models.cli import main
from drama_models.recipes.inputs import missing_inputs
from drama_models.recipes.runner import RecipeRun, run_recipe
from drama_models.recipes.schema import load_recipe
from drama_models.recipes.stages.base import Stage

RECIPES = Path(__file__).resolve().parents[3] / "recipes"


def test_validate_names_every_missing_path_of_the_paper_recipe(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no data/ folder here (as on a fresh GPU node)
    result = CliRunner().invoke(main, ["recipe", "validate", str(RECIPES / "drama-base.yaml")])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "drama-base.yaml: ok (13 stages" in out and "11 input paths missing here" in out
    warnings = [line for line in out.splitlines() if line.startswith("WARNING: ")]
    data = (RECIPES.parent / "data").resolve()
    expected = [f"corpus: {data}/beir/scifact",
                *(f"stages.{kind}-{part}.corpus: {data}/{folder}"
                  for kind in ("queries", "crop")
                  for part, folder in (("en-web", "english-web"), ("wiki", "multilingual-wikipedia"),
                                       ("web", "multilingual-web"))),
                f"stages.prune.calibration: {data}/pretrain-text", f"stages.prune.heldout: {data}/heldout-text",
                f"stages.pretrain.corpus: {data}/pretrain-text",
                f"stages.evaluate.collections[0]: ../data/beir/scifact ({data}/beir/scifact or "
                f"{(tmp_path / '../data/beir/scifact').resolve()})"]
    assert [w.split(".yaml: ", 1)[1] for w in warnings] == [f"{e}: no such file or folder" for e in expected]
    # the models are Hub ids; mine, rerank, build and train read what earlier stages make: no warning for them
    assert not any(k in out for k in ("stages.train", "stages.mine", "stages.build", "stages.rerank", "Llama"))


def test_dry_run_warns_for_the_selected_stages_and_json_carries_the_lines(tmp_path):
    run = ["recipe", "run", str(RECIPES / "drama-1b.yaml"), "--dry-run", "--output", str(tmp_path / "run")]
    text = CliRunner().invoke(main, run)
    assert text.exit_code == 0, text.output
    assert "WARNING: stages.queries-en-web.corpus:" in text.output and "(8 input paths missing here" in text.output
    only = CliRunner().invoke(main, run + ["--only", "crop-wiki", "--json"])
    plan = json.loads(only.output)
    assert [w.split(":")[0] for w in plan["warnings"]] == ["corpus", "stages.crop-wiki.corpus"]


def _recipe(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "recipes" / "mine.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body, encoding="utf-8")
    return path


def test_paths_made_by_the_recipe_hub_ids_and_references_are_not_reported(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "recipes" / "corpus").mkdir(parents=True)
    (tmp_path / "models").mkdir()
    path = _recipe(tmp_path, """
corpus: ./corpus                          # exists (next to the recipe)
output: runs/x
stages:
  queries: {model: meta-llama/Llama-3.3-70B-Instruct, prompt: ./prompts/q.j2}
  crop: {corpus: BeIR/scifact}            # a Hub dataset id
  mine: {}
  build: {}
  prune: {model: ./models/llama-1b, calibration: corpus, heldout: data/heldout.jsonl}
  train: {model: "@prune", datasets: ["@build", "runs/x/build:2", "models/sent:1", "data/extra:0.5"]}
  evaluate: {collections: [./corpus], models: [minilm, models/missing-encoder/v1]}
""")
    run = RecipeRun(load_recipe(path))
    got = {m.where: m.value for m in missing_inputs(run)}
    recipes = tmp_path / "recipes"
    assert got == {"stages.queries.prompt": "./prompts/q.j2", "stages.prune.model": f"{recipes}/models/llama-1b",
                   "stages.prune.heldout": "data/heldout.jsonl", "stages.train.datasets[2]": "models/sent",
                   "stages.train.datasets[3]": "data/extra",
                   "stages.evaluate.models[1]": "models/missing-encoder/v1"}
    # a run with --output elsewhere: runs/x/build is no longer the build stage's folder
    elsewhere = RecipeRun(load_recipe(path), output=str(tmp_path / "other"))
    assert "stages.train.datasets[1]" in {m.where for m in missing_inputs(elsewhere)}


class Noop(Stage):
    kind = "noop"

    def run(self, ctx):
        return {}


def test_recipe_run_warns_at_the_start(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = _recipe(tmp_path, "corpus: data/nowhere\nstages:\n  a: {kind: noop}\n")
    said = []
    run_recipe(path, output=str(tmp_path / "run"), echo=said.append, stage_types={"noop": Noop})
    assert said[0].startswith("WARNING: ") and said[0].endswith(
        f"corpus: data/nowhere ({tmp_path}/recipes/data/nowhere or {tmp_path}/data/nowhere): no such file or folder")
