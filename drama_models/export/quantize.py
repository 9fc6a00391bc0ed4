"""``drama-models export --quantize int8``: an int8 copy of the exported float ONNX model, for CPUs without native
bf16 (AVX-512 VNNI or AVX-VNNI only), where OpenVINO bf16 is not available and float32 barely beats PyTorch.

In: the float ``model.onnx`` the export wrote. Out: ``model_int8.onnx`` beside it, from ONNX Runtime's
``quantize_dynamic``: the weights of the linear layers (MatMul with a constant weight) as int8, symmetric, one
scale per output channel; activations quantized to uint8 at run time, per batch (``DynamicQuantizeLinear``), so
no calibration set is needed. The feed-forward down projections (a weight with more input than output features:
their input, after GELU / GeGLU, has the outliers a per-batch uint8 scale rounds away), the embedding tables
(``Gather``) and the attention products (MatMul of two activations) stay float32. OpenVINO reads the same graph (``MatMulInteger``), so ``--format openvino --quantize int8`` converts it
to ``openvino_model_int8.xml``.

Why these settings (all-MiniLM-L6-v2, 2 threads on an AMX CPU, measured for issue 29): on 32 sample passages of
256 tokens per-tensor int8 weights gave a smallest cosine to PyTorch float32 of 0.911, per-channel int8 weights
0.992; uint8 weights 0.993 but half the speed of int8 (no u8u8 fast path); quantizing the embedding Gather as
well changed nothing but the file size. On the check texts plus the whole sample, every linear layer in int8 gave
0.9894 (15.9 documents/s, float32 ONNX about 11), with the 6 down projections kept float32 0.9952 (13.9). The quantized export's check therefore has its own, lower threshold:
:data:`MIN_COSINE_INT8` = 0.99 on the check texts and the bundled SciFact sample (50 passages, 20 queries), against
the float export's 0.999.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

from drama_models.export.layout import ExportError

MIN_COSINE_INT8 = 0.99
#: what ``export_config.json`` records under ``quantize`` for an int8 export
SETTINGS = {
    "method": "int8",
    "tool": "onnxruntime.quantization.quantize_dynamic",
    "weights": "int8, symmetric, per output channel",
    "activations": "uint8, dynamic (per batch, at run time)",
    "op_types": ["MatMul"],
    "float_kept": "feed-forward down projections (weight in > out features), embedding tables (Gather), attention "
                  "products (MatMul of two activations), norms, softmax",
}
SAMPLE = Path(__file__).resolve().parents[2] / "drama_data" / "samples" / "scifact-sample"


def down_projections(model) -> list[str]:
    """Names of the MatMul nodes of an ONNX ``model`` whose constant weight ``[in, out]`` has ``in > out``: the
    feed-forward down projections, kept float32."""
    shapes = {i.name: tuple(i.dims) for i in model.graph.initializer}
    return [n.name for n in model.graph.node
            if n.op_type == "MatMul" and len(n.input) == 2 and len(shapes.get(n.input[1], ())) == 2
            and shapes[n.input[1]][0] > shapes[n.input[1]][1]]


def quantize_onnx(float_path: Path, int8_path: Path) -> int:
    """Write ``int8_path``: ``float_path`` with the linear layers' weights int8 per channel and dynamic uint8
    activations, the down projections (:func:`down_projections`) left float32.

    Returns:
        How many MatMul nodes were kept float32 as down projections.

    Raises:
        ExportError: ONNX Runtime's quantizer failed (one line naming the file).
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    keep = down_projections(onnx.load(str(float_path), load_external_data=False))
    external = any(p.name != float_path.name for p in float_path.parent.glob(float_path.name + "*"))
    quiet = logging.getLogger()
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # "consider pre-processing": shape inference brings nothing for dynamic int8
    try:
        quantize_dynamic(str(float_path), str(int8_path), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=list(SETTINGS["op_types"]), nodes_to_exclude=keep,
                         use_external_data_format=external)
    except Exception as exc:  # the quantizer raises many kinds; say which file, in one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExportError(f"--quantize int8: onnxruntime's quantize_dynamic failed on {float_path} "
                          f"({first[:300]})") from None
    finally:
        quiet.setLevel(level)
    return len(keep)


def sample_texts() -> list[str]:
    """The bundled SciFact sample's passages ("title text") and queries, which the int8 check also embeds."""
    texts = []
    for name in ("corpus.jsonl", "queries.jsonl"):
        path = SAMPLE / name
        if not path.is_file():  # an install without the samples: the check texts alone
            return []
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            texts.append((row.get("title", "") + " " + row["text"]).strip())
    return texts
