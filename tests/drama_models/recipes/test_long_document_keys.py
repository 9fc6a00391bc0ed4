"""The generate stages' long-document keys (``pack_tokens``, ``section_tokens``): declared like ``chunk_tokens``,
shown in the stage's command when set, and passed on to the GenerateConfig."""
from __future__ import annotations

from pathlib import Path

import drama_data

SAMPLE = Path(drama_data.__file__).parent / "samples" / "scifact-sample"


def test_pack_and_section_tokens_reach_the_command_and_the_config(tmp_path):
    from drama_models.recipes.runner import RecipeRun
    from drama_models.recipes.schema import load_recipe

    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"name: r\ncorpus: {SAMPLE}\noutput: runs/r\nseed: 0\nstages:\n"
                      "  queries: {backend: openai, model: m, base_url: 'http://127.0.0.1:9', pack_tokens: 2048, "
                      "section_tokens: 128}\n  crop: {pack_tokens: 1024, section_tokens: 512}\n")
    run = RecipeRun(load_recipe(recipe), output=str(tmp_path / "run"))
    queries, crop = run.stages
    assert "--pack-tokens 2048 --section-tokens 128" in queries.command(run.ctx)
    config = queries.config(run.ctx)
    assert (config.pack_tokens, config.section_tokens) == (2048, 128)
    assert "--pack-tokens 1024 --section-tokens 512" in crop.command(run.ctx)
    assert crop.config(run.ctx).section_tokens == 512
    recipe.write_text(recipe.read_text().replace(", pack_tokens: 2048, section_tokens: 128", ""))
    plain = RecipeRun(load_recipe(recipe), output=str(tmp_path / "run2")).stages[0]
    assert "--pack-tokens" not in plain.command(run.ctx) and "--section-tokens" not in plain.command(run.ctx)


def test_the_plan_counts_packed_documents_and_section_prompts(tmp_path):
    from drama_models.recipes.runner import RecipeRun
    from drama_models.recipes.schema import load_recipe

    recipe = tmp_path / "r.yaml"
    stage = "  queries: {backend: openai, model: m, base_url: 'http://127.0.0.1:9'%s}\n"
    estimates = {}
    for name, extra in (("plain", ""), ("packed", ", pack_tokens: 2048, section_tokens: 128")):
        recipe.write_text(f"name: r\ncorpus: {SAMPLE}\noutput: runs/r\nseed: 0\nstages:\n" + stage % extra)
        run = RecipeRun(load_recipe(recipe), output=str(tmp_path / name))
        estimates[name] = run.stages[0].estimate(run.ctx)
    assert 0 < estimates["packed"]["passages"] < estimates["plain"]["passages"]  # 50 abstracts -> a few documents
    per_request = {k: e["prompt_tokens"] / e["requests"] for k, e in estimates.items()}
    assert per_request["packed"] < per_request["plain"]  # a section of 128 tokens, not a whole abstract
