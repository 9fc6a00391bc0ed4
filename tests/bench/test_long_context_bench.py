"""bench/long_context.py's ``--model NAME=PATH`` parsing and its table order with a trained model (no models run)."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load():
    spec = importlib.util.spec_from_file_location("long_context_bench", BENCH / "long_context.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_parse_models_names_and_errors(tmp_path):
    bench = _load()
    (tmp_path / "train-long").mkdir()
    (tmp_path / "other").mkdir()
    models = bench.parse_models([str(tmp_path / "train-long"), f"mine={tmp_path / 'other'}"])
    assert models == {"train-long": str(tmp_path / "train-long"), "mine": str(tmp_path / "other")}
    with pytest.raises(SystemExit, match="no model folder at"):
        bench.parse_models([f"x={tmp_path / 'missing'}"])
    with pytest.raises(SystemExit, match="already used"):
        bench.parse_models([f"gemma={tmp_path / 'other'}"])
    with pytest.raises(SystemExit, match="already used"):
        bench.parse_models([f"a={tmp_path / 'other'}", f"a={tmp_path / 'train-long'}"])


def test_report_orders_a_trained_model_after_the_built_in_systems(tmp_path, monkeypatch, capsys):
    bench = _load()
    model = tmp_path / "train-long"
    model.mkdir()
    cells = [{"system": s, "task": t, "length": 4096, "ndcg@1": v, "truncated": False, "read_tokens": 4096,
              "num_queries": 3, "num_docs": 6}
             for s, v in (("train-long", 1.0), ("BM25", 1.0), ("Gemma-3-270M", 0.0)) for t in ("needle", "passkey")]
    (tmp_path / "cells.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cells), encoding="utf-8")
    monkeypatch.setattr(sys, "argv", ["long_context.py", "--out", str(tmp_path), "--report", "--systems", "bm25",
                                      "--model", str(model), "--lengths", "4096"])
    bench.main()
    out = capsys.readouterr().out
    passkey = out[out.index("passkey"):]
    assert passkey.index("BM25") < passkey.index("Gemma-3-270M") < passkey.index("train-long")
    assert out.strip().splitlines()[-1].startswith("long_context: nDCG@1 at 4k: passkey BM25 100; passkey Gemma")
