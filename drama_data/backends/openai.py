"""Backend for any OpenAI-compatible HTTP server (vLLM, llama.cpp, TGI, SGLang, LiteLLM, OpenAI itself).

In: a list of :class:`~drama_data.backends.base.Request`. Chat requests are POSTed to
``{base_url}/chat/completions``, completion-form requests to ``{base_url}/completions``, with the sampling
settings (temperature, top_p, max_tokens, stop, seed) and ``extra_body`` merged into the JSON body.
Out: ``(index, Completion)`` pairs, yielded as each request finishes, every request exactly once.

How it runs
    ``generate`` is a plain (sync) iterator. Inside, a private asyncio event loop runs in a worker thread
    with ``concurrency`` worker coroutines sharing one ``aiohttp.ClientSession``; each finished request is
    put on a thread-safe queue that ``generate`` drains, so results stream out in completion order. Because
    the loop has its own thread, ``generate`` also works when called from code that is itself inside a
    running event loop (a Jupyter cell, an async web handler). Ctrl-C in the caller (or closing the
    iterator, or :meth:`OpenAIBackend.close`) cancels every in-flight HTTP request at once and closes the
    client; the iterator re-raises the ``KeyboardInterrupt``.

Why aiohttp, and not ``openai.AsyncOpenAI`` or httpx
    We need the status, headers (``Retry-After``, ``retry-after-ms``, ``x-ratelimit-*``) and raw body of
    every response, our own retry policy, tolerance for servers whose JSON is not quite OpenAI's, and
    hundreds of requests in flight on one core. Measured with ``bench/openai_concurrency.py`` (a local
    server answering after 0.5 s, 8 requests per slot, 256 in flight, 2048 requests): aiohttp needs about
    0.2 ms of client CPU per request, the SDK's transport (``httpx2``) alone about 1.4 ms, the whole SDK
    about 4.5 ms (12 to 50 s instead of the ideal 4 s on a loaded 2-core machine, ours 5 s), and httpx 0.28
    with httpcore 1.0 scans its whole connection pool for every request (quadratic: 50 s at 256).
    The SDK also validates bodies into pydantic models (a malformed body loses its raw text), runs its own
    retry loop and hides statuses behind exception classes. The SDK is used where it fits: the
    low-rate control calls of the Batch API (:mod:`drama_data.backends.openai_batch`).

Rate limits
    ``rpm`` and ``tpm`` budgets and the server's ``x-ratelimit-*`` headers are honoured by one
    :class:`~drama_data.backends.ratelimit.RateLimiter` shared by all workers, on top of ``concurrency``
    (every attempt, retries included, takes one request and its estimated tokens; the real ``usage`` of
    each answer corrects the token charge).

Retries (per request, at most ``max_retries`` after the first attempt)
    * retried: HTTP 408/409/425/429 and every 5xx, timeouts (``timeout`` seconds for the whole request),
      refused or dropped connections, and 2xx bodies that are empty, not JSON or lack ``choices``;
    * the wait is ``Retry-After`` (seconds or HTTP-date) or ``retry-after-ms`` when the server sends one
      (plus up to 10% jitter); a 429/503 with such a header also pauses every other worker for that long,
      since rate limits are shared. Without a header: exponential backoff ``backoff * 2**(n-1)`` capped at
      ``max_backoff``, with "equal jitter" (between half and all of it). A server asking for more than
      ``MAX_RETRY_AFTER`` seconds fails the request at once;
    * not retried: any other 4xx. What follows depends on what the answer says
      (:func:`~drama_data.backends.refusals.classify_rejection`):

      - 401/403 (the key), 404 (the model or the endpoint), 402 and 429 ``insufficient_quota`` (the account)
        concern every request alike: the run stops at the first such answer with one line
        (:class:`~drama_data.errors.AuthError` naming ``api_key_env`` and whether it was unset, empty or
        refused, with the server's own message, redacted; :class:`~drama_data.errors.ModelNotFoundError`
        listing the models ``GET /models`` offers; :class:`~drama_data.errors.RequestsRejectedError`).
        Requests in flight are cancelled, none is sent after it, and what was answered before stays valid;
      - a prompt over the model's context (413, or a 400/422 saying so: OpenAI's ``context_length_exceeded``,
        vLLM's "maximum context length") or refused by a content filter is that request's failure: an error
        completion whose error starts ``HTTP 400 (prompt over the context limit)`` or ``(content filter)``;
      - any other 400/422/405/415 (a malformed request: a parameter the server does not accept, a wrong
        prompt form) fails that request, but when the first ``bad_request_limit`` answers of a backend
        (across its ``generate`` calls, before any success) are all such rejections, the run stops with
        :class:`~drama_data.errors.RequestsRejectedError` quoting the server, instead of failing every row
        one by one. Once any request has succeeded, rejections are taken as row-specific;
    * a request that still fails is answered with ``Completion(finish_reason="error", error=<reason>,
      text=<last raw body>)``; ``extra["attempts"]`` counts the attempts (also on success), and
      ``extra["http_status"]``/``extra["error_kind"]`` say what failed. The first ``LOGGED_FAILURES`` failed
      requests of a backend are logged as warnings, the rest at debug level (all are in the returned
      completions, which the runner records).

Circuit breaker (fail fast on a server that is not there)
    * Before the first request of every ``generate`` call, ``GET {base_url}/models`` is probed up to
      ``probe_attempts`` times. If every attempt fails to connect (refused, DNS error, connect timeout),
      :class:`~drama_data.errors.BackendError` is raised naming the base URL, instead of retrying every
      request one by one. Any HTTP answer counts as reachable; a 401/403 stops the run there
      (:class:`~drama_data.errors.AuthError`: no completion request is sent with a refused key); a
      served-model list that lacks ``model`` is logged as a warning and kept for a later 404's message.
    * During the run, connection failures (not timeouts or 5xx: those prove the server is there) are
      counted across all workers; any HTTP answer resets the count (timeouts and dropped keep-alive
      connections neither count nor reset). When at least ``breaker_failures`` of
      them come in a row over at least ``breaker_seconds``, the run stops with ``BackendError`` (results
      already yielded stay valid, so a rerun resumes from the cache). While such a streak lasts, requests
      that run out of retries on connection failures are held (retrying at ``max_backoff`` pace) rather
      than answered as errors, so an outage ends either in recovery or in the ``BackendError``, not in
      thousands of "cannot connect" rows. A server restart shorter than the window is ridden out.

API key
    Read from the environment variable named by ``api_key_env`` (default ``OPENAI_API_KEY``) when a run
    starts; there is deliberately no way to pass it as an argument. If the variable is unset or empty,
    the placeholder ``EMPTY`` is sent, which is what local servers without auth (vLLM, llama.cpp) expect;
    for a server that is not on this machine (not localhost/127.x/::1) a run first logs one warning saying
    so (:meth:`OpenAIBackend.key_warning`, which ``--dry-run`` shows too).
    The key is sent only in the ``Authorization: Bearer`` header; it is not stored on the backend object and
    is redacted from every error message, error body and log line this module produces. ``info()`` and
    ``repr()`` show the base URL without userinfo, query string or fragment.

Base URL
    As in the OpenAI SDK, ``base_url`` includes the API prefix (``http://127.0.0.1:8000/v1``). A URL with no
    path at all gets ``/v1`` appended; any other path is used as given (for gateways such as
    ``.../v1beta/openai``). ``None`` means ``$OPENAI_BASE_URL`` or ``https://api.openai.com/v1``. A query
    string (e.g. Azure's ``api-version``) is kept on every request. Userinfo in the URL is sent as HTTP Basic
    auth (and then replaces the Bearer header). Proxy environment variables (``HTTPS_PROXY``, ...) are
    honoured, except for loopback hosts.
"""
from __future__ import annotations

import asyncio
import base64
import email.utils
import json
import logging
import math
import os
import queue
import random
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import aiohttp
from yarl import URL

from drama_data.backends.base import Backend, Completion, Request
from drama_data.backends.openai_responses import (  # noqa: F401
    MAX_ERROR_BODY,
    Outcome,
    map_finish_reason,
    parse_completion_body,
)
from drama_data.backends.ratelimit import RateLimiter, estimate_tokens
from drama_data.backends.redaction import PLACEHOLDER_KEY, Redactor
from drama_data.backends.refusals import (
    FATAL_KINDS,
    ROW_KINDS,
    classify_rejection,
    model_ids,
    one_line,
    refusal_error,
    rejected_requests_error,
    server_message,
)
from drama_data.errors import BackendError, ConfigError

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"
#: Statuses below 500 that are worth retrying (timeouts, conflicts, too early, rate limits).
RETRY_STATUSES = frozenset({408, 409, 425, 429})
#: Statuses whose Retry-After pauses every worker (a shared rate limit or an overloaded server).
PAUSE_STATUSES = frozenset({429, 503})
#: A server asking to wait longer than this (seconds) fails the request at once instead.
MAX_RETRY_AFTER = 600.0

#: Failed requests of one backend logged as warnings; the rest go to the debug log (all are recorded).
LOGGED_FAILURES = 5

_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


# --------------------------------------------------------------------------------------------------- helpers
def parse_retry_after(headers: Any, now: float | None = None) -> float | None:
    """Seconds to wait according to ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP-date).

    ``headers``: any mapping with case-insensitive ``get`` (aiohttp headers). ``now``: the current Unix
    time (defaults to ``time.time()``). Returns ``None`` when neither header is present or parseable; never
    negative.
    """
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            value = float(ms) / 1000.0
            if math.isfinite(value):
                return max(0.0, value)
        except ValueError:
            pass
    ra = headers.get("retry-after")
    if ra is None:
        return None
    ra = ra.strip()
    try:
        value = float(ra)
        return max(0.0, value) if math.isfinite(value) else None
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(ra)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _is_loopback(host: str | None) -> bool:
    return bool(host) and (host in _LOOPBACK_HOSTS or host.startswith("127."))


def _env_proxy(scheme: str, host: str | None) -> str | None:
    """The proxy the environment (``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY``, ``NO_PROXY``) sets for ``host``."""
    import urllib.request

    proxies = urllib.request.getproxies()
    proxy = proxies.get(scheme) or proxies.get("all")
    if not proxy or not host or urllib.request.proxy_bypass(host):
        return None
    return proxy


def request_body(req: Request, model: str, extra_body: dict | None = None) -> dict:
    """The JSON body of ``req`` for ``/chat/completions`` (messages) or ``/completions`` (prompt)."""
    s = req.sampling
    body: dict[str, Any] = {"model": model}
    if req.messages is not None:
        body["messages"] = [dict(m) for m in req.messages]
    else:
        body["prompt"] = req.prompt
    body.update(temperature=s.temperature, top_p=s.top_p, max_tokens=s.max_tokens)
    if s.stop:
        body["stop"] = list(s.stop)
    if s.seed is not None:
        body["seed"] = s.seed
    body.update(extra_body or {})
    return body


class _Breaker:
    """Counts connection failures in a row (across workers); trips after ``failures`` over ``seconds``."""

    def __init__(self, failures: int, seconds: float):
        self.failures, self.seconds = failures, seconds
        self.streak, self.since = 0, 0.0

    def failure(self) -> bool:
        now = time.monotonic()
        if self.streak == 0:
            self.since = now
        self.streak += 1
        return self.streak >= self.failures and now - self.since >= self.seconds

    def success(self) -> None:
        self.streak = 0

    def suspect(self) -> bool:
        """True while enough failures in a row point at an outage (the window has not run out yet)."""
        return self.streak >= self.failures


class _RunControl:
    """Lets the caller's thread cancel the run going on in the worker thread."""

    def __init__(self):
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self.cancelled = False

    def attach(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task) -> bool:
        """Register the running loop/task; returns False if the run was cancelled before it started."""
        with self._lock:
            self._loop, self._task = loop, task
            return not self.cancelled

    def cancel(self) -> None:
        with self._lock:
            self.cancelled = True
            if self._loop is not None and self._task is not None and not self._loop.is_closed():
                try:
                    self._loop.call_soon_threadsafe(self._task.cancel)
                except RuntimeError:  # loop closed in between
                    pass


_DONE = object()
#: Failures to open a connection at all (refused, DNS, connect timeout): evidence the server is not there.
_CONNECT_ERRORS = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)


# --------------------------------------------------------------------------------------------------- backend
class OpenAIBackend(Backend):
    """Generate through an OpenAI-compatible HTTP API (see the module docstring for the full contract).

    ``model``: the served model name (sent as ``model``; also the cache/provenance identity).
    ``base_url``: the API root including ``/v1``; ``api_key_env``: the *name* of the environment variable
    holding the key. ``concurrency``: requests in flight at most. ``timeout``: seconds per attempt (whole
    request). ``max_retries``, ``backoff``, ``max_backoff``: the retry policy. ``extra_body``: merged into
    every JSON body (e.g. ``{"top_k": 20}``); ``prompt_format``: ``None``, ``"chat"`` or ``"completion"``
    (only decides :meth:`supports_chat`; each request is sent in its own form). ``rpm``/``tpm``: request
    and token budgets per minute shared by all workers (``None``: only the server's ``x-ratelimit-*``
    headers limit the rate).
    """

    name = "openai"

    #: Circuit breaker and probe settings (class attributes; tests and callers may override per instance).
    probe_attempts = 3
    probe_delay = 0.25
    breaker_failures = 20
    breaker_seconds = 30.0
    #: Seconds to wait for the worker thread after a cancel before giving up on it.
    shutdown_grace = 5.0
    #: Malformed-request answers (400/422 ...) in a row, before any success, that stop the run.
    bad_request_limit = 10

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 16,
        timeout: float = 120.0,
        max_retries: int = 6,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        extra_body: dict | None = None,
        prompt_format: str | None = None,
        rpm: float | None = None,
        tpm: float | None = None,
    ):
        if not model:
            raise ConfigError("--model: the openai backend needs the served model name")
        if concurrency < 1:
            raise ConfigError(f"concurrency must be at least 1, got {concurrency}")
        if not timeout > 0:
            raise ConfigError(f"timeout must be positive, got {timeout}")
        if max_retries < 0 or backoff < 0 or max_backoff < 0:
            raise ConfigError("max_retries, backoff and max_backoff must not be negative")
        if prompt_format not in (None, "chat", "completion"):
            raise ConfigError(f"--prompt-format must be 'chat' or 'completion', got {prompt_format!r}")
        if not api_key_env or "=" in api_key_env:
            raise ConfigError(f"api_key_env must be the name of an environment variable, got {api_key_env!r}")
        if extra_body is not None and not isinstance(extra_body, dict):
            raise ConfigError("extra_body must be a dict of JSON fields")
        for name, value in (("rpm", rpm), ("tpm", tpm)):
            if value is not None and not value > 0:
                raise ConfigError(f"--{name} must be positive, got {value}")

        self.model = str(model)
        self.api_key_env = api_key_env
        self.concurrency = int(concurrency)
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.extra_body = dict(extra_body or {})
        self.prompt_format = prompt_format
        self.rpm = float(rpm) if rpm is not None else None
        self.tpm = float(tpm) if tpm is not None else None
        self._set_base_url(base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL)
        self._runs: set[_RunControl] = set()
        self._runs_lock = threading.Lock()
        self._rng = random.Random()
        self._warned_no_key = False
        self._proven = False  # a request of this backend has succeeded (rejections are then row-specific)
        self._rejections: list[str] = []  # malformed-request answers in a row before any success
        self._failures_logged = 0
        self._served: list[str] | None = None  # what GET /models listed (for a 404's message)
        self._warned_model = False

    # -- description ----------------------------------------------------------------------------------
    def _set_base_url(self, url: str) -> None:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"--base-url must be an http(s) URL such as http://127.0.0.1:8000/v1, got "
                              f"{self._public(parts)!r}")
        path = parts.path.rstrip("/")
        if not path:
            path = "/v1"
        self._scheme, self._netloc, self._path, self._query = parts.scheme, parts.netloc, path, parts.query
        host = parts.hostname
        public_netloc = f"[{host}]" if ":" in host else host
        if parts.port is not None:
            public_netloc += f":{parts.port}"
        #: The base URL without userinfo, query string or fragment: safe to log and publish.
        self.base_url = urlunsplit((parts.scheme, public_netloc, path, "", ""))
        self._userinfo = parts.username is not None or parts.password is not None
        self._url_secrets = [s for s in (parts.password, parts.query) if s]
        self._url_secrets += [v for kv in parts.query.split("&") for v in kv.split("=", 1)[1:] if v]
        self._loopback = _is_loopback(host)

    @staticmethod
    def _public(parts) -> str:
        try:
            host = parts.hostname or ""
        except ValueError:
            host = ""
        return urlunsplit((parts.scheme, host, parts.path, "", "")) or "(empty)"

    def _endpoint(self, suffix: str) -> str:
        return urlunsplit((self._scheme, self._netloc, self._path + suffix, self._query, ""))

    def supports_chat(self) -> bool:
        """True unless ``prompt_format == "completion"`` (a remote server's chat template is not visible)."""
        return self.prompt_format != "completion"

    def info(self) -> dict:
        """Provenance: backend, model, base URL (secrets stripped), concurrency and the user's rate budgets
        (when set). Never the key."""
        info = {"backend": self.name, "model": self.model, "base_url": self.base_url,
                "concurrency": self.concurrency}
        if self.rpm or self.tpm:
            info.update(rpm=self.rpm, tpm=self.tpm)
        return info

    def __repr__(self) -> str:
        return f"OpenAIBackend(model={self.model!r}, base_url={self.base_url!r}, concurrency={self.concurrency})"

    # -- sync entry point -------------------------------------------------------------------------------
    def generate(self, requests: Sequence[Request]) -> Iterator[tuple[int, Completion]]:
        """Yield ``(index, completion)`` for every request as it finishes (see the module docstring).

        Raises :class:`BackendError` if the server cannot be reached at all (first probe) or stops
        accepting connections mid-run (circuit breaker); everything yielded before stays valid.
        """
        requests = list(requests)
        if not requests:
            return
        out: queue.Queue = queue.Queue()
        ctl = _RunControl()
        with self._runs_lock:
            self._runs.add(ctl)
        thread = threading.Thread(target=self._thread_main, args=(requests, out, ctl), daemon=True,
                                  name=f"drama-openai-{id(ctl):x}")
        thread.start()
        answered = 0
        try:
            while True:
                try:
                    item = out.get(timeout=0.25)
                except queue.Empty:
                    if not thread.is_alive() and out.empty():
                        raise BackendError(f"the openai backend's worker for {self.base_url} stopped "
                                           f"unexpectedly after {answered} of {len(requests)} requests") from None
                    continue
                if item is _DONE:
                    break
                if isinstance(item, BaseException):
                    raise item
                answered += 1
                yield item
        finally:
            ctl.cancel()
            thread.join(self.shutdown_grace)
            if thread.is_alive():
                log.warning("the openai backend's worker thread did not stop within %.0f s", self.shutdown_grace)
            with self._runs_lock:
                self._runs.discard(ctl)

    def close(self) -> None:
        """Cancel every run still going on: in-flight requests are dropped and the HTTP client closed; an
        iterator still being read yields what was answered, then raises :class:`BackendError`."""
        with self._runs_lock:
            runs = list(self._runs)
        for ctl in runs:
            ctl.cancel()

    # -- worker thread ------------------------------------------------------------------------------------
    def _thread_main(self, requests: list[Request], out: queue.Queue, ctl: _RunControl) -> None:
        try:
            asyncio.run(self._run(requests, out, ctl))
        except asyncio.CancelledError:  # close() from elsewhere (or the caller's own cancel, then unread)
            out.put(BackendError(f"the run against {self.base_url} was cancelled (backend closed) before "
                                 f"every request was answered"))
        except BaseException as exc:  # handed to the caller's thread, which re-raises it
            out.put(exc)
        else:
            out.put(_DONE)

    def key_state(self) -> str:
        """``"set"``, ``"empty"`` or ``"unset"``: what ``$api_key_env`` holds now (never the key itself)."""
        value = os.environ.get(self.api_key_env)
        if value is None:
            return "unset"
        return "set" if value.strip() else "empty"

    def key_warning(self) -> str | None:
        """One line when requests would go without a key to a server that is not on this machine (``$api_key_env``
        unset or empty, no user/password in the URL), else ``None``. ``--dry-run`` and the run's start show it."""
        state = self.key_state()
        if state == "set" or self._userinfo or self._loopback:
            return None
        return (f"${self.api_key_env} is {'not set' if state == 'unset' else 'empty'}: requests to {self.base_url} "
                f"would carry no API key (a hosted API refuses them with HTTP 401); export {self.api_key_env}=<key>, "
                f"or name the variable that holds it with --api-key-env")

    def _api_key(self) -> str:
        key = os.environ.get(self.api_key_env, "").strip()
        if not key:
            if not self._warned_no_key:
                self._warned_no_key = True
                warning = self.key_warning()
                if warning:
                    log.warning("%s", warning)
                else:
                    log.info("$%s is not set: sending the placeholder key %r (fine for local servers without auth)",
                             self.api_key_env, PLACEHOLDER_KEY)
            key = PLACEHOLDER_KEY
        return key

    async def _run(self, requests: list[Request], out: queue.Queue, ctl: _RunControl) -> None:
        if not ctl.attach(asyncio.get_running_loop(), asyncio.current_task()):
            raise asyncio.CancelledError  # closed before the run started
        key = self._api_key()
        run = _Run(self, requests, out, Redactor([key, *self._url_secrets]))
        headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": "drama-toolkit"}
        if self._userinfo:  # userinfo in the URL is sent as Basic auth instead of the key
            parts = urlsplit(self._endpoint(""))
            user = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
            headers["Authorization"] = "Basic " + base64.b64encode(user.encode("utf-8")).decode("ascii")
        else:
            headers["Authorization"] = f"Bearer {key}"
        # one connection per worker (+ the probe's); DNS answers cached for the run
        connector = aiohttp.TCPConnector(limit=self.concurrency + 1, limit_per_host=0, ttl_dns_cache=300)
        # trust_env stays off: it would look up ~/.netrc in a thread for every request (and clash with our
        # Authorization header); proxies from the environment are applied per request instead
        async with aiohttp.ClientSession(
            headers=headers, connector=connector, trust_env=False,
            timeout=aiohttp.ClientTimeout(total=None, connect=min(self.timeout, 10.0)),
        ) as session:
            del key, headers
            run.session = session
            await run.probe()
            await run.execute()


class _Run:
    """One ``generate`` call inside the worker thread's event loop: probe, workers, retries."""

    def __init__(self, backend: OpenAIBackend, requests: list[Request], out: queue.Queue, redact: Redactor):
        self.b = backend
        self.requests = requests
        self.out = out
        self.redact = redact
        self.session: aiohttp.ClientSession | None = None
        self.limiter = RateLimiter(backend.rpm, backend.tpm)
        self.breaker = _Breaker(backend.breaker_failures, backend.breaker_seconds)
        self.pause_until = 0.0
        self.answered = 0
        self.errors = 0
        self.retries = 0
        self.proxy = None if backend._loopback else _env_proxy(backend._scheme, urlsplit(backend.base_url).hostname)
        self.chat_url = self._url("/chat/completions")
        self.completion_url = self._url("/completions")

    def _url(self, suffix: str) -> URL:
        """An endpoint as a yarl URL, query kept as given, userinfo left out (sent as Basic auth)."""
        return URL(self.b._endpoint(suffix), encoded=True).with_user(None)

    # -- probe ---------------------------------------------------------------------------------------
    async def probe(self) -> None:
        """``GET /models`` until any HTTP answer; raise BackendError if every attempt fails to connect."""
        b = self.b
        last = ""
        for attempt in range(max(1, b.probe_attempts)):
            if attempt:
                await asyncio.sleep(b.probe_delay * 2 ** (attempt - 1))
            try:
                async with asyncio.timeout(min(b.timeout, 10.0)):
                    async with self.session.get(self._url("/models"), allow_redirects=False,
                                                proxy=self.proxy) as resp:
                        status, raw = resp.status, await resp.read()
            except _CONNECT_ERRORS as exc:
                last = f"{type(exc).__name__}: {exc}"
                continue
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.debug("probe of %s/models: %s (the server is there; going on)", b.base_url, type(exc).__name__)
                return
            self._check_models(status, raw)
            return
        raise BackendError(self.redact(
            f"cannot reach the OpenAI-compatible server at {b.base_url} ({last or 'no answer'}; "
            f"{max(1, b.probe_attempts)} attempts). Is it running? Check --base-url."))

    def _check_models(self, status: int, raw: bytes) -> None:
        """Stop at a 401/403 (the key is refused for every request alike); keep the served models' ids."""
        if status in (401, 403):
            raise refusal_error(self.b, "auth", status, raw.decode("utf-8", "replace"), self.redact,
                                where="GET /models")
        ids = model_ids(status, raw)
        if ids is None:
            return
        self.b._served = ids
        if ids and self.b.model not in ids and not self.b._warned_model:
            self.b._warned_model = True
            shown = ", ".join(map(str, ids[:10])) + (", ..." if len(ids) > 10 else "")
            log.warning("model %r is not among the models %s serves (%s)", self.b.model, self.b.base_url,
                        self.redact(shown))

    async def served_models(self) -> list[str] | None:
        """The model ids ``GET /models`` lists (from the probe, else asked now); ``None`` when it does not say."""
        if self.b._served is not None:
            return self.b._served
        try:
            async with asyncio.timeout(min(self.b.timeout, 10.0)):
                async with self.session.get(self._url("/models"), allow_redirects=False, proxy=self.proxy) as resp:
                    status, raw = resp.status, await resp.read()
        except (aiohttp.ClientError, TimeoutError):
            return None
        return model_ids(status, raw)

    async def _stop_or_fail(self, req: Request, outcome: Outcome) -> None:
        """Raise the error that ends the run when ``outcome`` (a non-retried 4xx) concerns every request alike
        (module doc: the key, the model, the account, or the same malformed request from the start)."""
        b = self.b
        if outcome.kind in FATAL_KINDS:
            served = await self.served_models() if outcome.kind == "model" else None
            raise refusal_error(b, outcome.kind, outcome.status, outcome.raw, self.redact, served)
        if outcome.kind != "request" or b._proven:
            return
        b._rejections.append(one_line(self.redact.strict(server_message(outcome.raw)), 200))
        if len(b._rejections) >= b.bad_request_limit:
            raise rejected_requests_error(b.base_url, b._rejections, outcome.status)

    def _log_failure(self, req: Request, attempt: int, error: str) -> None:
        b = self.b
        b._failures_logged += 1
        if b._failures_logged <= LOGGED_FAILURES:
            log.warning("request %s failed after %d attempt(s): %s", req.id, attempt, error)
            if b._failures_logged == LOGGED_FAILURES:
                log.warning("further failed requests are logged at debug level (-vv); every one is recorded with "
                            "its reason in the output's failures config")
        else:
            log.debug("request %s failed after %d attempt(s): %s", req.id, attempt, error)

    # -- workers ---------------------------------------------------------------------------------------
    async def execute(self) -> None:
        todo = iter(range(len(self.requests)))
        n = min(self.b.concurrency, len(self.requests))
        workers = [asyncio.create_task(self._worker(todo)) for _ in range(n)]
        try:
            await asyncio.gather(*workers)
        finally:
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        log.info("openai backend: %d requests to %s, %d errors, %d retries", len(self.requests), self.b.base_url,
                 self.errors, self.retries)
        if self.limiter.server_limits:
            log.info("openai backend: the server's rate limits %s; budgets used %s", self.limiter.server_limits,
                     self.limiter.describe())

    async def _worker(self, todo: Iterator[int]) -> None:
        for i in todo:
            completion = await self._request(self.requests[i])
            self.answered += 1
            self.out.put((i, completion))

    def _body(self, req: Request) -> dict:
        return request_body(req, self.b.model, self.b.extra_body)

    async def _request(self, req: Request) -> Completion:
        b = self.b
        url = self.chat_url if req.messages is not None else self.completion_url
        body = self._body(req)
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        chars = (len(req.prompt) if req.prompt is not None
                 else sum(len(str(m.get("content") or "")) for m in req.messages))
        estimate = estimate_tokens(chars, req.sampling.max_tokens)
        limiter = self.limiter
        attempt = 0
        while True:
            wait = self.pause_until - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            await limiter.acquire(estimate)
            attempt += 1
            outcome = await self._attempt(url, payload, chat=req.messages is not None)
            if limiter.tokens.per_minute:
                c = outcome.completion
                used = c.prompt_tokens + c.completion_tokens if c is not None else 0
                # a request that was answered without usage keeps its estimate; one that failed is refunded
                limiter.settle(estimate, used if used or c is None else estimate)
            if outcome.connect_failure:
                if self.breaker.failure():
                    raise BackendError(
                        f"the server at {b.base_url} stopped accepting connections ({self.breaker.streak} "
                        f"connection failures in a row over {b.breaker_seconds:.0f}+ s); {self.answered} of "
                        f"{len(self.requests)} requests were answered - rerun to resume")
            elif outcome.completion is not None or outcome.status is not None:
                self.breaker.success()  # an HTTP answer; timeouts and dropped connections prove nothing
            if outcome.completion is not None:
                outcome.completion.extra["attempts"] = attempt
                if outcome.completion.ok:
                    b._proven, b._rejections = True, []
                return outcome.completion
            delay = None
            give_up = not outcome.retryable or attempt > b.max_retries
            if give_up and outcome.connect_failure and self.breaker.suspect():
                give_up = False  # an outage, not this request: hold it until the breaker trips or the server is back
            if not give_up and outcome.retry_after is not None:
                if outcome.retry_after > MAX_RETRY_AFTER:
                    outcome.error += f" (server asks to retry after {outcome.retry_after:.0f} s; giving up)"
                    give_up = True
                else:
                    delay = outcome.retry_after * (1.0 + 0.1 * b._rng.random())
                    if outcome.status in PAUSE_STATUSES:
                        self.pause_until = max(self.pause_until, time.monotonic() + delay)
            if give_up:
                if outcome.kind:
                    await self._stop_or_fail(req, outcome)
                self.errors += 1
                error = self.redact.strict(outcome.error) if outcome.kind else self.redact(outcome.error)
                self._log_failure(req, attempt, error)
                extra: dict[str, Any] = {"attempts": attempt}
                if outcome.status is not None:
                    extra["http_status"] = outcome.status
                if outcome.kind:
                    extra["error_kind"] = outcome.kind
                return Completion(text=self.redact(outcome.raw[:MAX_ERROR_BODY]), finish_reason="error",
                                  error=error, extra=extra)
            if delay is None:
                cap = min(b.max_backoff, b.backoff * 2 ** (attempt - 1))
                delay = cap / 2 + b._rng.uniform(0, cap / 2)
            self.retries += 1
            log.debug("request %s attempt %d: %s; retrying in %.2f s", req.id, attempt, self.redact(outcome.error),
                      delay)
            await asyncio.sleep(delay)

    async def _attempt(self, url: URL, payload: bytes, chat: bool) -> Outcome:
        b = self.b
        try:
            async with asyncio.timeout(b.timeout):
                async with self.session.post(url, data=payload, allow_redirects=False, proxy=self.proxy) as resp:
                    data = await resp.read()
                    status, headers = resp.status, resp.headers
        except _CONNECT_ERRORS as exc:
            return Outcome(error=f"cannot connect to {b.base_url}: {type(exc).__name__}: {exc}",
                            connect_failure=True)
        except TimeoutError:
            return Outcome(error=f"no complete response within {b.timeout:g} s")
        except aiohttp.ClientConnectionError as exc:  # reset, server disconnected, body cut short
            return Outcome(error=f"connection dropped: {type(exc).__name__}: {exc}")
        except aiohttp.ClientError as exc:  # payload/decoding errors, malformed HTTP
            return Outcome(error=f"bad response: {type(exc).__name__}: {exc}")
        if "x-ratelimit-limit-requests" in headers or "x-ratelimit-limit-tokens" in headers \
                or "x-ratelimit-remaining-requests" in headers or "x-ratelimit-remaining-tokens" in headers:
            self.limiter.observe(headers)
        raw = data.decode("utf-8", "replace")
        if 200 <= status < 300:
            return self._parse(raw, status, chat)
        message = f"HTTP {status}: {server_message(raw)}"
        if 300 <= status < 400:
            message += f" (redirect to {headers.get('location', '?')}: fix --base-url)"
        if (status in RETRY_STATUSES or status >= 500) and not (status == 429 and classify_rejection(status, raw)
                                                                 == "quota"):
            return Outcome(error=message, raw=raw, status=status, retry_after=parse_retry_after(headers))
        kind = classify_rejection(status, raw) if 400 <= status < 500 else ""
        if kind in ROW_KINDS:
            message = f"HTTP {status} ({ROW_KINDS[kind]}): {server_message(raw)}"
        return Outcome(error=message, raw=raw, status=status, retryable=False, kind=kind)

    _parse = staticmethod(parse_completion_body)  # the 2xx body -> a completion


_Redactor = Redactor  # the old private name
