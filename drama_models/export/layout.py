"""What an export folder holds (file names, input/output names) and the export's error class; shared by
:mod:`drama_models.export.writer` (which writes the folder) and :mod:`drama_models.export.runtime` (which runs it)."""
from __future__ import annotations

from drama_data.errors import DramaError

FORMATS = ("onnx", "openvino")
EXPORTERS = ("dynamo", "torchscript")
QUANTIZE = ("none", "int8")
ONNX_FILE = "model.onnx"
OPENVINO_FILE = "openvino_model.xml"
#: ``--quantize int8``: the quantized model, written beside the float one (which stays, for ``int8=False``)
ONNX_INT8_FILE = "model_int8.onnx"
OPENVINO_INT8_FILE = "openvino_model_int8.xml"
EXPORT_CONFIG_NAME = "export_config.json"
INPUTS = ("input_ids", "attention_mask")
OUTPUT = "sentence_embedding"


class ExportError(DramaError, ValueError):
    """The model cannot be exported, or the export disagrees with PyTorch (the message says which and how)."""
