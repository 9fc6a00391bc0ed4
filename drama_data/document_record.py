"""The ``Document`` record: one corpus document as every reader returns it (id, title, text).

Out of :mod:`drama_data.corpus` (BEIR, jsonl/parquet, Hugging Face readers) and :mod:`drama_data.documents`
(a folder of your own .txt/.md/.html/.pdf files); into :mod:`drama_data.chunking`. Its own module so that both
readers use it without importing each other.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Document:
    """One corpus document: ``id`` (str), ``title`` (may be empty) and ``text`` (non-empty)."""

    id: str
    title: str
    text: str
