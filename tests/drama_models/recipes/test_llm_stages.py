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
