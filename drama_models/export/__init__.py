"""Serving a trained encoder without PyTorch: export to ONNX or OpenVINO, and encode with the exported file.

- :func:`export_model` (``drama-models export MODEL --format onnx|openvino --output DIR``, :mod:`.writer`) writes a
  folder holding the network with pooling and normalisation inside (``input_ids``, ``attention_mask`` ->
  ``sentence_embedding``; dynamic batch and sequence axes), the tokenizer, ``drama_config.json`` (prefixes,
  BOS/EOS, max length) and ``export_config.json`` (what was written, how, and the cosine it was checked at).
- :class:`ExportedEncoder` (:mod:`.runtime`) encodes with ONNX Runtime or OpenVINO through the same
  ``encode_queries`` / ``encode_documents`` as :class:`drama_models.encoder.DramaEncoder`;
  :func:`load_encoder` (:mod:`.loading`) picks torch / onnx / openvino for ``drama-models evaluate --backend``.

Why not sentence-transformers' ``backend="onnx"``: its ONNX and OpenVINO backends go through optimum /
optimum-intel, and every release of those requires transformers < 4.58, while this project needs transformers 5.x
(vLLM 0.32), so pip cannot install them together. The export here is ``torch.onnx.export`` on our own encoder,
which also covers the decoders with bidirectional attention that optimum does not know.
"""
from drama_models.export.layout import EXPORTERS, FORMATS, ExportError
from drama_models.export.loading import BACKENDS, load_encoder
from drama_models.export.runtime import ExportedEncoder
from drama_models.export.writer import export_model

__all__ = ["BACKENDS", "EXPORTERS", "FORMATS", "ExportError", "ExportedEncoder", "export_model", "load_encoder"]
