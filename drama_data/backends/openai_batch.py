"""Backend for the OpenAI Batch API (``--backend openai-batch``): the same requests at half the price of
the online API at the large providers, answered within the completion window (24 h) instead of at once.

In: a list of :class:`~drama_data.backends.base.Request` (as for :class:`~drama_data.backends.openai.OpenAIBackend`,
with the same JSON bodies). Out: ``(index, Completion)`` for every request exactly once, yielded batch by
batch as each batch ends; the runner stores them in the request cache and the dataset as usual.

How it runs
    1. Each request becomes one JSONL line ``{"custom_id", "method": "POST", "url", "body"}``; its
       ``custom_id`` is a hash of the endpoint and body, so identical requests share one line and a rerun
       finds its lines again. Chat and completion requests go to separate batches (a batch has one
       endpoint), at most ``max_batch_requests`` lines (the provider's limit: 50,000) and 190 MB each.
    2. The file is uploaded (``POST /v1/files``, purpose ``batch``) and a batch created
       (``POST /v1/batches``), then polled (``GET /v1/batches/{id}``): after 1 s, then at doubling
       intervals up to ``poll_interval`` seconds.
    3. When a batch ends, its output and error files are downloaded and every line turned into a
       completion: a 2xx body is parsed as the online backend parses it; a failed line gives an error
       completion with the server's message (``extra["http_status"]`` when there is one); a request with no
       line (an ``expired``, ``cancelled`` or ``failed`` batch) gives an error completion naming the batch
       status. Error completions are not cached, so a rerun submits exactly those requests again.

Resuming (never paying twice)
    Before anything is uploaded, a state file is written under ``state_dir`` (default
    ``<cache>/batches/``, one folder per base URL and model) naming the batch's ``custom_id``\\ s; the file id
    and the batch id are added the moment the server returns them. A rerun (after a kill, a Ctrl-C, a
    reboot) reads these files first: requests already in a live batch are not submitted again, the batch
    is polled instead. Should a run die between creating a batch and recording its id, the rerun finds the
    batch among the server's batches by its input file. A state file is removed once its results have been
    handed over (a run killed while handing them over downloads them again).

The control calls go through the official SDK (``openai.OpenAI``: a few calls per batch, with its retries
and Retry-After handling). The key is read from ``$api_key_env`` when a run starts, never stored, and
redacted from every error message.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlunsplit

from drama_data.backends.base import Completion, Request
from drama_data.backends.openai import OpenAIBackend, request_body
from drama_data.backends.openai_responses import MAX_ERROR_BODY, parse_completion_body
from drama_data.backends.redaction import Redactor
from drama_data.backends.refusals import (
    FATAL_KINDS,
    classify_rejection,
    refusal_error,
    server_message,
)
from drama_data.errors import BackendError, ConfigError
from drama_data.plurals import plural

log = logging.getLogger(__name__)

#: Statuses after which a batch changes no more.
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
#: The provider's limits on lines per batch and bytes per input file (200 MB, with a margin).
MAX_BATCH_REQUESTS = 50_000
MAX_BATCH_BYTES = 190 * 1024 * 1024


def _write_json(path: Path, data: dict) -> None:
    """Write ``data`` atomically (a kill leaves the old file or the new one, never half of one)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, path)


class OpenAIBatchBackend(OpenAIBackend):
    """Generate through an OpenAI-compatible Batch API (see the module docstring).

    Options as :class:`OpenAIBackend` (``model``, ``base_url``, ``api_key_env``, ``timeout`` and
    ``max_retries`` per control call, ``extra_body``, ``prompt_format``), plus ``poll_interval`` (seconds
    between status checks), ``completion_window`` (``"24h"``), ``max_batch_requests`` and ``state_dir``
    (where batch ids are kept; default ``<cache>/batches``). ``echo`` prints progress lines (``None``: quiet).
    """

    name = "openai-batch"

    @property
    def cache_name(self) -> str:
        """``openai``: a completion fetched through the Batch API is the one the online API gives for the same
        model, prompt and sampling, so the two share the request cache."""
        return "openai"

    def __init__(self, model: str, *, poll_interval: float = 30.0, completion_window: str = "24h",
                 max_batch_requests: int = MAX_BATCH_REQUESTS, state_dir: str | Path | None = None,
                 echo: Callable[[str], None] | None = None, **options: Any):
        options.pop("concurrency", None)
        options.pop("rpm", None)
        options.pop("tpm", None)
        super().__init__(model, **options)
        if not poll_interval > 0:
            raise ConfigError(f"poll_interval must be positive, got {poll_interval}")
        if not 1 <= max_batch_requests <= MAX_BATCH_REQUESTS:
            raise ConfigError(f"max_batch_requests must be in [1, {MAX_BATCH_REQUESTS}], got {max_batch_requests}")
        self.poll_interval = float(poll_interval)
        self.completion_window = completion_window
        self.max_batch_requests = int(max_batch_requests)
        if state_dir is None:
            from drama_data.paths import cache_dir

            state_dir = cache_dir() / "batches"
        scope = hashlib.sha256(f"{self.base_url}\n{self.model}".encode()).hexdigest()[:16]
        self.state_dir = Path(state_dir) / scope
        self.echo = echo

    def info(self) -> dict:
        """Provenance: backend, model, base URL (secrets stripped) and the completion window. Never the key."""
        return {"backend": self.name, "model": self.model, "base_url": self.base_url,
                "completion_window": self.completion_window}

    def __repr__(self) -> str:
        return f"OpenAIBatchBackend(model={self.model!r}, base_url={self.base_url!r})"

    def _say(self, message: str) -> None:
        log.info(message)
        if self.echo:
            self.echo(message)

    # -- entry point ------------------------------------------------------------------------------------
    def generate(self, requests: Sequence[Request]) -> Iterator[tuple[int, Completion]]:
        """Yield ``(index, completion)`` for every request as its batch ends (see the module docstring).

        Raises :class:`BackendError` when the server cannot be reached or refuses a control call (no
        ``/files`` or ``/batches`` route), :class:`~drama_data.errors.AuthError` for a 401/403 (naming
        ``api_key_env``: unset, empty or refused), :class:`~drama_data.errors.ModelNotFoundError` for a model the
        server does not serve (listing those it does); batches already created stay recorded for a rerun. A batch
        whose lines were refused for the key or the model hands over its answers (error completions), then
        raises the same errors.
        """
        import openai

        requests = list(requests)
        if not requests:
            return
        key = self._api_key()
        redact = Redactor([key, *self._url_secrets])
        client = openai.OpenAI(
            api_key=key, base_url=urlunsplit((self._scheme, self._netloc, self._path, "", "")),
            default_query=dict(parse_qsl(self._query)) or None, timeout=self.timeout, max_retries=self.max_retries)
        del key
        try:
            yield from _BatchRun(self, client, requests, redact).run()
        except openai.APIStatusError as exc:
            raise self._control_error(client, exc, redact) from None
        except openai.APIConnectionError as exc:
            raise BackendError(redact(f"cannot reach the Batch API at {self.base_url} ({type(exc).__name__}: "
                                      f"{exc}). Is it running? Check --base-url.")) from None
        finally:
            client.close()

    def close(self) -> None:
        """Nothing runs in the background: batches live on the server and are picked up by the next run."""

    def _served_models(self, client) -> list[str] | None:
        """The model ids the server lists (``GET /models``), or ``None`` when it does not say."""
        import openai

        try:
            return [m.id for m in client.models.list()]
        except (openai.OpenAIError, ValueError, TypeError, AttributeError):
            return None

    def _control_error(self, client, exc, redact: Redactor) -> BackendError:
        """The one-line error for a control call the server refused (``exc``: the SDK's ``APIStatusError``)."""
        status, raw = exc.status_code, exc.response.text
        where = f"{exc.request.method} {exc.request.url.path}"
        kind = classify_rejection(status, raw)
        if kind == "model" and (exc.request.url.path.rstrip("/").endswith("/files")
                                or "model" not in server_message(raw).lower()):
            return BackendError(redact(f"the server at {self.base_url} has no Batch API ({where} answered HTTP 404: "
                                       f"{server_message(raw)}); use --backend openai for this server"))
        if kind in FATAL_KINDS:
            served = self._served_models(client) if kind == "model" else None
            return refusal_error(self, kind, status, raw, redact, served, where=where)
        return BackendError(redact(f"the Batch API at {self.base_url} answered HTTP {status} to {where}: "
                                   f"{server_message(raw)}"))


class _BatchRun:
    """One ``generate`` call: lines, state files, submission, polling, results."""

    def __init__(self, backend: OpenAIBatchBackend, client, requests: list[Request], redact: Redactor | None = None):
        self.b, self.client, self.requests = backend, client, requests
        self.redact = redact or Redactor([])
        self.fatal: tuple[int, str, str] | None = None  # (status, raw body, kind) of a line refused for key/model
        self.wanted: dict[str, list[int]] = {}  # custom_id -> indices of the requests it answers
        self.lines: dict[str, dict] = {}  # custom_id -> JSONL line
        for i, req in enumerate(requests):
            url = backend._path + ("/chat/completions" if req.messages is not None else "/completions")
            line = {"method": "POST", "url": url, "body": request_body(req, backend.model, backend.extra_body)}
            cid = hashlib.sha256(json.dumps(line, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:32]
            line = {"custom_id": cid, **line}
            self.lines.setdefault(cid, line)
            self.wanted.setdefault(cid, []).append(i)
        self.answered: set[str] = set()

    # -- state files ---------------------------------------------------------------------------------
    def _load_states(self) -> list[tuple[Path, dict]]:
        states = []
        if self.b.state_dir.is_dir():
            for path in sorted(self.b.state_dir.glob("*.json")):
                try:
                    states.append((path, json.loads(path.read_text(encoding="utf-8"))))
                except (OSError, ValueError):
                    log.warning("ignoring the unreadable batch state file %s", path)
        return states

    def _adopt(self, path: Path, state: dict) -> bool:
        """Make sure a state with an uploaded file has its batch; False if it must be submitted anew."""
        if state.get("batch_id"):
            return True
        if not state.get("input_file_id"):
            path.unlink(missing_ok=True)  # killed before the upload finished: nothing was paid for
            return False
        for n, batch in enumerate(self.client.batches.list(limit=100)):  # killed before saving the batch id?
            if n >= 1000:  # the newest thousand batches; an older one would have been found by an earlier rerun
                break
            if batch.input_file_id == state["input_file_id"]:
                state["batch_id"] = batch.id
                _write_json(path, state)
                self.b._say(f"openai-batch: found batch {batch.id} of an interrupted run")
                return True
        self._create_batch(path, state)
        return True

    def _create_batch(self, path: Path, state: dict) -> None:
        batch = self.client.batches.create(input_file_id=state["input_file_id"], endpoint=state["endpoint"],
                                           completion_window=self.b.completion_window,
                                           metadata={"drama_state": path.stem})
        state["batch_id"] = batch.id
        _write_json(path, state)

    def _submit(self, endpoint: str, ids: list[str]) -> tuple[Path, dict]:
        data = "".join(json.dumps(self.lines[c], ensure_ascii=False) + "\n" for c in ids).encode("utf-8")
        digest = hashlib.sha256(data).hexdigest()[:16]
        self.b.state_dir.mkdir(parents=True, exist_ok=True)
        path = self.b.state_dir / f"{int(time.time())}-{digest}.json"
        state = {"endpoint": endpoint, "custom_ids": ids, "created": time.time()}
        _write_json(path, state)  # before anything reaches the server
        try:
            upload = self.client.files.create(file=(f"drama-{digest}.jsonl", data), purpose="batch")
        except Exception:  # refused (a bad key, no Batch API) or unreachable: nothing stored there to resume
            path.unlink(missing_ok=True)
            raise
        state["input_file_id"] = upload.id
        _write_json(path, state)
        self._create_batch(path, state)
        self.b._say(f"openai-batch: submitted {plural(len(ids), 'request')} as batch {state['batch_id']} "
                    f"({endpoint}, window {self.b.completion_window})")
        return path, state

    # -- the run -------------------------------------------------------------------------------------
    def run(self) -> Iterator[tuple[int, Completion]]:
        live: list[tuple[Path, dict]] = []
        covered: set[str] = set()
        for path, state in self._load_states():
            mine = self.wanted.keys() & set(state.get("custom_ids", ()))
            if mine and self._adopt(path, state):
                live.append((path, state))
                covered |= mine
        if live:
            self.b._say(f"openai-batch: resuming {plural(len(live), 'batch', 'batches')} of an earlier run "
                        f"({plural(len(covered), 'request')})")
        by_endpoint: dict[str, list[str]] = {}
        for cid, line in self.lines.items():
            if cid not in covered:
                by_endpoint.setdefault(line["url"], []).append(cid)
        for endpoint, ids in by_endpoint.items():
            chunk: list[str] = []
            size = 0
            for cid in ids:
                n = len(json.dumps(self.lines[cid], ensure_ascii=False).encode("utf-8")) + 1
                if chunk and (len(chunk) >= self.b.max_batch_requests or size + n > MAX_BATCH_BYTES):
                    live.append(self._submit(endpoint, chunk))
                    chunk, size = [], 0
                chunk.append(cid)
                size += n
            if chunk:
                live.append(self._submit(endpoint, chunk))
        last_status: dict[str, str] = {}
        delay = min(1.0, self.b.poll_interval)  # small batches on local servers end in seconds
        while live:
            for path, state in list(live):
                batch = self.client.batches.retrieve(state["batch_id"])
                counts = batch.request_counts
                shown = batch.status
                if counts:
                    shown += f", {counts.completed + counts.failed}/{counts.total} done"
                if last_status.get(batch.id) != shown:
                    last_status[batch.id] = shown
                    self.b._say(f"openai-batch: batch {batch.id}: {shown}")
                if batch.status in TERMINAL:
                    yield from self._results(batch, state)
                    path.unlink(missing_ok=True)  # every result handed over
                    live.remove((path, state))
                    if self.fatal is not None:  # lines refused for the key, the model or the account: stop
                        status, raw, kind = self.fatal
                        served = self.b._served_models(self.client) if kind == "model" else None
                        raise refusal_error(self.b, kind, status, raw, self.redact, served,
                                            where=f"the lines of batch {batch.id}")
            if live:
                time.sleep(delay)
                delay = min(delay * 2, self.b.poll_interval)
        for cid, indices in self.wanted.items():  # cannot happen unless a state file vanished under us
            if cid not in self.answered:
                self.answered.add(cid)
                for i in indices:
                    yield i, Completion(text="", finish_reason="error", error="no batch answered this request")

    def _download(self, file_id: str | None) -> dict[str, dict]:
        if not file_id:
            return {}
        text = self.client.files.content(file_id).text
        out = {}
        for n, raw in enumerate(text.splitlines(), 1):
            if not raw.strip():
                continue
            try:
                line = json.loads(raw)
                out[str(line["custom_id"])] = line
            except (ValueError, KeyError, TypeError):
                log.warning("openai-batch: line %d of file %s is not a batch result line: %r", n, file_id, raw[:200])
        return out

    def _results(self, batch, state: dict) -> Iterator[tuple[int, Completion]]:
        lines = self._download(batch.error_file_id)
        lines.update(self._download(batch.output_file_id))
        missing = f"batch {batch.id} ended {batch.status} without answering this request"
        if batch.status == "failed" and batch.errors is not None and batch.errors.data:
            missing += ": " + "; ".join(str(e.message or e.code) for e in batch.errors.data[:3])
        chat = state["endpoint"].endswith("/chat/completions")
        for cid in state["custom_ids"]:
            if cid not in self.wanted or cid in self.answered:
                continue
            self.answered.add(cid)
            completion = self._completion(lines.get(cid), chat, missing)
            completion.extra["batch_id"] = batch.id
            status = completion.extra.get("http_status")
            if self.fatal is None and isinstance(status, int) and 400 <= status < 500:
                kind = classify_rejection(status, completion.text)
                if kind in FATAL_KINDS:
                    self.fatal = (status, completion.text, kind)
            for i in self.wanted[cid]:
                yield i, Completion(**{**completion.as_dict(), "extra": dict(completion.extra)})

    @staticmethod
    def _completion(line: dict | None, chat: bool, missing: str) -> Completion:
        if line is None:
            return Completion(text="", finish_reason="error", error=missing)
        response = line.get("response") if isinstance(line.get("response"), dict) else None
        error = line.get("error")
        if response is not None:
            status = response.get("status_code")
            body = response.get("body")
            raw = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
            if isinstance(status, int) and 200 <= status < 300:
                outcome = parse_completion_body(raw, status, chat)
                if outcome.completion is not None:
                    return outcome.completion
                return Completion(text=raw[:MAX_ERROR_BODY], finish_reason="error", error=outcome.error,
                                  extra={"http_status": status})
            return Completion(text=raw[:MAX_ERROR_BODY], finish_reason="error",
                              error=f"HTTP {status}: {server_message(raw)}", extra={"http_status": status})
        if isinstance(error, dict):
            message = f"{error.get('code') or 'error'}: {error.get('message') or ''}".strip()
        else:
            message = str(error or "a result line with neither response nor error")
        return Completion(text="", finish_reason="error", error=f"batch line failed ({message})")
