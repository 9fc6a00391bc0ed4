"""Digests of a dataset folder written by a stage, for golden tests that prove a refactor changed no output.

In: the folder, and the strings that vary between runs (temporary paths). Out: ``{file: digest}`` where a
parquet file is hashed by its schema (with its metadata) and rows, and a text file (README.md, provenance.json)
by its text with dates, timings and the given paths replaced. Volatile values of ``provenance.json``
(``created``, ``seconds``) are blanked. ``DRAMA_UPDATE_GOLDEN=1`` rewrites a golden file instead of comparing.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import pyarrow.parquet as pq

DATE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?\+00:00")
TIMINGS = re.compile(r"Timings \(s\): \{.*?\}\.")


def normalise(text: str, replace: dict[str, str]) -> str:
    """``text`` with each key of ``replace`` (longest first) swapped for its value, dates and timings blanked."""
    for old in sorted(replace, key=len, reverse=True):
        text = text.replace(old, replace[old])
    text = DATE.sub("<DATE>", text)
    text = TIMINGS.sub("Timings (s): <TIMINGS>.", text)
    return re.sub(r"done in \d+\.\d s", "done in <S> s", text)


def _blank(value, keys=("created", "seconds", "index_dir")):
    if isinstance(value, dict):
        return {k: ("<V>" if k in keys else _blank(v, keys)) for k, v in value.items()}
    if isinstance(value, list):
        return [_blank(v, keys) for v in value]
    return value


def folder_digests(folder: Path, replace: dict[str, str]) -> dict[str, str]:
    """``{relative path: blake2b digest}`` of every file under ``folder`` (see the module docstring)."""
    out = {}
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            data = str(table.schema).encode() + json.dumps(table.to_pylist(), sort_keys=True, default=str).encode()
        elif path.name == "provenance.json":
            data = normalise(json.dumps(_blank(json.loads(path.read_text(encoding="utf-8"))), sort_keys=True),
                             replace).encode()
        else:
            data = normalise(path.read_text(encoding="utf-8"), replace).encode()
        out[rel] = hashlib.blake2b(data, digest_size=12).hexdigest()
    return out


def check_golden(golden: Path, actual: dict) -> None:
    """Compare ``actual`` with the JSON in ``golden`` (or write it when ``DRAMA_UPDATE_GOLDEN=1``)."""
    if os.environ.get("DRAMA_UPDATE_GOLDEN") == "1":
        golden.write_text(json.dumps(actual, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    expected = json.loads(golden.read_text(encoding="utf-8"))
    assert actual == expected
