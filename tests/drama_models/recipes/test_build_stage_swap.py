"""The recipe's build stage passes ``swap_negatives`` / ``swap_keep_mined`` to the build config
(``swap_keep_mined: 0`` included) and checks them with the build config's reader."""
from pathlib import Path

import pytest

from drama_models.recipes.schema import RecipeError, StageSpec
from drama_models.recipes.stages.build import CONFIG_KEYS, BuildStage, _given


def spec(**kw):
    return StageSpec("build", "build", {**{k: o.default for k, o in BuildStage.OPTIONS.items()}, **kw})


def test_swap_options_are_build_config_keys():
    assert {"swap_negatives", "swap_keep_mined"} <= set(CONFIG_KEYS)
    assert _given("swap_keep_mined", 0) and not _given("swap_keep_mined", None) and not _given("swap_negatives", 0)
    BuildStage.validate(spec(swap_negatives=1, swap_keep_mined=0), "stages.build", Path("."))


def test_bad_swap_value_names_the_key():
    with pytest.raises(RecipeError, match="stages.build.swap_keep_mined: must be an integer >= 0"):
        BuildStage.validate(spec(swap_negatives=1, swap_keep_mined=-1), "stages.build", Path("."))
