"""Every script in examples/ runs on the bundled sample (each in a fresh folder, as a user would run it).

The quick one runs in the default suite; those that load models or start vLLM are slow-marked. A new script in
examples/ must be added here (``test_every_example_is_tested``). generate_queries.py reuses the request cache like
any rerun (its two answers are those of the Quickstart's first passages): about 5 s warm, 91 s cold with the
engine start (``--no-cache``; 2-core VM, 2026-12-07).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"

# script -> (arguments, a line its output must contain, timeout in seconds)
CASES = {
    "inspect_dataset.py": ([], "85 rows; columns: query_id, query", 300),
    "evaluate.py": ([], "| scifact-sample | BM25 |", 600),
    "build_and_train.py": (["--steps", "2"], "model saved to", 900),
    "prune.py": ([], "pruned backbone written to", 900),
    "generate_queries.py": (["--limit", "2"], "rows written", 900),
    "train_sentence_transformers.py": ([], "model saved to", 900),
}
SLOW = {"evaluate.py", "build_and_train.py", "prune.py", "generate_queries.py", "train_sentence_transformers.py"}


def _run(script: str, tmp_path: Path) -> None:
    args, expected, timeout = CASES[script]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    run = subprocess.run([sys.executable, str(EXAMPLES / script), *args], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=timeout, check=False)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    assert expected in output, output[-4000:]


def test_every_example_is_tested():
    scripts = {p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_")}
    assert scripts == set(CASES), scripts ^ set(CASES)


@pytest.mark.parametrize("script", [pytest.param(s, marks=pytest.mark.slow) if s in SLOW else s for s in CASES])
def test_example_runs(script, tmp_path):
    _run(script, tmp_path)
