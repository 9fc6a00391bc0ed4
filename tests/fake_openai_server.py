"""A small, real OpenAI-compatible HTTP server for tests, with faults injected by markers in the prompt.

It listens on 127.0.0.1 on a free port (stdlib ``ThreadingHTTPServer``, HTTP/1.1 keep-alive) and serves
``GET /v1/models``, ``POST /v1/chat/completions`` and ``POST /v1/completions``. A successful answer is
deterministic: the text is :func:`expected_text` of the prompt (for chat: the message contents joined by
newlines), with ``usage`` (prompt words, 2 completion tokens) and ``finish_reason`` ``"stop"``.

Faults are chosen by markers anywhere in the prompt text (so a test decides which request fails how):

``[[fault=KIND key=value ...]]``
    applies to the first ``times`` attempts of this prompt on this endpoint (default 1; ``times=all``:
    every attempt), then the prompt is served normally. KIND is

    * an HTTP status (``429``, ``500``, ``503``, ``400``, ...): an OpenAI-style error JSON; with
      ``after=SECONDS`` a ``Retry-After`` header, ``after_ms=MS`` a ``retry-after-ms`` header,
      ``after_date=SECONDS`` a ``Retry-After`` HTTP-date that many seconds ahead; ``echo_auth=1`` puts the
      request's Authorization header into the error message (to test redaction); ``code=X`` sets the body's
      ``error.code`` (e.g. ``insufficient_quota``);
    * ``slow``: wait ``seconds`` (default 5) before answering (longer than the client's timeout);
    * ``malformed``: 200 with a truncated JSON body; ``empty``: 200 with an empty body;
    * ``drop``: send the headers and part of the body, then close the socket;
    * ``length``: a normal answer with ``finish_reason`` ``"length"``; ``nousage``: one without ``usage``;
    * ``context``: HTTP 400 with OpenAI's ``context_length_exceeded`` body (a prompt over the model's limit).
``[[sleep=SECONDS]]``
    delay every successful answer of this prompt (for streaming-order and concurrency tests).

The Batch API (the subset the ``openai-batch`` backend uses): ``POST /v1/files`` (multipart upload),
``GET /v1/files/{id}/content``, ``POST /v1/batches``, ``GET /v1/batches/{id}``, ``GET /v1/batches`` (list)
and ``POST /v1/batches/{id}/cancel``. A batch is ``validating``, then ``in_progress``, and ``batch_seconds``
after its creation ends as ``batch_outcome`` says: ``"completed"`` (every line answered as the chat and
completion endpoints would, a line whose prompt holds a status fault such as ``[[fault=400]]`` going to the
error file), ``"expired"`` (only the first half of the lines answered, the rest reported expired in the
error file), or ``"failed"`` (no output, ``errors`` says why). ``batch_counts()`` counts uploads and batch
creations.

Server-wide behaviour, as a hosted API or ``vllm serve --api-key`` has it (all off by default):
``api_key`` makes every ``/v1`` request without ``Authorization: Bearer <api_key>`` answer ``auth_status``
(401, or 403) with OpenAI's ``invalid_api_key`` body (the sent key masked as OpenAI masks it: its first 3 and
last 4 characters); :meth:`FakeOpenAIServer.set_api_key` changes it mid-run (a revoked key). ``check_model``
answers 404 ``model_not_found`` to a completion for a model not in ``served_models`` (``GET /v1/models`` lists
them). ``max_context`` answers 400 ``context_length_exceeded`` when a prompt's words plus ``max_tokens`` exceed it.

Every request is recorded (:class:`Record`: path, headers, JSON body, prompt, start/end times, status,
fault) so tests can count attempts, measure waits and read the Authorization header; ``max_in_flight``
is the most completion requests handled at once. The server is bounded: it answers 503 once it has seen
``max_requests`` requests and stops itself after ``max_lifetime`` seconds. :meth:`kill` simulates a
crashed server (listening socket closed, open connections dropped).
"""
from __future__ import annotations

import email.parser
import email.policy
import email.utils
import hashlib
import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_FAULT = re.compile(r"\[\[fault=(\w+)((?:\s+\w+=[^\s\]]+)*)\s*\]\]")
_SLEEP = re.compile(r"\[\[sleep=([0-9.]+)\]\]")


def expected_text(prompt: str) -> str:
    """The text the server answers for ``prompt`` (chat: the message contents joined by newlines)."""
    return "echo " + hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:16]


def fault(kind: str, **params) -> str:
    """A fault marker to put in a prompt, e.g. ``fault(429, after=1)`` or ``fault("slow", seconds=3)``."""
    return "[[fault=" + str(kind) + "".join(f" {k}={v}" for k, v in params.items()) + "]]"


def _model_not_found(model) -> dict:
    """OpenAI's 404 body for a model the server does not serve."""
    return {"error": {"message": f"The model `{model}` does not exist or you do not have access to it.",
                      "type": "invalid_request_error", "param": None, "code": "model_not_found"}}


def _context_exceeded(limit: int, used: int) -> dict:
    """OpenAI's 400 body for a prompt over the model's context."""
    return {"error": {"message": f"This model's maximum context length is {limit} tokens. However, your messages "
                                 f"resulted in {used} tokens. Please reduce the length of the messages.",
                      "type": "invalid_request_error", "param": "messages", "code": "context_length_exceeded"}}


@dataclass
class Record:
    """One HTTP request the server received."""

    method: str
    path: str
    headers: dict
    body: dict | None
    prompt: str | None
    t_start: float
    t_end: float = 0.0
    status: int | str | None = None
    fault: str | None = None


@dataclass
class _State:
    records: list = field(default_factory=list)
    attempts: dict = field(default_factory=dict)
    in_flight: int = 0
    max_in_flight: int = 0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30  # an idle keep-alive connection ends by itself
    server: _Server

    def log_message(self, *args):  # quiet
        pass

    # -- plumbing -----------------------------------------------------------------------------------
    def _send(self, status: int, payload, headers: dict | None = None) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _refused(self, rec: Record) -> bool:
        """Answer ``auth_status`` (and end ``rec``) when the server wants a key and did not get it."""
        srv = self.server
        if srv.api_key is None or self.headers.get("Authorization") == f"Bearer {srv.api_key}":
            return False
        sent = (self.headers.get("Authorization") or "").partition(" ")[2]
        if not sent:
            message = ("You didn't provide an API key. You need to provide your API key in an Authorization "
                       "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).")
        else:
            shown = sent if len(sent) < 8 else f"{sent[:3]}{'*' * (len(sent) - 7)}{sent[-4:]}"
            message = (f"Incorrect API key provided: {shown}. You can find your API key at "
                       "https://platform.openai.com/account/api-keys.")
        code = "invalid_api_key" if srv.auth_status == 401 else "unsupported_country_region_territory"
        if srv.auth_status == 403:
            message = "Country, region, or territory not supported"
        self._send(srv.auth_status, {"error": {"message": message, "type": "invalid_request_error", "param": None,
                                               "code": code}})
        self._end(rec, srv.auth_status)
        return True

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except OSError:  # the client went away (timeout, cancel): nothing to answer
            self.close_connection = True

    def _begin(self, body: dict | None, prompt: str | None) -> Record:
        rec = Record(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body, prompt,
                     time.monotonic())
        st = self.server.state
        with self.server.lock:
            st.records.append(rec)
            if self.path != "/v1/models":
                st.in_flight += 1
                st.max_in_flight = max(st.max_in_flight, st.in_flight)
        return rec

    def _end(self, rec: Record, status) -> None:
        rec.t_end, rec.status = time.monotonic(), status
        if self.path != "/v1/models":
            with self.server.lock:
                self.server.state.in_flight -= 1

    # -- endpoints ----------------------------------------------------------------------------------
    def do_GET(self):
        if self.server.dead.is_set():
            return self._drop()
        rec = self._begin(None, None)
        if self._refused(rec):
            return
        if self.path.startswith(("/v1/files", "/v1/batches")):
            status = 500
            try:
                status = self._batch_api(None)
            finally:
                self._end(rec, status)
            return
        if self.path == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": m, "object": "model", "owned_by": "fake"}
                                                        for m in self.server.served_models]})
            return self._end(rec, 200)
        self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
        self._end(rec, 404)

    def do_POST(self):
        if self.server.dead.is_set():
            return self._drop()
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.startswith(("/v1/files", "/v1/batches")):
            rec = self._begin(None, None)
            if self._refused(rec):
                return
            status = 500
            try:
                status = self._batch_api(raw)
            finally:
                self._end(rec, status)
            return
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        chat = self.path == "/v1/chat/completions"
        prompt = None
        if isinstance(body, dict):
            if chat and isinstance(body.get("messages"), list):
                prompt = "\n".join(str(m.get("content", "")) for m in body["messages"])
            elif not chat and isinstance(body.get("prompt"), str):
                prompt = body["prompt"]
        rec = self._begin(body, prompt)
        if self._refused(rec):
            return
        status: int | str = 500
        try:
            status = self._answer(rec, chat, body, prompt)
        finally:
            self._end(rec, status)

    # -- batch API ---------------------------------------------------------------------------------------
    def _batch_api(self, raw: bytes | None) -> int:
        srv = self.server
        path = self.path.split("?", 1)[0]
        parts = path.strip("/").split("/")  # v1, files|batches, [id], [content|cancel]
        if raw is not None and path == "/v1/files":
            msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + self.headers.get("Content-Type", "").encode() + b"\r\n\r\n" + raw)
            fields = {part.get_param("name", header="content-disposition"): part for part in msg.iter_parts()}
            data = fields["file"].get_payload(decode=True)
            with srv.lock:
                srv.batch_stats["uploads"] += 1
                fid = f"file-{len(srv.files) + 1}"
                srv.files[fid] = data
            self._send(200, {"id": fid, "object": "file", "bytes": len(data), "created_at": int(time.time()),
                             "filename": fields["file"].get_filename() or "input.jsonl",
                             "purpose": fields["purpose"].get_content().strip(), "status": "processed"})
            return 200
        if raw is None and len(parts) == 4 and parts[1] == "files" and parts[3] == "content":
            data = srv.files.get(parts[2])
            if data is None:
                self._send(404, {"error": {"message": f"no file {parts[2]}"}})
                return 404
            self._send(200, data)
            return 200
        if raw is not None and path == "/v1/batches":
            req = json.loads(raw)
            if req.get("input_file_id") not in srv.files:
                self._send(400, {"error": {"message": "unknown input_file_id"}})
                return 400
            if srv.check_model:
                lines = [json.loads(x) for x in srv.files[req["input_file_id"]].splitlines() if x.strip()]
                unknown = [ln["body"].get("model") for ln in lines if ln["body"].get("model") not in srv.served_models]
                if unknown:
                    self._send(404, _model_not_found(unknown[0]))
                    return 404
            with srv.lock:
                srv.batch_stats["batches"] += 1
                bid = f"batch-{len(srv.batches) + 1}"
                srv.batches[bid] = {
                    "id": bid, "object": "batch", "endpoint": req["endpoint"], "input_file_id": req["input_file_id"],
                    "completion_window": req["completion_window"], "status": "validating",
                    "created_at": int(time.time()), "metadata": req.get("metadata"), "_t": time.monotonic(),
                }
            self._send(200, self._batch_view(bid))
            return 200
        if raw is None and path == "/v1/batches":
            self._send(200, {"object": "list", "data": [self._batch_view(b) for b in reversed(list(srv.batches))],
                             "has_more": False})
            return 200
        if len(parts) >= 3 and parts[1] == "batches" and parts[2] in srv.batches:
            if raw is not None and parts[3:] == ["cancel"]:
                srv.batches[parts[2]]["_cancelled"] = True
            self._send(200, self._batch_view(parts[2]))
            return 200
        self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
        return 404

    def _batch_view(self, bid: str) -> dict:
        """The batch as the API shows it now (finishing it when its time has come)."""
        srv = self.server
        with srv.lock:
            b = srv.batches[bid]
            if b["status"] in ("validating", "in_progress"):
                age = time.monotonic() - b["_t"]
                if b.get("_cancelled"):
                    self._finish_batch(b, "cancelled")
                elif age >= srv.batch_seconds:
                    self._finish_batch(b, srv.batch_outcome)
                elif age >= srv.batch_seconds / 3:
                    b["status"] = "in_progress"
            return {k: v for k, v in b.items() if not k.startswith("_")}

    def _finish_batch(self, b: dict, outcome: str) -> None:
        srv = self.server
        lines = [json.loads(x) for x in srv.files[b["input_file_id"]].splitlines() if x.strip()]
        now = int(time.time())
        if outcome == "failed":
            b.update(status="failed", failed_at=now, request_counts={"total": len(lines), "completed": 0, "failed": 0},
                     errors={"object": "list", "data": [{"code": "invalid_request", "line": 1,
                                                         "message": "injected batch failure"}]})
            return
        answered = lines if outcome == "completed" else lines[: len(lines) // 2]
        out, err = [], []
        for n, line in enumerate(lines):
            cid = line["custom_id"]
            if n >= len(answered):
                err.append({"id": f"req-{n}", "custom_id": cid, "response": None,
                            "error": {"code": "batch_expired", "message": "This request could not be executed "
                                      "before the completion window expired."}})
                continue
            body = line["body"]
            chat = line["url"].endswith("/chat/completions")
            prompt = ("\n".join(str(m.get("content", "")) for m in body["messages"]) if chat else body["prompt"])
            m = _FAULT.search(prompt)
            if m and m.group(1).isdigit():
                code = int(m.group(1))
                err.append({"id": f"req-{n}", "custom_id": cid, "error": None, "response": {
                    "status_code": code, "request_id": f"r{n}",
                    "body": {"error": {"message": f"injected HTTP {code}", "type": "injected"}}}})
                continue
            text = (srv.responder or expected_text)(prompt)
            choice = {"index": 0, "finish_reason": "stop"}
            if chat:
                choice["message"] = {"role": "assistant", "content": text}
            else:
                choice["text"] = text
            out.append({"id": f"req-{n}", "custom_id": cid, "error": None, "response": {
                "status_code": 200, "request_id": f"r{n}",
                "body": {"id": f"cmpl-b{n}", "object": "chat.completion" if chat else "text_completion",
                         "model": body.get("model"), "choices": [choice],
                         "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": 2,
                                   "total_tokens": len(prompt.split()) + 2}}}})
        for name, rows in (("output_file_id", out), ("error_file_id", err)):
            if rows:
                fid = f"file-{len(srv.files) + 1}"
                srv.files[fid] = "".join(json.dumps(r) + "\n" for r in rows).encode()
                b[name] = fid
        status = {"completed": "completed", "expired": "expired", "cancelled": "cancelled"}[outcome]
        b.update(status=status, request_counts={"total": len(lines), "completed": len(out), "failed": len(err)})
        b[f"{status}_at"] = now

    def _answer(self, rec: Record, chat: bool, body, prompt) -> int | str:
        srv = self.server
        if self.path not in ("/v1/chat/completions", "/v1/completions"):
            self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return 404
        if prompt is None:
            self._send(400, {"error": {"message": "bad request body", "type": "invalid_request_error"}})
            return 400
        if len(srv.state.records) > srv.max_requests:
            self._send(503, {"error": {"message": "test server request budget exhausted"}})
            return 503
        if srv.check_model and body.get("model") not in srv.served_models:
            self._send(404, _model_not_found(body.get("model")))
            return 404
        if srv.max_context is not None:
            used = len(prompt.split()) + int(body.get("max_tokens") or 16)
            if used > srv.max_context:
                self._send(400, _context_exceeded(srv.max_context, used))
                return 400
        kind, params = None, {}
        m = _FAULT.search(prompt)
        if m:
            with srv.lock:
                key = (self.path, prompt)
                n = srv.state.attempts[key] = srv.state.attempts.get(key, 0) + 1
            params = dict(kv.split("=", 1) for kv in m.group(2).split())
            times = params.get("times", "1")
            if times == "all" or n <= int(times):
                kind = m.group(1)
        rec.fault = kind
        finish = "stop"
        if kind == "length":
            finish = "length"
        elif kind == "slow":
            if srv.dead.wait(float(params.get("seconds", 5))):
                self._drop()
                return "killed"
        elif kind == "malformed":
            self._send(200, b'{"id": "x", "choices": [{"text": "trunc')
            return 200
        elif kind == "empty":
            self._send(200, b"")
            return 200
        elif kind == "drop":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "500")
            self.end_headers()
            self.wfile.write(b'{"id": "partial", "choi')
            self._drop()
            return "drop"
        elif kind == "context":
            self._send(400, _context_exceeded(512, 9000))
            return 400
        elif kind and kind.isdigit():
            code = int(kind)
            headers = {}
            if "after" in params:
                headers["Retry-After"] = params["after"]
            if "after_ms" in params:
                headers["retry-after-ms"] = params["after_ms"]
            if "after_date" in params:
                headers["Retry-After"] = email.utils.formatdate(time.time() + float(params["after_date"]),
                                                                usegmt=True)
            message = f"injected HTTP {code}"
            if params.get("echo_auth"):
                message += f" (you sent Authorization: {self.headers.get('Authorization')})"
            self._send(code, {"error": {"message": message, "type": "injected", "code": params.get("code", code)}},
                       headers)
            return code
        s = _SLEEP.search(prompt)
        if s and srv.dead.wait(float(s.group(1))):
            self._drop()
            return "killed"
        if srv.delay and srv.dead.wait(srv.delay):
            self._drop()
            return "killed"
        text = (srv.responder or expected_text)(prompt)
        choice = {"index": 0, "finish_reason": finish}
        if chat:
            choice["message"] = {"role": "assistant", "content": text}
        else:
            choice["text"] = text
        answer = {"id": f"cmpl-{len(srv.state.records)}", "object": "chat.completion" if chat else "text_completion",
                  "model": body.get("model"), "choices": [choice]}
        if kind != "nousage":
            answer["usage"] = {"prompt_tokens": len(prompt.split()), "completion_tokens": 2,
                               "total_tokens": len(prompt.split()) + 2}
        self._send(200, answer, srv.answer_headers)
        return 200


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    request_queue_size = 128  # listen backlog (socketserver's default of 5 refuses bursts of connections)

    def __init__(self, model: str, max_requests: int, responder=None, delay: float = 0.0,
                 answer_headers: dict | None = None):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.answer_headers = dict(answer_headers or {})
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict] = {}
        self.batch_stats = {"uploads": 0, "batches": 0}
        self.batch_seconds = 0.3
        self.batch_outcome = "completed"
        self.responder = responder
        self.delay = delay
        self.model = model
        self.max_requests = max_requests
        self.state = _State()
        self.lock = threading.Lock()
        self.dead = threading.Event()
        self.api_key: str | None = None
        self.auth_status = 401
        self.served_models = [model]
        self.check_model = False
        self.max_context: int | None = None


class FakeOpenAIServer:
    """Start with ``with FakeOpenAIServer() as srv:`` (or ``start()``/``stop()``); ``srv.base_url`` ends in /v1."""

    def __init__(self, model: str = "fake-model", max_requests: int = 5000, max_lifetime: float = 120.0,
                 responder=None, delay: float = 0.0, answer_headers: dict | None = None, *,
                 api_key: str | None = None, auth_status: int = 401, served_models: list[str] | None = None,
                 check_model: bool = False, max_context: int | None = None):
        """``responder(prompt) -> text`` replaces :func:`expected_text`; ``delay`` seconds precede every answer;
        ``answer_headers`` are sent with every successful completion (e.g. ``x-ratelimit-*``). ``api_key``,
        ``auth_status``, ``served_models`` (default ``[model]``), ``check_model`` and ``max_context``: see the
        module doc."""
        self.server_options = {"api_key": api_key, "auth_status": auth_status,
                               "served_models": list(served_models or [model]), "check_model": check_model,
                               "max_context": max_context}
        self.answer_headers = answer_headers
        self.responder = responder
        self.delay = delay
        self.model = model
        self.max_requests = max_requests
        self.max_lifetime = max_lifetime
        self._srv: _Server | None = None
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None
        self._stopped = False

    def start(self) -> FakeOpenAIServer:
        self._srv = _Server(self.model, self.max_requests, self.responder, self.delay, self.answer_headers)
        for name, value in self.server_options.items():
            setattr(self._srv, name, value)
        self._thread = threading.Thread(target=self._srv.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True, name="fake-openai-server")
        self._thread.start()
        self._timer = threading.Timer(self.max_lifetime, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    @property
    def port(self) -> int:
        return self._srv.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def records(self) -> list[Record]:
        with self._srv.lock:
            return list(self._srv.state.records)

    def completion_records(self) -> list[Record]:
        """Records of the two completion endpoints (not the /v1/models probes)."""
        return [r for r in self.records if r.path != "/v1/models"]

    def attempts(self, marker: str) -> list[Record]:
        """Completion records whose prompt contains ``marker``, in arrival order."""
        return [r for r in self.completion_records() if r.prompt and marker in r.prompt]

    def batch_counts(self) -> dict:
        """``{"uploads": files uploaded, "batches": batches created}`` so far."""
        with self._srv.lock:
            return dict(self._srv.batch_stats)

    def set_batch_behaviour(self, outcome: str = "completed", seconds: float = 0.3) -> None:
        """How batches created from now on end (``completed``, ``expired``, ``failed``) and after how long."""
        assert outcome in ("completed", "expired", "failed")
        self._srv.batch_outcome, self._srv.batch_seconds = outcome, seconds

    def set_api_key(self, key: str | None, status: int = 401) -> None:
        """Require ``key`` from now on (``None``: no key needed), refusing others with ``status``."""
        self._srv.api_key, self._srv.auth_status = key, status

    @property
    def max_in_flight(self) -> int:
        return self._srv.state.max_in_flight

    def kill(self) -> None:
        """Simulate a crash: stop accepting, close the listening socket, drop every open connection."""
        if self._srv is None or self._srv.dead.is_set():
            return
        self._srv.dead.set()
        self._srv.shutdown()
        self._srv.socket.close()

    def stop(self) -> None:
        """Stop serving and release the port (idempotent; also called by the lifetime timer)."""
        if self._stopped or self._srv is None:
            return
        self._stopped = True
        if self._timer is not None and self._timer is not threading.current_thread():
            self._timer.cancel()
        self.kill()
        self._srv.server_close()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5)

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
