"""The work folder of a streaming ``generate`` run: finished windows as parquet parts plus a progress record.

``<output parent>/.<output name>.partial/`` holds ``queries/part-<window>.parquet`` and
``failures/part-<window>.parquet`` for every window written so far and ``progress.json``::

    {"run": "<fingerprint of the command's options>",
     "windows": {"0": {"digest": "<sha256 of the window's passages>", "complete": true, "rows": 123, ...}}}

A part is written to a temporary name and renamed, then the record is replaced atomically (write, fsync,
rename), so a run killed at any moment (Ctrl-C, kill -9) leaves only whole parts that the record names or parts
it does not name (which are redone). A rerun of the same command (same ``run`` fingerprint) reuses a window
whose passages hash to the recorded digest and whose record says ``complete`` (a window cut short by
``--max-requests``/``--max-cost`` is redone: its answers are in the request cache). A different command starts
the folder afresh. The folder is removed once the dataset folder is written (kept when the run stopped early).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from drama_data.chunking import Passage

PROGRESS = "progress.json"


def work_folder_for(output: str | Path) -> Path:
    """Where the parts of ``output`` are kept while it is generated."""
    output = Path(output)
    return output.parent / f".{output.name}.partial"


def window_digest(passages: Iterable[Passage]) -> str:
    """SHA-256 over the passages' ids, titles and texts (a changed corpus changes the digest)."""
    h = hashlib.sha256()
    for p in passages:
        for part in (p.id, p.doc_id, str(p.chunk), p.title, p.text):
            b = part.encode("utf-8")
            h.update(len(b).to_bytes(8, "big"))
            h.update(b)
    return h.hexdigest()


def run_fingerprint(options: dict) -> str:
    """A short hash of the options that decide a run's rows (json-serialisable)."""
    text = json.dumps(options, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class WorkFolder:
    """Parts and progress of one run (see the module doc). ``configs``: the part tables kept per window."""

    def __init__(self, path: str | Path, run: str, configs: tuple[str, ...] = ("queries", "failures")) -> None:
        self.path = Path(path)
        self.run = run
        self.configs = configs
        self.windows: dict[str, dict] = {}
        record = self._read()
        if record is not None and record.get("run") == run:
            self.windows = dict(record.get("windows", {}))
        elif self.path.exists():
            shutil.rmtree(self.path)
        self.resumed = sum(1 for w in self.windows.values() if w.get("complete"))

    def _read(self) -> dict | None:
        try:
            return json.loads((self.path / PROGRESS).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def part(self, config: str, index: int) -> Path:
        return self.path / config / f"part-{index:06d}.parquet"

    def finished(self, index: int, digest: str) -> dict | None:
        """The record of window ``index`` when it is complete, its parts exist and its passages are unchanged."""
        rec = self.windows.get(str(index))
        if rec and rec.get("complete") and rec.get("digest") == digest \
                and all(self.part(c, index).is_file() for c in self.configs):
            return rec
        return None

    def save(self, index: int, digest: str, tables: dict[str, pa.Table], record: dict) -> None:
        """Write window ``index``'s parts, then record it (``record`` holds its counts and ``complete``)."""
        for config in self.configs:
            path = self.part(config, index)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            pq.write_table(tables[config], tmp)
            os.replace(tmp, path)
        self.windows[str(index)] = {"digest": digest, **record}
        self._write_record()

    def _write_record(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        tmp = self.path / (PROGRESS + ".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump({"run": self.run, "windows": self.windows}, fh, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path / PROGRESS)

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
