"""``drama-models recipe run|list|validate`` and ``drama-models zoo``: thin click commands over
:func:`drama_models.recipes.runner.run_recipe` and :mod:`drama_models.zoo`. A bad recipe prints
``Error: <file>: stages.<stage>.<key>: ...`` and exits 2."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from drama_data.cli.common import clean_errors
from drama_data.cli.options import (
    Command,
    FlowGroup,
    echo_info,
    json_option,
    output_option,
    print_summary,
)
from drama_models.cli_common import clean_errors as clean_model_errors

RECIPES_DIR = Path(__file__).resolve().parents[2] / "recipes"


@click.group("recipe", cls=FlowGroup, flow=("run", "validate", "list"))
def recipe_group() -> None:
    """Whole flows (generate -> mine -> rerank -> build -> prune -> train -> evaluate) from a recipe file."""


@recipe_group.command("run", groups={"Input": ["recipe_file", "corpus"], "Stages": ["only", "from_stage", "dry_run"]},
                      examples=["drama-models recipe run recipes/cpu-demo.yaml --dry-run",
                                ("drama-models recipe run recipes/cpu-demo.yaml --corpus data/my-beir-folder "
                                 "--output runs/mine")])
@click.argument("recipe_file", type=click.Path(dir_okay=False))
@click.option("--corpus", default=None, help="The collection (BEIR folder, jsonl/parquet); overrides the recipe's.")
@output_option(help="Run folder (default: the recipe's output:, else runs/<recipe name>).")
@click.option("--only", "only", multiple=True, metavar="STAGE", help="Run only this stage (repeatable); "
              "its inputs must be complete. Reruns it even when complete.")
@click.option("--from", "from_stage", default=None, metavar="STAGE", help="Run this stage and every later one "
              "(rerunning them even when complete).")
@click.option("--dry-run", is_flag=True, help="Print the plan (stages, commands, LLM requests/tokens, GPUs); run nothing.")
@json_option(help="Print the plan (--dry-run) or the run's manifest as one JSON object on stdout.")
@clean_model_errors
@clean_errors
def run_command(recipe_file, corpus, output, only, from_stage, dry_run, as_json):
    """Run RECIPE_FILE: each stage's output feeds the next in one run folder; complete stages are skipped, an
    interrupted one resumes; manifest.json, summary.md and results.md are written in the run folder."""
    from drama_models.recipes.runner import run_recipe

    result = run_recipe(recipe_file, corpus=corpus, output=output, only=only, from_stage=from_stage,
                        dry_run=dry_run, echo=lambda m: click.echo(m, err=as_json or not dry_run), argv=sys.argv)
    if dry_run:
        print_summary({k: v for k, v in result.items() if k != "text"}, result["text"], as_json=as_json)
        return
    summary = Path(result["run_dir"]) / "summary.md"
    print_summary(result, f"done: {result['run_dir']} (summary: {summary})", as_json=as_json)


@recipe_group.command("validate", examples=["drama-models recipe validate recipes/*.yaml"])
@click.argument("recipe_files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@json_option
@clean_model_errors
@clean_errors
def validate_command(recipe_files, as_json):
    """Check recipe files (every key, type and stage reference) without running anything; training configs
    (no stages:) are checked as `drama-models train --config` reads them. Input paths the recipe names that are
    not on this machine (and no stage of it makes) are WARNING lines naming the stage and key."""
    from drama_data.plurals import plural
    from drama_models.recipes.inputs import warning_lines
    from drama_models.recipes.runner import RecipeRun
    from drama_models.recipes.schema import is_flow_recipe, load_recipe

    checked = []
    for path in recipe_files:
        if Path(path).is_file() and not is_flow_recipe(path):
            from drama_models.training.config import TrainConfig

            TrainConfig.from_yaml(path, overrides={"model": "-", "output_dir": "-", "datasets": ["-"]})
            checked.append({"file": path, "kind": "train", "ok": True})
            echo_info(f"{path}: ok (a training config for `drama-models train --config`)", as_json=as_json)
            continue
        recipe = load_recipe(path)
        enabled = [s.name for s in recipe.stages if s.enabled]
        warnings = warning_lines(RecipeRun(recipe))
        missing = f"; {plural(len(warnings), 'input path')} missing here" if warnings else ""
        checked.append({"file": path, "kind": "flow", "ok": True, "stages": [s.name for s in recipe.stages],
                        "enabled": enabled, "warnings": warnings})
        echo_info(f"{path}: ok ({plural(len(recipe.stages), 'stage')}: {', '.join(enabled)}{missing})",
                  as_json=as_json)
        for line in warnings:
            click.echo(line, err=True)
    print_summary({"recipes": checked}, None, as_json=as_json)


@recipe_group.command("list", examples=["drama-models recipe list"])
@click.option("--dir", "folder", default=None, type=click.Path(file_okay=False),
              help="Folder of recipes (default: the project's recipes/).")
@json_option
def list_command(folder, as_json):
    """List the flow recipes (files with a stages: key) and the training configs in the recipes folder."""
    import yaml

    from drama_models.recipes.schema import is_flow_recipe

    root = Path(folder) if folder else RECIPES_DIR
    if not root.is_dir():
        raise click.UsageError(f"{root}: no recipes folder (pass --dir)")
    found, lines = [], []
    for path in sorted(root.glob("*.yaml")):
        if is_flow_recipe(path):
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
            desc = (raw.get("description") or "").strip().splitlines()
            found.append({"file": str(path), "kind": "flow", "description": desc[0] if desc else ""})
            lines.append(f"flow   {path.name:<22} {desc[0] if desc else ''}")
        else:
            found.append({"file": str(path), "kind": "train", "description": "training config"})
            lines.append(f"train  {path.name:<22} training config: drama-models train --config {path}")
    print_summary({"recipes": found}, "\n".join(lines) if lines else None, as_json=as_json)


@click.command("zoo", cls=Command, groups={"Input": ["zoo_dir"]},
               examples=["drama-models zoo --zoo-dir ~/models --json"])
@click.option("--zoo-dir", default=None, type=click.Path(file_okay=False),
              help="Folder with local copies (<dir>/drama-base, ...); default $DRAMA_ZOO_DIR, then the HF cache.")
@json_option(help="Print the entries as one JSON object ({\"models\": [...]}, each with its local copy or null).")
def zoo_command(zoo_dir, as_json):
    """The published DRAMA checkpoints: shapes, dims, prefixes, licence, paper scores, reproducing recipe."""
    from drama_models import zoo

    if as_json:
        models = [{**entry, "local_copy": str(local) if (local := zoo.local_copy(zoo.ZOO[entry["name"]], zoo_dir))
                   else None} for entry in zoo.as_dicts()]
        print_summary({"models": models}, None, as_json=True)
    else:
        click.echo(zoo.zoo_table(zoo_dir))


def register(group: click.Group) -> None:
    group.add_command(recipe_group)
    group.add_command(zoo_command)
