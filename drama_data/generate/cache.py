"""Content-addressed store of completed requests (SQLite, one row per request, written as each completes).

The key is the SHA-256 of the backend name, the model identity, the sampling settings (seed included), the
prompt form and the rendered prompt. A rerun of the same command finds every completion it already paid for,
whatever the output folder, shard or order. Only successful completions are stored: failures are retried.
Safe against kill -9 (WAL journal; each completion is its own transaction) and shared between processes.

The same file keeps a usage history for plans (``drama-data generate --dry-run``): one ``usage`` row per
request key (backend, model, task, prompt hash, max_tokens, token counts, whether the answer parsed) and one
``throughput`` row per pass of a run that generated something (requests, tokens, the seconds spent generating
and, apart, the seconds the engine took to start), so a plan can say how many tokens a model writes for a task,
how often it must retry, how long the engine takes to start and how fast it then answers.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from drama_data.backends.base import Completion, Request
from drama_data.paths import requests_cache_path


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
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS usage (key TEXT PRIMARY KEY, backend TEXT, model TEXT, task TEXT, "
            "prompt_sha256 TEXT, max_tokens INTEGER, prompt_tokens INTEGER, completion_tokens INTEGER, "
            "parsed INTEGER, created REAL)"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS throughput (backend TEXT, model TEXT, task TEXT, requests INTEGER, "
            "prompt_tokens INTEGER, completion_tokens INTEGER, seconds REAL, created REAL)"
        )
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(throughput)")}
        if "start_seconds" not in columns:  # caches written before start-up was timed apart: NULL there
            self._db.execute("ALTER TABLE throughput ADD COLUMN start_seconds REAL")

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

    def record_usage(self, rows: Iterable[tuple]) -> None:
        """Store ``(key, backend, model, task, prompt_sha256, max_tokens, prompt_tokens, completion_tokens,
        parsed)`` tuples; a key already recorded keeps its first row (reruns do not count twice)."""
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR IGNORE INTO usage VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                 [(*r, now) for r in rows])
            self._db.execute("COMMIT")

    def record_throughput(self, backend: str, model: str, task: str, requests: int, prompt_tokens: int,
                          completion_tokens: int, seconds: float, start_seconds: float = 0.0) -> None:
        """One pass of a run: ``requests`` generated in ``seconds`` (generation only), after an engine start of
        ``start_seconds`` (0 when the engine was already running or there is none)."""
        with self._lock:
            self._db.execute(
                "INSERT INTO throughput (backend, model, task, requests, prompt_tokens, completion_tokens, seconds, "
                "created, start_seconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (backend, model, task, requests, prompt_tokens, completion_tokens, seconds, time.time(),
                 start_seconds))

    def usage_history(self, backend: str, model: str, task: str, max_tokens: int,
                      prompt_sha256: str | None = None) -> dict | None:
        """Mean tokens and parse rate of earlier requests of this model and task with the same ``max_tokens``
        (and prompt, when ``prompt_sha256`` is given): ``{"requests", "prompt_tokens", "completion_tokens",
        "parsed"}`` as means over ``requests`` rows, ``completion_sd`` (standard deviation) and ``capped``
        (answers that reached ``max_tokens``), or ``None`` without history."""
        sql = ("SELECT COUNT(*), AVG(prompt_tokens), AVG(completion_tokens), AVG(parsed), "
               "AVG(completion_tokens * completion_tokens), SUM(completion_tokens >= max_tokens) FROM usage "
               "WHERE backend = ? AND model = ? AND task = ? AND max_tokens = ?")
        args: list = [backend, model, task, max_tokens]
        if prompt_sha256:
            sql += " AND prompt_sha256 = ?"
            args.append(prompt_sha256)
        with self._lock:
            n, p, c, ok, c2, capped = self._db.execute(sql, args).fetchone()
        if not n:
            return None
        return {"requests": n, "prompt_tokens": p, "completion_tokens": c, "parsed": ok,
                "completion_sd": max(0.0, c2 - c * c) ** 0.5, "capped": capped or 0}

    def throughput_history(self, backend: str, model: str, task: str) -> dict | None:
        """Generation speed of earlier passes of this model and task, engine start-up left out:
        ``{"passes", "requests", "completion_tokens", "seconds", "seconds_per_request"}``, plus ``starts`` (engine
        starts timed) and ``start_seconds`` (their mean; ``None`` without one), or ``None`` without history.
        Rows from caches written before start-up was timed apart (their seconds include it) are not used."""
        with self._lock:
            n, req, c, sec, starts, start = self._db.execute(
                "SELECT COUNT(*), SUM(requests), SUM(completion_tokens), SUM(seconds), SUM(start_seconds > 0), "
                "AVG(CASE WHEN start_seconds > 0 THEN start_seconds END) FROM throughput "
                "WHERE backend = ? AND model = ? AND task = ? AND start_seconds IS NOT NULL",
                (backend, model, task)).fetchone()
        if not n or not sec:
            return None
        return {"passes": n, "requests": req, "completion_tokens": c, "seconds": sec,
                "seconds_per_request": sec / max(req, 1), "starts": starts or 0, "start_seconds": start}

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM completions").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def open_cache(cache_dir: str | None = None, no_cache: bool = False) -> RequestCache | None:
    """The request cache of ``--cache-dir`` (``requests.sqlite`` in it; default: the user cache), or ``None``
    with ``--no-cache``."""
    if no_cache:
        return None
    return RequestCache(Path(cache_dir) / "requests.sqlite" if cache_dir else requests_cache_path())
