"""Pick the encoder a command runs: PyTorch (`drama_models.encoder.DramaEncoder`) or an export
(`drama_models.export.runtime.ExportedEncoder`), exporting a PyTorch model first when needed
(``drama-models evaluate --backend torch|onnx|openvino``)."""
from __future__ import annotations

import tempfile
from pathlib import Path

from drama_models.export.layout import EXPORT_CONFIG_NAME, ExportError
from drama_models.export.runtime import ExportedEncoder
from drama_models.export.writer import export_model

BACKENDS = ("torch", "onnx", "openvino")


def load_encoder(model, backend: str = "torch", *, encoder_kwargs: dict | None = None, work_dir=None):
    """Load the encoder a command runs, on PyTorch or on an exported runtime.

    With ``"onnx"`` / ``"openvino"``, an exported folder is opened as it is; any other model (a path, a name or a
    `DramaEncoder`) is exported first with [`export_model`][drama_models.export.writer.export_model].

    Args:
        model (str | Path | DramaEncoder | ExportedEncoder): A folder, Hub id or bundled short name, a [`DramaEncoder`][drama_models.encoder.DramaEncoder], an
            exported folder, or an [`ExportedEncoder`][drama_models.export.runtime.ExportedEncoder].
        backend: ``"torch"``, ``"onnx"`` or ``"openvino"``.
        encoder_kwargs: [`DramaEncoder.from_pretrained`][drama_models.encoder.DramaEncoder.from_pretrained]'s
            keywords (``max_length``, ``dtype``, ``bf16``); with an exported backend ``max_length`` applies and
            ``bf16`` picks the inference precision (``"auto"``/``None``: bf16 on OpenVINO where the CPU computes
            it natively, else float32; ``"true"``: bf16, OpenVINO only; ``"false"``: float32), ``dtype`` does not.
        work_dir (str | Path | None): Where a model is exported; ``None`` for a temporary folder removed with the encoder.

    Returns:
        (DramaEncoder | ExportedEncoder): The PyTorch encoder (``backend="torch"``) or the exported one; both have ``encode_queries`` and
            ``encode_documents``, which [`evaluate`][drama_models.evaluation.evaluate] takes.

    Raises:
        ExportError: An unknown backend, an option that applies to ``torch`` only (naming the flag), or a failed
            export.
    """
    kwargs = dict(encoder_kwargs or {})
    if backend not in BACKENDS:
        raise ExportError(f"option --backend={backend!r} must be one of {', '.join(BACKENDS)}")
    if backend == "torch":
        from drama_models.encoder import DramaEncoder

        return DramaEncoder.from_pretrained(model, **kwargs)
    if kwargs.get("dtype") is not None:
        raise ExportError("option --dtype applies to --backend torch only (exports run in float32)")
    bf16 = str(kwargs.get("bf16", "auto")).strip().lower() if kwargs.get("bf16") is not None else "auto"
    precision = {"auto": "auto", "false": "f32", "true": "bf16"}.get(bf16)
    if precision is None:
        raise ExportError(f"option --bf16={kwargs['bf16']!r} must be auto, true or false")
    if backend == "onnx" and precision == "bf16":
        raise ExportError("option --bf16=true applies to --backend torch or openvino only (ONNX Runtime runs float32)")
    max_length = kwargs.get("max_length")
    if isinstance(model, ExportedEncoder):
        return model
    path = None if hasattr(model, "encode_documents") else Path(str(model))  # a DramaEncoder is exported below
    if path is not None and (path / EXPORT_CONFIG_NAME).is_file():
        return ExportedEncoder(path, backend=backend, precision=precision, max_length=max_length)
    tmp = None
    if work_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="drama-export-")
        work_dir = tmp.name
    folder = export_model(model, Path(work_dir) / "export", format=backend, overwrite=True)
    encoder = ExportedEncoder(folder, backend=backend, precision=precision, max_length=max_length)
    encoder._tmp = tmp  # the temporary export lives as long as the encoder
    return encoder
