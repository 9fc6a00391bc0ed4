"""cards/: the templates ship with the package, the model card and the figures render."""
from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pyarrow as pa
import pytest

from cards import template_text
from cards.model_card import write_model_card

REPO = Path(__file__).resolve().parents[2]


def test_templates_are_found():
    assert "Load it" in template_text("dataset_card.md.j2")
    assert "## Evaluation" in template_text("model_card.md.j2")
    with pytest.raises(FileNotFoundError):
        template_text("nope.j2")


def test_dataset_cards_still_render_from_the_moved_template():
    from drama_data.datasets.card import render_dataset_card

    table = pa.table({"query": ["a b c"], "source": ["qgen"], "language": ["en"]})
    meta, body = render_dataset_card({"stage": "generate", "tool": "drama-toolkit"}, table)
    assert meta["language"] == ["en"] and "rows: **1**" in body


def _results():
    row = {"dataset": "scifact", "split": "test", "num_queries": 300, "num_docs": 5183, "mrr@10": 0.6}
    return [{**row, "system": "mine (trained)", "ndcg@10": 0.70, "recall@100": 0.93},
            {**row, "system": "BM25", "ndcg@10": 0.68, "recall@100": 0.92}]


def test_model_card_has_metrics_data_and_loss_curve(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "train_log.jsonl").write_text("".join(json.dumps({"step": s, "loss": 2.0 / s}) + "\n" for s in (1, 2, 3)))
    data = tmp_path / "train"
    data.mkdir()
    (data / "provenance.json").write_text(json.dumps({
        "rows": 120, "counts": {"source": {"qgen": 20, "sent": 100}}, "removed": {"too_short": 3},
        "inputs": [{"name": "queries", "group": "qgen", "rows": 23, "retriever": "bm25s", "rerank": None}]}))
    path = write_model_card(model, results=_results(), system="mine (trained)",
                            train_config={"model": "sentence-transformers/all-MiniLM-L6-v2", "datasets": [str(data)],
                                          "max_steps": 3, "batch_size": 32, "query_prefix": ""},
                            recipe="cpu-demo", run_dir=tmp_path)
    card = path.read_text()
    assert card.startswith("---\n") and "base_model: sentence-transformers/all-MiniLM-L6-v2" in card
    assert "| **mine (trained)** (this model) | 0.7000 | 0.9300 |" in card and "| BM25 | 0.6800 |" in card
    assert "**120** rows" in card and "qgen 20" in card and "too_short 3" in card
    assert "input `queries` (group `qgen`): 23 candidate rows" in card
    assert "![Training loss](loss_curve.png)" in card and "Loss 2.0000 at step 1 -> 0.6667 at step 3" in card
    assert (model / "loss_curve.png").read_bytes()[:4] == b"\x89PNG"
    assert "distill_weight" not in card  # shown only when the run distilled
    path = write_model_card(model, results=_results(), system="mine (trained)",
                            train_config={"model": "m", "datasets": [str(data)], "max_steps": 3,
                                          "distill_weight": 1.0, "distill_temperature": 1.0, "contrastive_weight": 1.0},
                            recipe="cpu-demo", run_dir=tmp_path)
    assert "| distill_weight | 1.0 |" in path.read_text()


@pytest.mark.slow
def test_wheel_ships_the_card_templates(tmp_path):
    import shutil

    src = tmp_path / "src"  # a copy, so the build leaves nothing in the checkout
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(".git", ".venv", "runs", "build", "*.egg-info",
                                                             "__pycache__", ".pytest_cache"))
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                             "-w", str(tmp_path), str(src)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {result.stderr[-300:]}")
    wheel = next(tmp_path.glob("drama_toolkit-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"cards/__init__.py", "cards/dataset_card.md.j2", "cards/model_card.md.j2",
            "cards/model_card.py", "drama_models/recipes/runner.py"} <= names
    site = tmp_path / "site"  # the installed layout (what `pip install .` puts in site-packages), outside the checkout
    zipfile.ZipFile(wheel).extractall(site)
    code = ("import pyarrow as pa; from drama_data.datasets.card import render_dataset_card; import cards; "
            "print(cards.__file__); print(render_dataset_card({'stage': 's'}, pa.table({'query': ['q']}))[1][:20])")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={"PYTHONPATH": str(site), "PATH": ""},
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-1000:]
    assert out.stdout.startswith(str(site))
