"""Encode with an exported model (ONNX Runtime or OpenVINO) as `drama_models.encoder.DramaEncoder` does.

In: a folder written by `drama_models.export.export_model` (``export_config.json``, the model file, the
tokenizer, ``drama_config.json``). Out: ``encode_queries`` / ``encode_documents`` -> ``float32 [n, dim]`` numpy
arrays with the same prefixes, BOS/EOS, truncation, length-sorted batching and Matryoshka ``dim`` as the PyTorch
encoder, so `drama_models.evaluation.evaluate` and dense mining can use either; `ExportedEncoder.embed`
runs one tokenized batch (what ``bench/encoder_serving.py`` times).

Backends: ``onnx`` (ONNX Runtime, CPU execution provider, float32) reads ``model.onnx``; ``openvino`` (OpenVINO on
CPU) reads ``openvino_model.xml`` or ``model.onnx``. OpenVINO's inference precision is an explicit choice, kept in
``ExportedEncoder.precision``: ``"auto"`` (the default) = bf16 on CPUs that compute it natively (AVX512-BF16 /
AMX, :func:`drama_data.precision.cpu_has_native_bf16`; about 4.5x float32's documents/s there for MiniLM, cosine to
PyTorch float32 >= 0.9999, docs/results.md "Encoder serving"), float32 elsewhere; ``"f32"`` for PyTorch's float32
numbers everywhere. A folder written with ``--quantize int8`` also holds ``model_int8.onnx`` (or
``openvino_model_int8.xml``), which both runtimes run by default (``int8=None``: as ``export_config.json`` says;
``int8=False`` runs the float model beside it). ``threads`` sets the intra-op threads of either (default: the runtime's own choice, usually all
cores).
"""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from drama_models.export.layout import (
    EXPORT_CONFIG_NAME,
    ONNX_FILE,
    ONNX_INT8_FILE,
    OPENVINO_FILE,
    OPENVINO_INT8_FILE,
    ExportError,
)


class ExportedEncoder:
    """An exported encoder folder, run by ONNX Runtime (``backend="onnx"``) or OpenVINO (``"openvino"``) on CPU.

    Encodes as [`DramaEncoder`][drama_models.encoder.DramaEncoder] does (same prefixes, BOS/EOS, truncation,
    length-sorted batching and Matryoshka ``dim``), so [`evaluate`][drama_models.evaluation.evaluate] and dense
    mining take either. Write the folder with [`export_model`][drama_models.export.writer.export_model].

    Args:
        path: A folder written by ``drama-models export`` (holding ``export_config.json``).
        backend: ``"onnx"`` or ``"openvino"``; ``None`` for the folder's format.
        threads: Intra-op threads; ``None`` for the runtime's own choice (usually all cores).
        precision: OpenVINO's inference precision: ``"auto"`` (bf16 where the CPU computes it natively, AVX512-BF16
            or AMX, else float32), ``"f32"`` (the numbers PyTorch gives), ``"bf16"`` or ``"f16"``. ONNX Runtime runs
            float32 and takes ``"auto"`` or ``"f32"`` only. The choice made is kept in ``self.precision``.
        max_length: Max tokens per text, overriding the saved one.
        int8: Run the int8 model of a ``--quantize int8`` export (``True``), the float one (``False``), or
            ``None``: the int8 one when the folder's ``export_config.json`` says it was quantized. Kept in
            ``self.int8``.

    Raises:
        ExportError: The folder is not an export, lacks the model file the backend needs, or an option is bad.
    """

    def __init__(self, path: str | os.PathLike, *, backend: str | None = None, threads: int | None = None,
                 precision: str = "auto", max_length: int | None = None, int8: bool | None = None):
        self.path = Path(path)
        config_path = self.path / EXPORT_CONFIG_NAME
        if not config_path.is_file():
            raise ExportError(f"{self.path}: not an exported encoder (no {EXPORT_CONFIG_NAME}; write one with "
                              "`drama-models export MODEL --output DIR`)")
        self.config = json.loads(config_path.read_text(encoding="utf-8"))
        self.settings = json.loads((self.path / "drama_config.json").read_text(encoding="utf-8"))
        self.format = self.config["format"]
        self.backend = backend or self.format
        if self.backend not in ("onnx", "openvino"):
            raise ExportError(f"option --backend={self.backend!r}: an exported folder runs on onnx or openvino")
        self.query_prefix = self.settings.get("query_prefix", "")
        self.document_prefix = self.settings.get("document_prefix", "")
        self.normalize = bool(self.config.get("normalized", True))
        self.max_length = int(max_length or self.settings.get("max_length") or 512)
        self.embedding_dim = int(self.config["embedding_dim"])
        self.threads = threads
        self.precision = resolve_precision(self.backend, precision, threads)
        quantized = self.config.get("quantize", "none") != "none"
        if int8 and not quantized:
            raise ExportError(f"{self.path}: option int8=True needs an int8 export (write one with `drama-models "
                              "export MODEL --quantize int8 --output DIR`)")
        self.int8 = quantized if int8 is None else bool(int8)
        self.tokenizer = self._load_tokenizer()
        self._run = (self._open_onnxruntime(threads) if self.backend == "onnx"
                     else self._open_openvino(threads, self.precision))

    # ------------------------------------------------------------------ loading

    def _load_tokenizer(self):
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(self.path))
        if self.config.get("is_decoder"):  # BOS/EOS in the post-processor, as DramaEncoder sets them
            from drama_models.encoder import _configure_tokenizer

            _configure_tokenizer(tok, bool(self.settings.get("add_bos")), bool(self.settings.get("add_eos")))
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token if tok.eos_token is not None else tok.unk_token
        tok.padding_side = "right"
        return tok

    def _model_file(self, *names: str) -> Path:
        for name in names:
            if (self.path / name).is_file():
                return self.path / name
        raise ExportError(f"{self.path}: --backend {self.backend} needs {' or '.join(names)} in the folder "
                          f"(it holds a {self.format} export)")

    def _open_onnxruntime(self, threads: int | None):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.inter_op_num_threads = 1
        if threads:
            options.intra_op_num_threads = int(threads)
        name = ONNX_INT8_FILE if self.int8 else ONNX_FILE
        session = ort.InferenceSession(str(self._model_file(name)), options, providers=["CPUExecutionProvider"])

        def run(input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
            return session.run(None, {"input_ids": input_ids, "attention_mask": attention_mask})[0]

        return run

    def _open_openvino(self, threads: int | None, precision: str):
        import openvino

        core = openvino.Core()
        properties = {"INFERENCE_PRECISION_HINT": precision}
        if threads:
            properties["INFERENCE_NUM_THREADS"] = int(threads)
        names = (OPENVINO_INT8_FILE, ONNX_INT8_FILE) if self.int8 else (OPENVINO_FILE, ONNX_FILE)
        compiled = core.compile_model(str(self._model_file(*names)), "CPU", properties)
        request = compiled.create_infer_request()

        def run(input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
            request.infer({"input_ids": input_ids, "attention_mask": attention_mask})
            return request.get_output_tensor(0).data.copy()

        return run

    # ------------------------------------------------------------------ encoding

    def embed(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """Run the model on one tokenized batch.

        Args:
            input_ids: Token ids, right-padded, ``[batch, seq]`` (cast to int64).
            attention_mask: 1 for tokens, 0 for padding, ``[batch, seq]``.

        Returns:
            The embeddings, ``float32 [batch, hidden]``.
        """
        return self._run(np.ascontiguousarray(input_ids, dtype=np.int64),
                         np.ascontiguousarray(attention_mask, dtype=np.int64))

    def encode_queries(self, texts: Sequence[str], dim: int | None = None, batch_size: int = 32,
                       show_progress: bool | None = None, max_length: int | None = None) -> np.ndarray:
        """Embed queries, with the model's ``query_prefix`` prepended.

        Args:
            texts: The queries.
            dim: Matryoshka dimension to cut to (re-normalised when the model normalises); ``None``: full.
            batch_size: Texts per model call.
            show_progress: Show a progress bar; ``None``: when there are more than four batches.
            max_length: Max tokens per text; ``None``: the encoder's.

        Returns:
            ``float32 [len(texts), dim or hidden]``.

        Raises:
            TypeError: ``texts`` is one string, or holds something that is not a string.
            ValueError: A bad ``dim`` or ``batch_size``.
        """
        return self._encode(texts, self.query_prefix, dim, batch_size, show_progress, max_length, "queries")

    def encode_documents(self, texts: Sequence[str], dim: int | None = None, batch_size: int = 32,
                         show_progress: bool | None = None, max_length: int | None = None) -> np.ndarray:
        """Embed documents, with the model's ``document_prefix`` prepended.

        Args:
            texts: The documents.
            dim: Matryoshka dimension to cut to (re-normalised when the model normalises); ``None``: full.
            batch_size: Texts per model call.
            show_progress: Show a progress bar; ``None``: when there are more than four batches.
            max_length: Max tokens per text; ``None``: the encoder's.

        Returns:
            ``float32 [len(texts), dim or hidden]``.

        Raises:
            TypeError: ``texts`` is one string, or holds something that is not a string.
            ValueError: A bad ``dim`` or ``batch_size``.
        """
        return self._encode(texts, self.document_prefix, dim, batch_size, show_progress, max_length, "documents")

    def _encode(self, texts, prefix, dim, batch_size, show_progress, max_length, what) -> np.ndarray:
        from tqdm.auto import tqdm

        from drama_models.encoder import _check_texts, padded_batches

        _check_texts(texts)
        if dim is not None and (not isinstance(dim, int) or not 1 <= dim <= self.embedding_dim):
            raise ValueError(f"option `dim`={dim!r} is not a valid Matryoshka dimension for this model: it must be "
                             f"an integer between 1 and the model's embedding size {self.embedding_dim}")
        if batch_size < 1:
            raise ValueError(f"option `batch_size`={batch_size} must be >= 1")
        n = len(texts)
        out = np.empty((n, dim or self.embedding_dim), dtype=np.float32)
        if n == 0:
            return out
        if show_progress is None:
            show_progress = n > 4 * batch_size
        max_length = max_length or self.max_length
        with tqdm(total=n, desc=f"encode {what}", disable=not show_progress, dynamic_ncols=True) as bar:
            for rows, input_ids, mask in padded_batches(self.tokenizer, texts, prefix, max_length, batch_size):
                emb = self.embed(input_ids, mask)
                if dim is not None:
                    emb = emb[:, :dim]
                    if self.normalize:
                        emb = emb / np.maximum(np.linalg.norm(emb, axis=-1, keepdims=True), 1e-12)
                out[rows] = emb
                bar.update(len(rows))
        return out

    def __repr__(self) -> str:
        return (f"ExportedEncoder({self.path}, backend={self.backend}, precision={self.precision}, int8={self.int8}, "
                f"hidden={self.embedding_dim})")


PRECISIONS = ("auto", "f32", "bf16", "f16")


def resolve_precision(backend: str, precision: str, threads: int | None = None) -> str:
    """``"auto"`` / ``"f32"`` / ``"bf16"`` / ``"f16"`` -> the precision ``backend`` runs at.

    ``"auto"`` is bf16 for OpenVINO on a CPU with native bf16 (AVX512-BF16 / AMX) and float32 otherwise, and
    float32 when ``threads`` (``None``: the CPU count) is 1: OpenVINO 2026.4 killed the process (SIGFPE in ``compile_model``) compiling a
    small bidirectional Gemma3 (hidden 128, head_dim 64, sliding + full layers) at bf16 on one thread, while two
    threads or float32 compiled it. ONNX Runtime's CPU provider runs float32 only. Raises `ExportError` naming the
    option for anything else.
    """
    from drama_data.precision import cpu_has_native_bf16

    if precision not in PRECISIONS:
        raise ExportError(f"option precision={precision!r} must be one of {', '.join(PRECISIONS)}")
    if backend == "onnx":
        if precision not in ("auto", "f32"):
            raise ExportError(f"option precision={precision!r}: --backend onnx runs float32 only (use openvino)")
        return "f32"
    if precision == "auto":
        one_thread = (threads or os.cpu_count() or 1) == 1
        return "bf16" if cpu_has_native_bf16() and not one_thread else "f32"
    return precision
