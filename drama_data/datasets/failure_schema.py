"""The columns of a ``generate`` output's ``failures`` config: one row per failed attempt, never dropped.

``query_id`` / ``passage_id`` (the slot and its passage), ``attempt`` (0-based), ``kind`` (``parse``,
``backend``, ``followup``), ``reason`` (short and stable: it is counted), ``raw_text`` (the model's answer as
it came), ``finish_reason``, ``final`` (no attempt of the slot is left), ``model``, ``prompt_sha256``, and the
columns of the language checks (``language``, ``passage_language``, ``detected_language``,
``language_confidence``). Written by :mod:`drama_data.generate.runner`, read back by
:mod:`drama_data.datasets.merge` (an empty config of a shard still has these columns).
"""
from __future__ import annotations

import pyarrow as pa

FAILURE_SCHEMA = pa.schema({
    "query_id": pa.string(), "passage_id": pa.string(), "attempt": pa.int32(), "kind": pa.string(),
    "reason": pa.string(), "raw_text": pa.string(), "finish_reason": pa.string(), "final": pa.bool_(),
    "model": pa.string(), "prompt_sha256": pa.string(), "language": pa.string(), "passage_language": pa.string(),
    "detected_language": pa.string(), "language_confidence": pa.float32(),
})
