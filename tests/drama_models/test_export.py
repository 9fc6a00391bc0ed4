"""drama_models.export: ONNX / OpenVINO exports agree with PyTorch (cosine >= 0.999 on the bundled sample), keep a
decoder's bidirectional attention, evaluate to the same nDCG@10, and fail in one line without half-written output."""
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from tiny_models import one_torch_thread, tiny_model_dir, tiny_tokenizer  # noqa: F401

from drama_models.cli import main
from drama_models.encoder import DramaEncoder
from drama_models.export import ExportedEncoder, ExportError, export_model, load_encoder
from drama_models.export.writer import EXPORT_CONFIG_NAME

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see tiny_models.one_torch_thread

SAMPLE = Path(__file__).resolve().parents[2] / "drama_data" / "samples" / "scifact-sample"


def sample_texts() -> tuple[list[str], list[str]]:
    """The bundled sample's documents ("title text") and queries."""
    docs = [json.loads(line) for line in (SAMPLE / "corpus.jsonl").read_text(encoding="utf-8").splitlines()]
    queries = [json.loads(line)["text"] for line in (SAMPLE / "queries.jsonl").read_text(encoding="utf-8").splitlines()]
    return [(d.get("title", "") + " " + d["text"]).strip() for d in docs], queries


@pytest.fixture(scope="module")
def encoders(tmp_path_factory) -> dict[str, Path]:
    """Two trained-encoder folders (as `drama-models train` writes them): a tiny random MiniLM-like BERT and a tiny
    random Gemma3 with bidirectional attention (sliding window 16 < the sample's lengths, so both layer kinds act)."""
    import torch
    import transformers

    root = tmp_path_factory.mktemp("export-models")
    tok = tiny_tokenizer()
    gemma_raw = tiny_model_dir(root / "gemma-raw", "gemma3", sliding_window=16,
                               layer_types=["sliding_attention", "full_attention"])
    gemma = DramaEncoder.from_pretrained(str(gemma_raw), device="cpu")
    assert gemma.bidirectional
    gemma.save_pretrained(root / "gemma")
    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=len(tok), hidden_size=128, num_hidden_layers=2, num_attention_heads=4,
                                  intermediate_size=256, max_position_embeddings=512, pad_token_id=0)
    transformers.BertModel(cfg).save_pretrained(root / "minilm-raw")
    tok.save_pretrained(root / "minilm-raw")
    DramaEncoder.from_pretrained(str(root / "minilm-raw"), device="cpu", query_prefix="").save_pretrained(
        root / "minilm")
    return {"minilm": root / "minilm", "gemma": root / "gemma"}


@pytest.fixture(scope="module")
def exports(encoders, tmp_path_factory) -> dict[tuple[str, str], Path]:
    """Each tiny encoder exported to each format (torchscript exporter: the faster one; dynamo has its own test)."""
    root = tmp_path_factory.mktemp("exports")
    return {(name, fmt): export_model(path, root / f"{name}-{fmt}", format=fmt, exporter="torchscript")
            for name, path in encoders.items() for fmt in ("onnx", "openvino")}


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


@pytest.mark.parametrize("fmt", ["onnx", "openvino"])
@pytest.mark.parametrize("name", ["minilm", "gemma"])
def test_export_matches_pytorch_on_the_sample(encoders, exports, name, fmt):
    docs, queries = sample_texts()
    torch_encoder = DramaEncoder.from_pretrained(str(encoders[name]), device="cpu")
    exported = ExportedEncoder(exports[(name, fmt)], threads=1)
    for method, texts in (("encode_documents", docs), ("encode_queries", queries)):
        ref = getattr(torch_encoder, method)(texts, batch_size=8, show_progress=False)
        got = getattr(exported, method)(texts, batch_size=8, show_progress=False)
        assert got.shape == ref.shape and got.dtype == np.float32
        assert cosines(ref, got).min() >= 0.999, (name, fmt, method)
    # Matryoshka cut (re-normalised) as the PyTorch encoder does it
    ref = torch_encoder.encode_queries(queries[:4], dim=32, show_progress=False)
    got = exported.encode_queries(queries[:4], dim=32, show_progress=False)
    assert np.allclose(np.linalg.norm(got, axis=-1), 1, atol=1e-5) and cosines(ref, got).min() >= 0.999
    config = json.loads((exports[(name, fmt)] / EXPORT_CONFIG_NAME).read_text())
    assert config["format"] == fmt and config["check"]["min_cosine"] >= 0.999
    assert config["dynamic_axes"]["input_ids"] == ["batch", "sequence"]


@pytest.mark.parametrize("name", ["minilm", "gemma"])
def test_openvino_precision_is_explicit_and_bf16_agrees(encoders, exports, name):
    """OpenVINO's precision is a recorded choice: auto = bf16 where the CPU has native bf16 (else f32; f32 on one
    thread, see runtime.resolve_precision), and bf16 still agrees with PyTorch float32 (cosine >= 0.999) on the
    sample; the export's check recorded both."""
    from drama_data.precision import cpu_has_native_bf16

    docs, queries = sample_texts()
    auto = ExportedEncoder(exports[(name, "openvino")], threads=2)
    assert auto.precision == ("bf16" if cpu_has_native_bf16() else "f32")
    assert ExportedEncoder(exports[(name, "openvino")], threads=1).precision == "f32"
    assert ExportedEncoder(exports[(name, "onnx")], threads=2).precision == "f32"
    torch_encoder = DramaEncoder.from_pretrained(str(encoders[name]), device="cpu")
    bf16 = ExportedEncoder(exports[(name, "openvino")], threads=2, precision="bf16")
    for method, texts in (("encode_documents", docs), ("encode_queries", queries)):
        ref = getattr(torch_encoder, method)(texts, batch_size=8, show_progress=False)
        assert cosines(ref, getattr(bf16, method)(texts, batch_size=8, show_progress=False)).min() >= 0.999
    check = json.loads((exports[(name, "openvino")] / EXPORT_CONFIG_NAME).read_text())["check"]
    assert set(check["min_cosine_by_precision"]) == {"f32", auto.precision}


def test_precision_options_fail_in_one_line(exports):
    with pytest.raises(ExportError, match="precision='fp8'"):
        ExportedEncoder(exports[("minilm", "openvino")], precision="fp8")
    with pytest.raises(ExportError, match="float32 only"):
        ExportedEncoder(exports[("minilm", "onnx")], precision="bf16")
    with pytest.raises(ExportError, match="--bf16=true"):
        load_encoder(str(exports[("minilm", "onnx")]), "onnx", encoder_kwargs={"bf16": "true"})
    assert load_encoder(str(exports[("minilm", "onnx")]), "openvino",
                        encoder_kwargs={"bf16": "false"}).precision == "f32"
    assert load_encoder(str(exports[("minilm", "onnx")]), "openvino",
                        encoder_kwargs={"bf16": "true"}).precision == "bf16"


def test_gemma_export_keeps_bidirectional_attention(encoders, exports):
    """The exported Gemma must match the bidirectional encoder, not the causal one it was pruned from."""
    docs, _ = sample_texts()
    causal = DramaEncoder.from_pretrained(str(encoders["gemma"]), device="cpu", bidirectional=False)
    exported = ExportedEncoder(exports[("gemma", "onnx")], threads=1)
    got = exported.encode_documents(docs[:8], show_progress=False)
    assert cosines(causal.encode_documents(docs[:8], show_progress=False), got).min() < 0.99


@pytest.mark.slow  # torch.export + ONNX Script: ~15 s on a quiet 2-core machine, 40 s under load
def test_dynamo_exporter(encoders, tmp_path):
    """The default exporter (torch.export) gives the same embeddings, with dynamic batch and sequence axes."""
    out = export_model(encoders["gemma"], tmp_path / "gemma-dynamo", format="onnx")
    assert json.loads((out / EXPORT_CONFIG_NAME).read_text())["exporter"] == "dynamo"
    docs, _ = sample_texts()
    ref = DramaEncoder.from_pretrained(str(encoders["gemma"]), device="cpu").encode_documents(
        docs[:12], batch_size=5, show_progress=False)
    got = ExportedEncoder(out, threads=1).encode_documents(docs[:12], batch_size=5, show_progress=False)
    assert cosines(ref, got).min() >= 0.999


def ndcg(model, backend):
    """nDCG@10 of `drama-models evaluate --model MODEL --backend BACKEND` on the bundled sample."""
    result = CliRunner().invoke(main, ["evaluate", "--model", str(model), "--data", str(SAMPLE), "--backend",
                                       backend, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["results"][0]["ndcg@10"]


@pytest.mark.parametrize("fmt", ["onnx", "openvino"])
def test_evaluate_backend_gives_the_same_ndcg(encoders, exports, fmt, tmp_path):
    """`drama-models evaluate --backend onnx|openvino` = torch's nDCG@10 to 3 decimals on the bundled sample."""
    for name in ("minilm", "gemma"):
        assert round(ndcg(exports[(name, fmt)], fmt), 3) == round(ndcg(encoders[name], "torch"), 3)


@pytest.mark.slow  # exports with the default (dynamo) exporter first
def test_evaluate_backend_exports_a_torch_folder_first(encoders):
    from drama_models.evaluation import evaluate

    onnx = load_encoder(str(encoders["minilm"]), "onnx")
    assert isinstance(onnx, ExportedEncoder)
    via_export = evaluate(onnx, [SAMPLE], show_progress=False)
    direct = evaluate(str(encoders["minilm"]), [SAMPLE], show_progress=False)
    assert round(via_export[0]["ndcg@10"], 3) == round(direct[0]["ndcg@10"], 3)


def test_export_cli_writes_a_folder_and_refuses_to_overwrite(encoders, tmp_path):
    runner = CliRunner()
    out = tmp_path / "cli-export"
    args = ["export", str(encoders["minilm"]), "--format", "onnx", "--exporter", "torchscript", "--output", str(out)]
    result = runner.invoke(main, [*args, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["file"] == "model.onnx" and summary["min_cosine"] >= 0.999
    assert {"model.onnx", "tokenizer.json", "drama_config.json", EXPORT_CONFIG_NAME} <= {p.name for p in out.iterdir()}
    again = runner.invoke(main, args)
    assert again.exit_code == 2 and "--overwrite" in again.output and len(again.output.strip().splitlines()) == 1
    assert runner.invoke(main, [*args, "--overwrite"]).exit_code == 0


def test_a_failed_check_leaves_nothing(encoders, tmp_path):
    out = tmp_path / "never"
    with pytest.raises(ExportError, match="disagrees with PyTorch"):
        export_model(encoders["minilm"], out, exporter="torchscript", min_cosine=1.5)
    assert not out.exists() and not list(tmp_path.iterdir())


def test_bad_input_is_one_line(tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["export", str(tmp_path / "missing-model"), "--output", str(tmp_path / "o")])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1 and "missing-model" in result.output
    assert not (tmp_path / "o").exists()
    with pytest.raises(ExportError, match="not an exported encoder"):
        ExportedEncoder(tmp_path)
    with pytest.raises(ExportError, match="--dtype"):
        load_encoder(str(tmp_path), "onnx", encoder_kwargs={"dtype": "bfloat16"})


# ---------------------------------------------------------------- --quantize int8 (CPUs without native bf16)

@pytest.fixture(scope="module")
def int8_exports(encoders, tmp_path_factory) -> dict[tuple[str, str], Path]:
    """Both tiny encoders exported with --quantize int8 to ONNX, and MiniLM to OpenVINO."""
    root = tmp_path_factory.mktemp("int8-exports")
    return {(name, fmt): export_model(encoders[name], root / f"{name}-{fmt}-int8", format=fmt,
                                      exporter="torchscript", quantize="int8")
            for name, fmt in (("minilm", "onnx"), ("gemma", "onnx"), ("minilm", "openvino"))}


@pytest.mark.parametrize("name,fmt,backend", [("minilm", "onnx", "onnx"), ("gemma", "onnx", "onnx"),
                                              ("minilm", "onnx", "openvino"), ("minilm", "openvino", "openvino")])
def test_int8_export_agrees_with_pytorch_on_the_sample(encoders, int8_exports, name, fmt, backend):
    """The int8 model (run by default from its folder) is within cosine 0.99 of PyTorch float32 on the sample; the
    float model beside it still gives 0.999; export_config.json records both files, the settings and both checks."""
    folder = int8_exports[(name, fmt)]
    config = json.loads((folder / EXPORT_CONFIG_NAME).read_text())
    int8_file = "model_int8.onnx" if fmt == "onnx" else "openvino_model_int8.xml"
    assert config["file"] == int8_file and (folder / int8_file).is_file() and (folder / config["float_file"]).is_file()
    assert config["quantize"]["method"] == "int8" and config["check_int8"]["threshold"] == 0.99
    assert config["check_int8"]["min_cosine"] >= 0.99 and config["check"]["min_cosine"] >= 0.999
    docs, queries = sample_texts()
    torch_encoder = DramaEncoder.from_pretrained(str(encoders[name]), device="cpu")
    int8 = ExportedEncoder(folder, backend=backend, threads=2, precision="f32")
    full = ExportedEncoder(folder, backend=backend, threads=2, precision="f32", int8=False)
    assert int8.int8 and not full.int8
    for method, texts in (("encode_documents", docs), ("encode_queries", queries)):
        ref = getattr(torch_encoder, method)(texts, batch_size=8, show_progress=False)
        assert cosines(ref, getattr(int8, method)(texts, batch_size=8, show_progress=False)).min() >= 0.99
        assert cosines(ref, getattr(full, method)(texts, batch_size=8, show_progress=False)).min() >= 0.999


def test_evaluate_runs_the_int8_model_within_001_of_float32(encoders, int8_exports):
    """`drama-models evaluate --backend onnx` on an int8 folder runs model_int8.onnx: nDCG@10 within 0.01 of
    PyTorch float32's on the bundled sample."""
    for name in ("minilm", "gemma"):
        assert abs(ndcg(int8_exports[(name, "onnx")], "onnx") - ndcg(encoders[name], "torch")) <= 0.01
    assert isinstance(load_encoder(str(int8_exports[("minilm", "onnx")]), "onnx"), ExportedEncoder)
    assert load_encoder(str(int8_exports[("minilm", "onnx")]), "onnx").int8


def test_int8_errors_are_one_line(encoders, exports, tmp_path, monkeypatch):
    runner = CliRunner()
    result = runner.invoke(main, ["export", str(encoders["minilm"]), "--quantize", "int4", "--output",
                                  str(tmp_path / "o")])
    assert result.exit_code == 2 and "--quantize" in result.output and not (tmp_path / "o").exists()
    with pytest.raises(ExportError, match="option --quantize='int4'"):
        export_model(encoders["minilm"], tmp_path / "o", quantize="int4")
    with pytest.raises(ExportError, match="--quantize int8"):
        ExportedEncoder(exports[("minilm", "onnx")], int8=True)
    import drama_models.export.quantize as quantize

    monkeypatch.setattr(quantize, "MIN_COSINE_INT8", 1.5)
    with pytest.raises(ExportError, match=r"int8 model disagrees with PyTorch float32: cosine .* < 1\.5"):
        export_model(encoders["minilm"], tmp_path / "never", exporter="torchscript", quantize="int8")
    assert not (tmp_path / "never").exists() and not list(tmp_path.iterdir())


def test_export_cli_quantize_int8(encoders, tmp_path):
    out = tmp_path / "cli-int8"
    result = CliRunner().invoke(main, ["export", str(encoders["minilm"]), "--exporter", "torchscript", "--quantize",
                                       "int8", "--output", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["file"] == "model_int8.onnx" and summary["float_file"] == "model.onnx"
    assert summary["min_cosine_int8"] >= 0.99 and summary["quantize"] == "int8"
