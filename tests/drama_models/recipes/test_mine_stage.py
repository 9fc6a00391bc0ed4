"""The recipe's mine stage builds drama-data mine's MineConfig, so a recipe is checked by the same rules when it
loads, with errors naming the stage's keys (before: only at run time, naming CLI flags)."""
import pytest

from drama_models.recipes.schema import RecipeError, load_recipe


@pytest.mark.parametrize("options, message", [
    ("{retriever: rank-bm25, threads: 2}", "stages.mine.retriever rank-bm25 does not take option(s) threads"),
    ("{retriever: bm25s, weight: 0.3}", "does not take option(s) weight"),
    ("{k: 0}", "stages.mine.k must be at least 1"),
])
def test_mine_options_are_checked_when_the_recipe_loads(tmp_path, options, message):
    path = tmp_path / "r.yaml"
    path.write_text(f"stages:\n  crop: {{}}\n  mine: {options}\n", encoding="utf-8")
    with pytest.raises(RecipeError) as err:
        load_recipe(path)
    assert message in str(err.value)


def test_mine_stage_config_matches_the_cli_defaults(tmp_path):
    from drama_models.recipes.stages.mine import MineStage

    path = tmp_path / "r.yaml"
    path.write_text("stages:\n  crop: {}\n  mine: {retriever: hybrid, model: /m, no_title: true}\n", encoding="utf-8")
    spec = next(s for s in load_recipe(path).stages if s.kind == "mine")
    c = MineStage.mine_config(spec.options, "QUERIES", None, "OUT")
    assert c.retriever_kwargs() == {"model": "/m", "include_title": False, "bf16": "auto", "progress": False}
