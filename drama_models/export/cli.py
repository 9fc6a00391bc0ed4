"""``drama-models export MODEL --format onnx|openvino --output DIR``: a trained encoder for serving without
PyTorch (:func:`drama_models.export.export_model`); registered on ``drama-models`` by :func:`register`."""
from __future__ import annotations

import click

from drama_data.cli.options import Command, echo_info, json_option, option, output_option, print_summary
from drama_models.cli_common import clean_errors
from drama_models.export.layout import QUANTIZE
from drama_models.export.writer import DEFAULT_OPSET, EXPORTERS, FORMATS


@click.command("export", cls=Command, examples=[
    "drama-models export runs/minilm-trained --format onnx --output runs/minilm-onnx",
    "drama-models export all-MiniLM-L6-v2 --format openvino --output runs/minilm-openvino",
    "drama-models export runs/minilm-trained --format onnx --quantize int8 --output runs/minilm-onnx-int8",
    "drama-models evaluate --model runs/minilm-onnx --backend onnx --data data/scifact",
])
@click.argument("model")
@option("--format", "fmt", type=click.Choice(FORMATS), default="onnx", show_default=True, group="Model/backend",
        help="onnx: model.onnx for ONNX Runtime (OpenVINO reads it too); openvino: openvino_model.xml/.bin "
             "(OpenVINO IR, float32 weights).")
@option("--exporter", type=click.Choice(EXPORTERS), default="dynamo", show_default=True, group="Model/backend",
        help="torch.onnx.export's path: dynamo (torch.export, torch's recommended one) or torchscript (the older "
             "tracer, deprecated by torch, several times faster to run; same numbers).")
@option("--opset", type=int, default=DEFAULT_OPSET, show_default=True, group="Model/backend",
        help="ONNX opset version.")
@option("--quantize", type=click.Choice(QUANTIZE), default="none", show_default=True, group="Model/backend",
        help="int8: also write model_int8.onnx (openvino: openvino_model_int8.xml): int8 per-channel weights, "
             "dynamic uint8 activations, for CPUs without native bf16 (VNNI); checked at cosine >= 0.99 to "
             "PyTorch float32 on the bundled sample, and run by default from that folder.")
@option("--max-length", type=int, default=None, group="Model/backend",
        help="Max tokens per text the export's tokenizer keeps (default: the model's).")
@output_option(required=True, help="Folder to write: the model file, the tokenizer, drama_config.json and "
                                   "export_config.json (must be missing or empty unless --overwrite).")
@option("--overwrite", is_flag=True, group="Output", help="Replace a non-empty --output folder.")
@json_option
@clean_errors
def export_command(model, fmt, exporter, opset, quantize, max_length, output, overwrite, as_json):
    """Export a trained encoder to ONNX or OpenVINO, pooling and normalisation inside the graph.

    \b
    MODEL: a folder written by `drama-models train`, a sentence-transformers folder, a pruned decoder
    with bidirectional attention, a Hub id or a bundled short name (all-MiniLM-L6-v2). The graph takes
    input_ids and attention_mask (int64 [batch, sequence], both axes dynamic, right padding) and gives
    sentence_embedding (float32 [batch, hidden]). The export is checked against PyTorch before the
    folder appears (cosine >= 0.999 on a few texts, else nothing is written). Run it with
    `drama-models evaluate --backend onnx|openvino` or drama_models.export.ExportedEncoder.
    """
    import json
    from pathlib import Path

    from drama_models.export.writer import EXPORT_CONFIG_NAME, export_model
    from drama_models.zoo import resolve_zoo_name

    path = export_model(resolve_zoo_name(model), output, format=fmt, exporter=exporter, opset=opset,
                        overwrite=overwrite, max_length=max_length, quantize=quantize)
    config = json.loads((Path(path) / EXPORT_CONFIG_NAME).read_text(encoding="utf-8"))
    summary = {"output": str(path), "format": fmt, "file": config["file"], "exporter": exporter,
               "embedding_dim": config["embedding_dim"], "min_cosine": config["check"]["min_cosine"],
               "export_seconds": config["export_seconds"], "quantize": quantize}
    line = (f"{fmt} export written to {path} ({config['file']}; cosine to PyTorch >= "
            f"{config['check']['min_cosine']:.4f}")
    if "check_int8" in config:
        summary["min_cosine_int8"] = config["check_int8"]["min_cosine"]
        summary["float_file"] = config["float_file"]
        line = (f"{fmt} export written to {path} ({config['file']}: cosine to PyTorch float32 >= "
                f"{config['check_int8']['min_cosine']:.4f}, threshold {config['check_int8']['threshold']}; float "
                f"{config['float_file']}: >= {config['check']['min_cosine']:.4f}")
    print_summary(summary, line + ")", as_json=as_json)
    echo_info(f"run it: drama-models evaluate --model {path} --backend {fmt} --data DIR", as_json=as_json)


def register(group: click.Group) -> None:
    """Add ``export`` to the ``drama-models`` group."""
    group.add_command(export_command)
