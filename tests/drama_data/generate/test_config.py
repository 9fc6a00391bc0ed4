"""The generate stage's one config object: built alike from keywords, from ``drama-data generate``'s flags and by
the recipe stages; checked in one place (one line naming the flag)."""
from __future__ import annotations

import shlex
from pathlib import Path

import pytest

import drama_data
from drama_data.api import run_generate
from drama_data.errors import ConfigError
from drama_data.generate.config import GenerateConfig

SAMPLE = Path(drama_data.__file__).parent / "samples" / "scifact-sample"
REPO = Path(drama_data.__file__).resolve().parents[1]


def test_backend_settings_go_into_backend_options_and_cli_negations_are_read():
    c = GenerateConfig.from_options(output="o", corpus="c", concurrency=4, engine_kwargs={"a": 1},
                                    engine_args={"b": 2}, no_progress=True, no_report=True, batch=True)
    assert c.backend_options == {"concurrency": 4, "engine_args": {"a": 1, "b": 2}, "batch": True}
    assert c.progress is False and c.report is False
    with pytest.raises(ConfigError, match="generate: unknown option 'concurency'"):
        GenerateConfig.from_options(output="o", corpus="c", concurency=4)


@pytest.mark.parametrize("options, message", [
    ({"corpus": None}, "--corpus is required (except for --task crosslingual --method translate)"),
    ({"task_name": "crop", "per_language": 2}, "--per-language goes with --task queries or crosslingual, not crop"),
    ({"method": "translate"}, "--method, --queries and --round-trip go with --task crosslingual"),
    ({"task_name": "crosslingual", "method": "translate"},
     "--method translate reads its passages from --queries DIR: leave out --corpus"),
    ({"concurrency": 0, "backend_name": "openai"}, "--concurrency must be at least 1, got 0"),
    ({"task_name": "nope"}, "--task 'nope': choose from queries, crop, crosslingual, rerank"),
])
def test_validation_is_one_line_naming_the_flag(options, message):
    with pytest.raises(ConfigError) as err:
        GenerateConfig.from_options(**{"output": "o", "corpus": "c", **options}).validate()
    assert str(err.value) == message


def test_a_config_and_the_old_keywords_give_the_same_run(tmp_path):
    common = dict(task_name="crop", corpus=str(SAMPLE), limit=5, seed=2, no_progress=True, no_report=True)
    run_generate(output=str(tmp_path / "kw"), echo=None, **common)
    run_generate(GenerateConfig.from_options(output=str(tmp_path / "cfg"), **common), echo=None)
    parts = sorted(p.relative_to(tmp_path / "kw") for p in (tmp_path / "kw").rglob("*.parquet"))
    assert parts and all((tmp_path / "kw" / p).read_bytes() == (tmp_path / "cfg" / p).read_bytes() for p in parts)


def test_the_recipe_stage_and_its_command_line_build_the_same_config(tmp_path):
    """A recipe stage's config equals the one ``drama-data generate`` builds from the command the plan prints."""
    from drama_data.cli.generate import command
    from drama_models.recipes.runner import RecipeRun
    from drama_models.recipes.schema import load_recipe

    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"name: r\ncorpus: {SAMPLE}\noutput: {tmp_path / 'run'}\nseed: 3\nstages:\n  queries:\n"
                      "    passages: 7\n    backend: openai\n    model: m\n    concurrency: 3\n    batch: true\n"
                      "    temperature: 0.5\n  crosslingual:\n    engine_args: {max_num_seqs: 4}\n"
                      "    target_languages: de\n    queries_per_doc: 2\n")
    run = RecipeRun(load_recipe(recipe), output=str(tmp_path / "run"))
    for name in ("queries", "crosslingual"):
        stage = run.ctx.by_name(name)
        args = shlex.split(stage.command(run.ctx))[2:]  # after "drama-data generate"
        params = command.make_context("generate", args).params
        params.pop("as_json")
        from drama_data.backends.settings import parse_key_values

        params["engine_args"] = parse_key_values(params["engine_args"])
        from_cli = GenerateConfig.from_options(**params)
        from_stage = stage.config(run.ctx)
        cli_backend = from_cli.backend_settings()
        assert cli_backend == from_stage.backend_settings(), name
        same = {k: v for k, v in vars(from_cli).items() if k != "backend_options"}
        assert same == {k: v for k, v in vars(from_stage).items() if k != "backend_options"}, name
