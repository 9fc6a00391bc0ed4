"""``drama-models recipe run|list|validate`` and ``drama-models zoo``: thin click commands over
:func:`drama_models.recipes.runner.run_recipe` and :mod:`drama_models.zoo`. A bad recipe prints
``Error: <file>: stages.<stage>.<key>: ...`` and exits 2."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from drama_data.cli.common import clean_errors
from drama_models.cli_common import clean_errors as clean_model_errors

RECIPES_DIR = Path(__file__).resolve().parents[2] / "recipes"


@click.group("recipe")
def recipe_group() -> None:
    """Whole flows (generate -> mine -> rerank -> build -> prune -> train -> evaluate) from a recipe file."""


@recipe_group.command("run")
@click.argument("recipe_file", type=click.Path(dir_okay=False))
@click.option("--corpus", default=None, help="The collection (BEIR folder, jsonl/parquet); overrides the recipe's.")
@click.option("--output", default=None, type=click.Path(file_okay=False),
              help="Run folder (default: the recipe's output:, else runs/<recipe name>).")
@click.option("--only", "only", multiple=True, metavar="STAGE", help="Run only this stage (repeatable); "
              "its inputs must be complete. Reruns it even when complete.")
@click.option("--from", "from_stage", default=None, metavar="STAGE", help="Run this stage and every later one "
              "(rerunning them even when complete).")
@click.option("--dry-run", is_flag=True, help="Print the plan (stages, commands, LLM requests/tokens, GPUs); run nothing.")
@click.option("--json", "as_json", is_flag=True, help="With --dry-run: print the plan as JSON.")
@clean_model_errors
@clean_errors
def run_command(recipe_file, corpus, output, only, from_stage, dry_run, as_json):
    """Run RECIPE_FILE: each stage's output feeds the next in one run folder; complete stages are skipped, an
    interrupted one resumes; manifest.json, summary.md and results.md are written in the run folder.

    \b
    drama-models recipe run recipes/cpu-demo.yaml --dry-run
    drama-models recipe run recipes/cpu-demo.yaml --corpus data/my-beir-folder --output runs/mine
    """
    from drama_models.recipes.runner import run_recipe

    result = run_recipe(recipe_file, corpus=corpus, output=output, only=only, from_stage=from_stage,
                        dry_run=dry_run, echo=lambda m: click.echo(m, err=not dry_run), argv=sys.argv)
    if dry_run:
        if as_json:
            click.echo(json.dumps({k: v for k, v in result.items() if k != "text"}, indent=2, default=str))
        else:
            click.echo(result["text"])
        return
    summary = Path(result["run_dir"]) / "summary.md"
    click.echo(f"done: {result['run_dir']} (summary: {summary})")


@recipe_group.command("validate")
@click.argument("recipe_files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@clean_model_errors
@clean_errors
def validate_command(recipe_files):
    """Check recipe files (every key, type and stage reference) without running anything; training configs
    (no stages:) are checked as `drama-models train --config` reads them. Input paths the recipe names that are
    not on this machine (and no stage of it makes) are WARNING lines naming the stage and key."""
    from drama_models.recipes.inputs import warning_lines
    from drama_models.recipes.runner import RecipeRun
    from drama_models.recipes.schema import is_flow_recipe, load_recipe

    for path in recipe_files:
        if Path(path).is_file() and not is_flow_recipe(path):
            from drama_models.training.config import TrainConfig

            TrainConfig.from_yaml(path, overrides={"model": "-", "output_dir": "-", "datasets": ["-"]})
            click.echo(f"{path}: ok (a training config for `drama-models train --config`)")
            continue
        recipe = load_recipe(path)
        enabled = [s.name for s in recipe.stages if s.enabled]
        warnings = warning_lines(RecipeRun(recipe))
        missing = f"; {len(warnings)} input paths missing here" if warnings else ""
        click.echo(f"{path}: ok ({len(recipe.stages)} stages: {', '.join(enabled)}{missing})")
        for line in warnings:
            click.echo(line, err=True)


@recipe_group.command("list")
@click.option("--dir", "folder", default=None, type=click.Path(file_okay=False),
              help="Folder of recipes (default: the project's recipes/).")
def list_command(folder):
    """List the flow recipes (files with a stages: key) and the training configs in the recipes folder."""
    import yaml

    from drama_models.recipes.schema import is_flow_recipe

    root = Path(folder) if folder else RECIPES_DIR
    if not root.is_dir():
        raise click.UsageError(f"{root}: no recipes folder (pass --dir)")
    for path in sorted(root.glob("*.yaml")):
        if is_flow_recipe(path):
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
            desc = (raw.get("description") or "").strip().splitlines()
            click.echo(f"flow   {path.name:<22} {desc[0] if desc else ''}")
        else:
            click.echo(f"train  {path.name:<22} training config: drama-models train --config {path}")


@click.command("zoo")
@click.option("--zoo-dir", default=None, type=click.Path(file_okay=False),
              help="Folder with local copies (<dir>/drama-base, ...); default $DRAMA_ZOO_DIR, then the HF cache.")
@click.option("--json", "as_json", is_flag=True, help="Print the entries as JSON.")
def zoo_command(zoo_dir, as_json):
    """The published DRAMA checkpoints: shapes, dims, prefixes, licence, paper scores, reproducing recipe."""
    from drama_models import zoo

    if as_json:
        click.echo(json.dumps(zoo.as_dicts(), indent=2))
    else:
        click.echo(zoo.zoo_table(zoo_dir))


def register(group: click.Group) -> None:
    group.add_command(recipe_group)
    group.add_command(zoo_command)
