"""bench/encoder_serving.py --smoke: tiny random models through PyTorch, ONNX Runtime and OpenVINO (float32 and its
default precision) and the int8 export on both, in seconds."""
from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench"
BACKENDS = ("torch", "onnx", "onnx-int8", "openvino-f32", "openvino-int8", "openvino")


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_smoke_prints_the_table_and_the_last_line(tmp_path, capsys):
    bench = _load("encoder_serving")
    figure = bench.main(["--smoke", "--threads", "1", "--json", str(tmp_path / "figures.json")])
    out = capsys.readouterr().out.strip().splitlines()
    assert re.fullmatch(r"encoder_serving: best/torch \d+\.\d\d \(goal: >= 1\.5\)", out[-1]), out[-1]
    assert f"{figure:.2f}" in out[-1]
    assert re.fullmatch(r"encoder_serving without bf16: best/torch \d+\.\d\d", out[-2]), out[-2]
    table = [line for line in out if line.startswith("| minilm |") or line.startswith("| gemma |")]
    assert len(table) == 2 * len(BACKENDS)  # two encoders x every row
    figures = json.loads((tmp_path / "figures.json").read_text())
    for name in ("minilm", "gemma"):
        result = figures["results"][name]
        assert result["openvino_precision"] in ("f32", "bf16")
        for backend, cosine in result["min_cosine"].items():
            assert cosine >= (0.99 if backend.endswith("int8") else 0.999), (name, backend, cosine)
        for backend in BACKENDS:
            f = figures["results"][name]["backends"][backend]
            assert f["docs_per_s"] > 0 and 0 < f["query_p50_ms"] <= f["query_p99_ms"]
    assert set(figures["gemma_per_flop_vs_minilm"]) == set(BACKENDS)
    plain = min(figures["best_over_torch_without_bf16"].values())
    assert f"{plain:.2f}" in out[-2] and not figures["no_bf16"]


def test_no_bf16_runs_every_row_without_bf16(tmp_path, capsys):
    """--no-bf16: the openvino row runs float32, so both last lines cover the same bf16-free rows."""
    bench = _load("encoder_serving")
    bench.main(["--smoke", "--threads", "2", "--no-bf16", "--json", str(tmp_path / "figures.json")])
    figures = json.loads((tmp_path / "figures.json").read_text())
    assert figures["no_bf16"] and {r["openvino_precision"] for r in figures["results"].values()} == {"f32"}
    assert "native bf16" in capsys.readouterr().out


def test_flops_count_the_non_embedding_parameters():
    import transformers

    bench = _load("encoder_serving")
    cfg = transformers.BertConfig(vocab_size=100, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                  intermediate_size=128)
    model = transformers.BertModel(cfg)
    n = bench.non_embedding_parameters(model)
    assert 0 < n < sum(p.numel() for p in model.parameters())
    assert bench.flops_per_text(model, 10) == 10 * (2 * n + 4 * 2 * 10 * 64)
