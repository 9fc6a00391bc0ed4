"""The LLM stages' recipe keys come from the backends' settings classes (defaults, validation, the command line
they print); the old ``engine_kwargs`` key is read as ``engine_args`` with a warning."""
from __future__ import annotations

import warnings
from pathlib import Path

import pytest

import drama_data
from drama_data.backends.registry import registry

SAMPLE = Path(drama_data.__file__).parent / "samples" / "scifact-sample"


def test_recipe_keys_derive_from_the_settings_and_engine_kwargs_still_reads(tmp_path):
    from drama_models.recipes.schema import RecipeError, load_recipe
    from drama_models.recipes.stages.generate import BACKEND_OPTIONS, backend_flags

    for info in registry().infos():
        assert BACKEND_OPTIONS[info.name].default == info.default
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"name: r\ncorpus: {SAMPLE}\noutput: runs/r\nseed: 0\nstages:\n  queries:\n"
                      "    engine_kwargs: {max_num_seqs: 4}\n    engine_args: {enforce_eager: true}\n"
                      "    backend: vllm\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        options = load_recipe(recipe).stage("queries").options
    assert any("engine_kwargs is now engine_args" in str(w.message) for w in caught)
    assert options["engine_args"] == {"max_num_seqs": 4, "enforce_eager": True} and "engine_kwargs" not in options
    assert backend_flags(options)[-4:] == ["--engine-arg", "max_num_seqs=4", "--engine-arg", "enforce_eager=true"]
    recipe.write_text(recipe.read_text().replace("backend: vllm", "backend: openai\n    concurrency: 0"))
    with pytest.raises(RecipeError, match=r"stages\.queries\.backend: --concurrency must be at least 1, got 0$"):
        load_recipe(recipe)
    recipe.write_text(recipe.read_text().replace("backend: openai", "backend: nope"))
    with pytest.raises(RecipeError, match="--backend 'nope': unknown"):
        load_recipe(recipe)
