"""Content-addressed store of completed requests (SQLite, one row per request, written as each completes).

The key is the SHA-256 of the backend name, the model identity, the sampling settings (seed included), the
prompt form and the rendered prompt. A rerun of the same command finds every completion it already paid for,
whatever the output folder, shard or order. Only successful completions are stored: failures are retried.
Safe against kill -9 (WAL journal; each completion is its own transaction) and shared between processes.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Iterable

from drama_data.backends.base import Completion, Request


def request_key(backend: str, model: str, request: Request) -> str:
    """The cache key of ``request`` sent to ``model`` through ``backend``."""
    payload = json.dumps(
        {"backend": backend, "model": model, "sampling": request.sampling.as_dict(),
         "form": request.form, "prompt": request.content()},
        ensure_ascii=False, sort_keys=True,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class RequestCache:
    """``get_many(keys)`` -> {key: Completion}; ``put(key, completion)`` commits at once."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=60, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS completions (key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL)"
        )

    def get_many(self, keys: Iterable[str]) -> dict[str, Completion]:
        keys = list(dict.fromkeys(keys))
        found: dict[str, Completion] = {}
        with self._lock:
            for start in range(0, len(keys), 900):
                chunk = keys[start:start + 900]
                marks = ",".join("?" * len(chunk))
                for key, value in self._db.execute(f"SELECT key, value FROM completions WHERE key IN ({marks})", chunk):
                    found[key] = Completion.from_dict(json.loads(value))
        return found

    def put(self, key: str, completion: Completion) -> None:
        if not completion.ok:
            return
        value = json.dumps(completion.as_dict(), ensure_ascii=False)
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO completions (key, value, created) VALUES (?, ?, ?)", (key, value, time.time())
            )

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM completions").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
