"""Recipe files: every shipped one validates (flow recipes) or loads as a training config; bad files get one
error naming the key; the paper recipes' --dry-run prints a plan with requests, tokens and GPUs."""
from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from drama_models.cli import main
from drama_models.recipes.schema import RecipeError, is_flow_recipe, load_recipe

RECIPES = Path(__file__).resolve().parents[3] / "recipes"
FLOWS = sorted(p for p in RECIPES.glob("*.yaml") if is_flow_recipe(p))
TRAIN_CONFIGS = sorted(p for p in RECIPES.glob("*.yaml") if not is_flow_recipe(p))


def test_the_recipe_folder_has_both_kinds():
    assert {p.stem for p in FLOWS} >= {"drama-base", "drama-large", "drama-1b", "cpu-demo"}
    assert {p.stem for p in TRAIN_CONFIGS} >= {"drama-0.1b", "tiny-cpu"}


@pytest.mark.parametrize("path", FLOWS, ids=lambda p: p.stem)
def test_every_flow_recipe_validates(path):
    recipe = load_recipe(path)
    assert recipe.stages and recipe.name == path.stem


@pytest.mark.parametrize("path", TRAIN_CONFIGS, ids=lambda p: p.stem)
def test_training_configs_still_load(path):
    from drama_models.training.config import TrainConfig

    cfg = TrainConfig.from_yaml(path, overrides={"model": "m", "datasets": ["d"]})
    assert cfg.max_steps > 0


def test_paper_shapes_and_settings():
    base = load_recipe(RECIPES / "drama-base.yaml")
    assert base.stage("prune").options["target"] == "drama-0.1b"
    assert load_recipe(RECIPES / "drama-large.yaml").stage("prune").options["target"] == "drama-0.3b"
    one_b = load_recipe(RECIPES / "drama-1b.yaml")
    assert not any(s.kind == "prune" for s in one_b.stages)
    for recipe in (base, one_b):
        train = recipe.stage("train").options
        assert (train["train_group_size"], train["max_steps"], train["passage_max_len"]) == (8, 200000, 256)
        assert train["matryoshka_dims"] and train["nproc_per_node"] > 1
        q = recipe.stage("queries-en-web").options
        assert q["model"] == "meta-llama/Llama-3.3-70B-Instruct" and q["tensor_parallel_size"] == 4
        assert recipe.stage("build").options["mix"]["ratios"] == {
            "english_web": 2, "multilingual_wikipedia": 1, "multilingual_web": 1}


BAD = [
    ("stages:\n  generate: {}\n", "stages.generate: unknown stage 'generate'"),
    ("stages:\n  mine: {kk: 3}\n", "stages.mine.kk: unknown option for a mine stage"),
    ("stages:\n  mine: {k: fifty}\n", "stages.mine.k: expected an integer"),
    ("stages:\n  mine: {cross_lingual: title}\n", "stages.mine.cross_lingual: 'title' is not one of auto, query"),
    ("stages:\n  crop: {passages: true}\n", "stages.crop.passages: expected an integer"),
    ("stages:\n  mine: {bf16: fast}\n", "stages.mine.bf16: 'fast' is not one of auto, true, false"),
    ("stages:\n  evaluate: {bf16: maybe}\n", "stages.evaluate.bf16: 'maybe' is not one of auto, true, false"),
    ("stages:\n  mine: {retriever: bm25}\n", "stages.mine.retriever: 'bm25' is not one of bm25s, rank-bm25"),
    ("stages:\n  crop: {}\n  mine: {}\n  build: {inputs: [queries]}\n",
     "stages.build.inputs: 'queries' is not a generate stage of this recipe"),
    ("stages:\n  build: {filters: {max_copy: 1}}\n", "stages.build.filters.max_copy: unknown option"),
    ("stages:\n  t: {kind: train, model: m, batch_size: 0}\n", "stages.t.batch_size must be >= 1"),
    ("stages:\n  t: {kind: train, model: '@prune'}\n", "stages.t.model: '@prune' names no prune"),
    ("stages:\n  t: {kind: train}\n", "stages.t.model: missing"),
    ("stages:\n  t: {kind: train, model: m, datasets: ['@build']}\n", "stages.t.datasets[0]: '@build' names no"),
    ("stages:\n  build: {}\n  mine: {}\n", "stages.mine: a mine stage must come before build"),
    ("stagez: {}\nstages: {crop: {}}\n", "stagez: unknown key"),
    ("model: x\n", "no `stages:` key"),
    ("stages: [crop]\n", "stages: expected a mapping"),
]


@pytest.mark.parametrize("text,message", BAD)
def test_bad_recipes_name_the_key(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RecipeError) as err:
        load_recipe(path)
    assert message in str(err.value)
    assert str(path) in str(err.value)


def test_cli_reports_a_bad_recipe_in_one_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("stages:\n  mine: {k: fifty}\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["recipe", "run", str(path), "--dry-run"])
    assert result.exit_code == 2
    assert result.output.startswith("Error: ") and "stages.mine.k" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("name", ["drama-base", "drama-large", "drama-1b"])
def test_paper_recipes_print_a_plan(name, tmp_path):
    result = CliRunner().invoke(main, ["recipe", "run", str(RECIPES / f"{name}.yaml"), "--dry-run",
                                       "--output", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "LLM requests: 1,000,000" in out and "8 GPUs" in out and "Total LLM requests" in out
    assert "drama-data generate --task queries" in out and "--tensor-parallel-size 4" in out
    assert "torchrun --nnodes 1 --nproc-per-node 8 -m drama_models.cli train" in out
    assert not (tmp_path / "run").exists()


def test_cpu_demo_plan_counts_requests_from_the_collection(tmp_path):
    sample = Path(__file__).resolve().parents[3] / "drama_data" / "samples" / "scifact-sample"
    result = CliRunner().invoke(main, ["recipe", "run", str(RECIPES / "cpu-demo.yaml"), "--dry-run", "--corpus",
                                       str(sample), "--output", str(tmp_path / "run"), "--json"])
    assert result.exit_code == 0, result.output
    import json

    plan = json.loads(result.output)
    queries = plan["stages"][0]
    from drama_data.chunking import load_passages

    passages, _ = load_passages(str(sample), max_tokens=256)
    assert queries["estimate"]["requests"] == len(passages) < 600  # the sample's 50 abstracts, chunked
    assert queries["estimate"]["prompt_tokens"] > 50 * 100
    assert [s["name"] for s in plan["stages"] if s["status"] == "disabled"] == ["rerank"]


def test_recipe_list_and_validate_commands():
    result = CliRunner().invoke(main, ["recipe", "list"])
    assert result.exit_code == 0
    assert "flow   cpu-demo.yaml" in result.output and "train  tiny-cpu.yaml" in result.output
    result = CliRunner().invoke(main, ["recipe", "validate", *map(str, FLOWS + TRAIN_CONFIGS)])
    assert result.exit_code == 0 and result.output.count(": ok") == len(FLOWS) + len(TRAIN_CONFIGS)
    assert result.output.count("a training config") == len(TRAIN_CONFIGS)


def test_a_collection_without_test_qrels_fails_before_any_work(tmp_path):
    corpus = tmp_path / "beir"
    corpus.mkdir()
    (corpus / "corpus.jsonl").write_text('{"_id": "d1", "title": "", "text": "a passage about cells."}\n')
    result = CliRunner().invoke(main, ["recipe", "run", str(RECIPES / "cpu-demo.yaml"), "--corpus", str(corpus),
                                       "--output", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert "qrels/test.tsv not found" in result.output and "stages.evaluate" in result.output
    assert not (tmp_path / "run").exists()


def test_train_points_a_flow_recipe_to_recipe_run():
    result = CliRunner().invoke(main, ["train", "--config", str(RECIPES / "cpu-demo.yaml")])
    assert result.exit_code == 2 and "drama-models recipe run" in result.output


def test_train_datasets_name_build_stages(tmp_path):
    """``datasets: ["@STAGE[:WEIGHT]"]`` reads an earlier build stage's output (and only it): two train stages
    can learn from two builds."""
    from drama_models.recipes.runner import RecipeRun

    path = tmp_path / "r.yaml"
    path.write_text("corpus: c\noutput: run\nstages:\n  mine: {}\n"
                    "  build-a: {kind: build}\n  build-b: {kind: build}\n"
                    "  t1: {kind: train, model: m, datasets: ['@build-b:2', 'extra/folder']}\n"
                    "  t2: {kind: train, model: m}\n", encoding="utf-8")
    recipe = load_recipe(path)
    ctx = RecipeRun(recipe, output=str(tmp_path / "run")).ctx
    t1, t2 = ctx.by_name("t1"), ctx.by_name("t2")
    assert t1._datasets(ctx) == [f"{ctx.stage_dir('build-b')}:2", "extra/folder"]
    assert [s.name for s in t1.upstream(ctx)] == ["build-b"]
    assert [s.name for s in t2.upstream(ctx)] == ["build-a", "build-b"]
