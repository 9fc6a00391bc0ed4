"""Write a trained encoder as an ONNX or OpenVINO model folder (``drama-models export``).

In: a `drama_models.encoder.DramaEncoder` or anything `DramaEncoder.from_pretrained` loads (a
folder written by training, a sentence-transformers folder such as all-MiniLM-L6-v2, a pruned decoder with
bidirectional attention, a Hub id). Out: ``output`` holding

- ``model.onnx`` (``--format onnx``) or ``openvino_model.xml`` + ``.bin`` (``--format openvino``, float32 weights):
  inputs ``input_ids`` and ``attention_mask`` (int64 ``[batch, sequence]``, both axes dynamic, right padding),
  output ``sentence_embedding`` (float32 ``[batch, hidden]``): the backbone, the pooling and (when the model
  normalises) the L2 normalisation, all inside the graph; Matryoshka truncation is left to the caller;
- the tokenizer (BOS/EOS as the encoder adds them, ``model_max_length`` = the encoder's max length);
- ``drama_config.json`` (the encoder's settings: prefixes, pooling, max length, ...) and ``export_config.json``
  (format, file, inputs/outputs, exporter, opset, versions, and the check below).

Before the folder appears, the exported model is run on a few texts (a query, short and long passages, one
padded batch) and compared with PyTorch: every cosine must be >= ``min_cosine`` (0.999), else
`ExportError` and nothing is written. The folder is built next to ``output`` and renamed into place, so
a crash never leaves a half-written export.

``quantize="int8"`` (``--quantize int8``, :mod:`drama_models.export.quantize`) also writes ``model_int8.onnx``
(or ``openvino_model_int8.xml``) beside the float model, records it as the folder's ``file`` (what
`ExportedEncoder` and ``evaluate --backend`` run by default) with the float one as ``float_file``, and checks it
on its own threshold (cosine >= 0.99 on the check texts and the bundled sample, ``check_int8``).

Exporters (``torch.onnx.export`` of torch 2.13): ``dynamo`` (the default and torch's recommended path;
``torch.export`` then ONNX Script, needs ``onnxscript``) or ``torchscript`` (the older tracer, which torch marks
deprecated; several times faster to run, same numbers). Both keep the bidirectional mask of a decoder encoder:
transformers builds it from ``config.is_causal``, which the export traces as it is.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

from drama_models.export.layout import (
    EXPORT_CONFIG_NAME,
    EXPORTERS,
    FORMATS,
    INPUTS,
    ONNX_FILE,
    ONNX_INT8_FILE,
    OPENVINO_FILE,
    OPENVINO_INT8_FILE,
    OUTPUT,
    QUANTIZE,
    ExportError,
)

logger = logging.getLogger(__name__)

DEFAULT_OPSET = 18
MIN_COSINE = 0.999
_EXTERNAL_DATA_BYTES = 1_800_000_000  # ONNX protobuf files stop at 2 GB: larger weights go to model.onnx.data

#: texts the export is checked on: a query, passages of several lengths (one long enough to reach 256+ tokens),
#: another language, and together one padded batch
CHECK_TEXTS = (
    "what is dense retrieval?",
    "Dense retrieval maps queries and passages into one vector space, where the nearest passages answer a query.",
    "Die Katze sitzt auf der Matte. Der Hund schläft im Garten.",
    " ".join(["Large language models generate synthetic queries for training smaller retrievers;"] * 30),
)


def export_model(
    model,
    output: str | os.PathLike,
    *,
    format: str = "onnx",
    exporter: str = "dynamo",
    opset: int = DEFAULT_OPSET,
    overwrite: bool = False,
    min_cosine: float = MIN_COSINE,
    max_length: int | None = None,
    quantize: str = "none",
) -> Path:
    """Export an encoder as an ONNX or OpenVINO model folder, checked against PyTorch before it appears.

    The folder holds the model (``model.onnx``, or ``openvino_model.xml`` + ``.bin``; inputs ``input_ids`` and
    ``attention_mask``, output ``sentence_embedding`` with pooling and normalisation inside the graph), the
    tokenizer, ``drama_config.json`` and ``export_config.json``. The exported model is run on a few texts and
    every cosine to PyTorch's embeddings must reach ``min_cosine``; the folder is built beside ``output`` and
    renamed into place, so a failure never leaves a half-written export. Load it with
    [`load_encoder`][drama_models.export.loading.load_encoder].

    Args:
        model (DramaEncoder | str | Path): A [`DramaEncoder`][drama_models.encoder.DramaEncoder], or a folder, Hub id or bundled short name
            that `DramaEncoder.from_pretrained` loads.
        output: The folder to write; must be missing or empty unless ``overwrite``.
        format: ``"onnx"`` or ``"openvino"``.
        exporter: ``"dynamo"`` (torch's recommended path; needs ``onnxscript``) or ``"torchscript"`` (the older
            tracer; faster to run, same numbers).
        opset: The ONNX opset.
        overwrite: Replace a non-empty ``output``.
        min_cosine: The lowest cosine between exported and PyTorch embeddings the check accepts.
        max_length: Max tokens per text, overriding the encoder's (kept in ``drama_config.json``).
        quantize: ``"none"`` or ``"int8"``: also write the int8 model (dynamic quantization, int8 per-channel
            weights; :mod:`drama_models.export.quantize`), checked at cosine >= 0.99 to PyTorch float32.

    Returns:
        ``output``.

    Raises:
        ExportError: A bad option, an ``output`` that is a file or a non-empty folder, a missing exporter
            package, a model that does not load, or a failed check (one line naming the option or the model).
    """
    if format not in FORMATS:
        raise ExportError(f"option --format={format!r} must be one of {', '.join(FORMATS)}")
    if exporter not in EXPORTERS:
        raise ExportError(f"option --exporter={exporter!r} must be one of {', '.join(EXPORTERS)}")
    if quantize not in QUANTIZE:
        raise ExportError(f"option --quantize={quantize!r} must be one of {', '.join(QUANTIZE)}")
    output = Path(output)
    if output.exists() and not output.is_dir():
        raise ExportError(f"--output {output}: exists and is not a folder")
    if output.is_dir() and any(output.iterdir()) and not overwrite:
        raise ExportError(f"--output {output}: folder is not empty (pass --overwrite to replace it)")
    _check_installed(format, exporter)

    import torch

    from drama_models.encoder import DramaEncoder

    if isinstance(model, DramaEncoder):
        encoder, source = model, "DramaEncoder"
    else:
        source = str(model)
        try:
            encoder = DramaEncoder.from_pretrained(source, device="cpu", dtype=torch.float32)
        except (ValueError, OSError) as exc:
            raise ExportError(f"MODEL {source}: cannot load as an encoder ({str(exc).splitlines()[0]})") from None
    if max_length is not None:
        if max_length < 2:
            raise ExportError(f"option --max-length={max_length} must be >= 2")
        encoder.max_length = int(max_length)
    was_training, device, dtype = encoder.training, encoder.device, next(encoder.parameters()).dtype
    encoder.to("cpu", torch.float32).train(False)
    output.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{output.name}.partial-", dir=output.parent))
    umask = os.umask(0)
    os.umask(umask)
    work.chmod(0o777 & ~umask)  # mkdtemp makes it private; the export is an ordinary folder
    try:
        start = time.perf_counter()
        _write_onnx(encoder, work / ONNX_FILE, exporter, opset)
        int8 = quantize == "int8"
        if int8:
            from drama_models.export.quantize import quantize_onnx

            kept_float = quantize_onnx(work / ONNX_FILE, work / ONNX_INT8_FILE)
        if format == "openvino":
            _onnx_to_openvino(work / ONNX_FILE, work / OPENVINO_FILE)
            if int8:
                _onnx_to_openvino(work / ONNX_INT8_FILE, work / OPENVINO_INT8_FILE)
        seconds = time.perf_counter() - start
        float_file = ONNX_FILE if format == "onnx" else OPENVINO_FILE
        int8_file = ONNX_INT8_FILE if format == "onnx" else OPENVINO_INT8_FILE
        _save_tokenizer(encoder, work)
        (work / "drama_config.json").write_text(json.dumps(encoder.settings(), indent=2) + "\n", encoding="utf-8")
        config = {
            "format": format,
            "file": int8_file if int8 else float_file,
            "float_file": float_file,
            "quantize": "none",  # or quantize.SETTINGS, below
            "inputs": list(INPUTS),
            "output": OUTPUT,
            "dynamic_axes": {"input_ids": ["batch", "sequence"], "attention_mask": ["batch", "sequence"],
                             OUTPUT: ["batch"]},
            "pooling": encoder.pooling,
            "normalized": encoder.normalize,
            "embedding_dim": encoder.embedding_dim,
            "is_decoder": encoder.is_decoder,
            "bidirectional": encoder.bidirectional,
            "source": source,
            "exporter": exporter,
            "opset": opset,
            "export_seconds": round(seconds, 1),
            "versions": _versions(format),
        }
        if int8:
            from drama_models.export.quantize import SETTINGS

            config["quantize"] = dict(SETTINGS, down_projections_kept_float=kept_float)
        (work / EXPORT_CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        config["check"] = _check(encoder, work, min_cosine, int8=False)
        if int8:
            from drama_models.export.quantize import MIN_COSINE_INT8, sample_texts

            config["check_int8"] = _check(encoder, work, MIN_COSINE_INT8, int8=True, more_texts=sample_texts())
        (work / EXPORT_CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        if output.exists():
            shutil.rmtree(output)
        os.replace(work, output)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    finally:
        encoder.to(device, dtype).train(was_training)
    logger.info("exported %s to %s (%s, %.1f s)", source, output, format, seconds)
    return output


def _embedder(encoder):
    """The encoder as a module whose graph is ``(input_ids, attention_mask) -> sentence_embedding``."""
    import torch

    class Embedder(torch.nn.Module):
        def __init__(self, enc):
            super().__init__()
            self.enc = enc

        def forward(self, input_ids, attention_mask):
            return self.enc.forward(input_ids, attention_mask)

    return Embedder(encoder).train(False)


def _example_inputs(encoder):
    """Two texts of different lengths (so the example batch is padded; dynamic axes need sizes >= 2)."""
    batch = encoder.tokenize(["an example query for the export", "a document"], max_length=encoder.max_length)
    return batch["input_ids"].cpu(), batch["attention_mask"].cpu()


def _write_onnx(encoder, path: Path, exporter: str, opset: int) -> None:
    import torch

    args = _example_inputs(encoder)
    module = _embedder(encoder)
    n_bytes = sum(p.numel() * p.element_size() for p in encoder.parameters())
    try:
        # the dynamo exporter prints its progress on stdout: keep stdout for the command's summary (--json)
        with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr), torch.no_grad():
            warnings.simplefilter("ignore")  # the tracer's and the exporter's notes; the check below decides
            if exporter == "dynamo":
                batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence")
                shapes = {"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}}
                torch.onnx.export(module, args, str(path), dynamo=True, input_names=list(INPUTS),
                                  output_names=[OUTPUT], opset_version=opset, dynamic_shapes=shapes,
                                  external_data=n_bytes > _EXTERNAL_DATA_BYTES, verbose=False)
            else:
                axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
                        OUTPUT: {0: "batch"}}
                torch.onnx.export(module, args, str(path), dynamo=False, input_names=list(INPUTS),
                                  output_names=[OUTPUT], opset_version=opset, dynamic_axes=axes)
    except Exception as exc:  # the exporters raise many kinds; say which model and exporter, in one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExportError(f"--exporter {exporter}: torch.onnx.export failed for {type(encoder.backbone).__name__} "
                          f"({first[:300]}); try --exporter {'torchscript' if exporter == 'dynamo' else 'dynamo'}") from None


def _onnx_to_openvino(onnx_path: Path, xml_path: Path) -> None:
    """OpenVINO reads the ONNX file (the int8 one too: ``MatMulInteger`` / ``DynamicQuantizeLinear``); it is saved
    as IR with the weights as they are (float32, or int8; no fp16 compression) and the ONNX file is removed."""
    import openvino

    model = openvino.convert_model(str(onnx_path))
    openvino.save_model(model, str(xml_path), compress_to_fp16=False)
    for f in onnx_path.parent.glob(onnx_path.name + "*"):  # model.onnx and any external data
        f.unlink()


def _save_tokenizer(encoder, folder: Path) -> None:
    tok = encoder.tokenizer
    old = tok.model_max_length
    tok.model_max_length = encoder.max_length
    try:
        tok.save_pretrained(folder)
    finally:
        tok.model_max_length = old


def _check(encoder, folder: Path, min_cosine: float, *, int8: bool = False, more_texts: list[str] = ()) -> dict:
    """Embed :data:`CHECK_TEXTS` and ``more_texts`` (as queries and as documents) with the export (its float model,
    or its int8 one) and with PyTorch float32, at float32 and (OpenVINO on a CPU with native bf16) at the bf16 that
    ``precision="auto"`` runs there; raise :class:`ExportError` when any cosine is below ``min_cosine``."""
    import numpy as np

    from drama_models.export.runtime import ExportedEncoder, resolve_precision

    fmt = json.loads((folder / EXPORT_CONFIG_NAME).read_text(encoding="utf-8"))["format"]
    precisions = sorted({"f32", resolve_precision(fmt, "auto")}, reverse=True)  # f32 first
    texts = list(CHECK_TEXTS) + list(more_texts)
    what = "int8 model" if int8 else "exported model"
    worst_by, refs = {}, {}
    for precision in precisions:
        exported = ExportedEncoder(folder, precision=precision, int8=int8)
        cosines = []
        for method in ("encode_queries", "encode_documents"):
            # the check texts one at a time, then every text in padded batches (at most 16 rows)
            for part, batch_size in ((CHECK_TEXTS, 1), (texts, min(len(texts), 16))):
                if (method, batch_size) not in refs:
                    refs[method, batch_size] = getattr(encoder, method)(list(part), batch_size=batch_size,
                                                                        show_progress=False)
                ref = refs[method, batch_size]
                got = getattr(exported, method)(list(part), batch_size=batch_size, show_progress=False)
                cos = (ref * got).sum(-1) / (np.linalg.norm(ref, axis=-1) * np.linalg.norm(got, axis=-1) + 1e-12)
                cosines.extend(cos.tolist())
        worst_by[precision] = round(float(min(cosines)), 6)
    for precision, worst in worst_by.items():
        if not worst >= min_cosine:
            raise ExportError(f"the {what} disagrees with PyTorch float32: cosine {worst:.5f} < {min_cosine} on "
                              f"{len(texts)} check texts (format {fmt}, precision {precision}); nothing was written")
    return {"texts": len(texts), "min_cosine": min(worst_by.values()), "threshold": min_cosine,
            "min_cosine_by_precision": worst_by}


def _check_installed(format: str, exporter: str) -> None:
    import importlib.util

    need = ["onnx", "onnxruntime"] + (["onnxscript"] if exporter == "dynamo" else [])
    need += ["openvino"] if format == "openvino" else []
    missing = [m for m in need if importlib.util.find_spec(m) is None]
    if missing:
        from drama_data.install_hints import install_command

        raise ExportError(f"--format {format} --exporter {exporter} needs {', '.join(missing)}: "
                          f"{install_command('export')}")


def _versions(format: str) -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for dist in ("torch", "transformers", "onnx", "onnxruntime") + (("openvino",) if format == "openvino" else ()):
        try:
            found[dist] = version(dist)
        except PackageNotFoundError:
            pass
    return found
