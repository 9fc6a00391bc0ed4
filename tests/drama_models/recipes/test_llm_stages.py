"""The LLM stages of a recipe (queries, rerank) through a real OpenAI-compatible HTTP server on 127.0.0.1:
options reach run_generate, outputs flow into mine, rerank and build, and the counts reach the manifest."""
from __future__ import annotations

import hashlib
from pathlib import Path

from fake_openai_server import FakeOpenAIServer

from drama_models.recipes.runner import run_recipe

SAMPLE = Path(__file__).resolve().parents[3] / "drama_data" / "samples" / "scifact-sample"


def answer(prompt: str) -> str:
    if "RankGPT" in prompt:  # a rerank window
        return "[2] > [1] > [3]"
    h = hashlib.sha256(prompt.encode()).hexdigest()[:8]
    words = [w.strip(".,;:()[]") for w in prompt.split()]  # share a word with the passage: not a generic query
    word = max(words[-60:], key=len)
    return f"Task: find evidence\nQuery: which cells respond to {word} {h}\nLanguage: English"


def test_queries_and_rerank_stages_over_an_openai_server(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-test")
    with FakeOpenAIServer(responder=answer, max_lifetime=120) as server:
        llm = (f"backend: openai, model: fake-model, base_url: '{server.base_url}', api_key_env: MY_KEY, "
               f"cache_dir: '{tmp_path / 'cache'}', prompt_format: chat")
        recipe = tmp_path / "llm.yaml"
        recipe.write_text(
            f"corpus: {SAMPLE}\nstages:\n"
            f"  queries: {{passages: 12, {llm}}}\n"
            f"  mine: {{k: 10}}\n"
            f"  rerank: {{depth: 5, window: 5, stride: 5, {llm}}}\n"
            f"  build: {{rules: {{qgen: {{positives: [1, 1], negatives: [6, 10]}}, rerank: {{negatives: [3, 5]}}}}}}\n", encoding="utf-8")
        manifest = run_recipe(recipe, output=str(tmp_path / "run"), echo=lambda m: None)
        n_requests = len(server.completion_records())
    stages = {s["name"]: s for s in manifest["stages"]}
    assert stages["queries"]["counts"]["rows"] == 12 and stages["queries"]["counts"]["generated"] == 12
    rerank = stages["rerank"]["counts"]["queries"]
    assert rerank["rows"] == 12 and 0 <= rerank["validity"] <= 1
    assert stages["build"]["counts"]["rows"] > 0
    assert "--base-url" in stages["queries"]["command"] and "sk-test" not in str(manifest)
    assert n_requests == 24
    again = run_recipe(recipe, output=str(tmp_path / "run"), echo=lambda m: None)
    assert {s["status"] for s in again["stages"]} == {"skipped"}


def test_paper_recipe_data_parallel_means_engines_on_their_own_gpus(tmp_path, monkeypatch):
    """drama-base's ``tensor_parallel_size: 4, data_parallel_size: 2``: two engines (replica processes) of four
    GPUs each on an 8-GPU node, as its comment says; on a 4-GPU node one line says what does not fit."""
    import pytest
    from tiny_models import tiny_tokenizer

    from drama_data.backends import build_backend, placement
    from drama_data.backends.replicas import ReplicaPoolBackend
    from drama_data.errors import ConfigError
    from drama_models.recipes.runner import RecipeRun
    from drama_models.recipes.schema import load_recipe
    from drama_models.recipes.stages.generate import backend_kwargs

    recipes = Path(__file__).resolve().parents[3] / "recipes"
    run = RecipeRun(load_recipe(recipes / "drama-base.yaml"), output=str(tmp_path / "run"))
    tiny_tokenizer().save_pretrained(tmp_path / "model")  # stands in for Llama-3.3-70B (no Hub here)
    for name in ("queries-en-web", "rerank"):
        kwargs = backend_kwargs(run.ctx.by_name(name).options)  # what the stage passes to run_generate
        options = {k: kwargs[k] for k in ("tensor_parallel_size", "data_parallel_size", "engine_args")}
        monkeypatch.setattr(placement, "visible_gpus", lambda: [str(i) for i in range(8)])
        monkeypatch.setattr("drama_data.backends.vllm.has_cuda", lambda: True)
        pool = build_backend("vllm", str(tmp_path / "model"), **options)
        assert isinstance(pool, ReplicaPoolBackend)
        assert [p.env["CUDA_VISIBLE_DEVICES"] for p in pool.placements] == ["0,1,2,3", "4,5,6,7"]
        assert pool.spec.kwargs["tensor_parallel_size"] == 4 and run.ctx.by_name(name).gpus() == 8
        monkeypatch.setattr(placement, "visible_gpus", lambda: ["0", "1", "2", "3"])
        with pytest.raises(ConfigError, match="--data-parallel-size 2 x --tensor-parallel-size 4 needs 8 GPUs; 4"):
            build_backend("vllm", str(tmp_path / "model"), **options)
