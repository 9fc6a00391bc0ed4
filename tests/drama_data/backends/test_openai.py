"""The OpenAI-compatible backend against a real HTTP server on 127.0.0.1 (tests/fake_openai_server.py).

Each test starts its own server; timeouts and backoffs are short so the file runs in well under a minute.
"""
from __future__ import annotations

import _thread
import asyncio
import inspect
import json
import logging
import os
import signal
import socket
import threading
import time

import pytest
from fake_openai_server import FakeOpenAIServer, expected_text, fault

from drama_data.backends.base import Request, Sampling
from drama_data.backends.openai import OpenAIBackend, map_finish_reason, parse_retry_after
from drama_data.errors import BackendError, ConfigError

SECRET = "sk-drama-SECRET-0123456789abcdef"
SAMPLING = Sampling(temperature=0.0, top_p=1.0, max_tokens=16)


def chat(i: int, text: str, sampling: Sampling = SAMPLING) -> Request:
    return Request(id=f"r{i}", sampling=sampling, messages=({"role": "user", "content": text},))


def completion(i: int, text: str, sampling: Sampling = SAMPLING) -> Request:
    return Request(id=f"r{i}", sampling=sampling, prompt=text)


def backend(srv: FakeOpenAIServer, **kw) -> OpenAIBackend:
    opts = dict(concurrency=8, timeout=2.0, max_retries=3, backoff=0.02, max_backoff=0.1)
    opts.update(kw)
    return OpenAIBackend("fake-model", base_url=srv.base_url, **opts)


def run_all(b: OpenAIBackend, requests: list[Request]) -> dict:
    """Run and return {index: completion}, asserting every index comes exactly once."""
    seen = list(b.generate(requests))
    indices = [i for i, _ in seen]
    assert sorted(indices) == list(range(len(requests))), "every request must be answered exactly once"
    return dict(seen)


@pytest.fixture
def srv():
    with FakeOpenAIServer(max_lifetime=90) as s:
        yield s


@pytest.fixture(autouse=True)
def no_leftover_threads():
    yield
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        left = [t for t in threading.enumerate() if t.name.startswith("drama-openai-")]
        if not left:
            return
        time.sleep(0.05)
    pytest.fail(f"worker threads left running: {left}")


@pytest.fixture(autouse=True)
def no_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


# ------------------------------------------------------------------------------------------- full runs
def test_mixed_run_with_faults_answers_every_request_once(srv):
    """~100 chat and completion requests with every kind of fault: all answered once, ok or recorded."""
    kinds = {
        1: fault(429, after=0.2), 2: fault(429, after_ms=150), 3: fault(500), 4: fault(503), 5: fault("malformed"),
        6: fault("empty"), 7: fault("drop"), 8: fault("slow", seconds=5), 9: fault(400),
        10: fault(500, times="all"), 11: fault("length"), 12: fault("nousage"),
    }
    requests, prompts = [], []
    for i in range(104):
        text = f"passage {i} about topic {i % 7} {kinds.get(i % 13, '')}"
        prompts.append(text)
        make = chat if i % 2 else completion
        requests.append(make(i, text, Sampling(temperature=0.8, top_p=0.9, max_tokens=32, stop=("\n",), seed=i)))
    b = backend(srv, timeout=2.0, extra_body={"top_k": 20})  # normal answers take ms; "slow" ones 5 s
    t0 = time.monotonic()
    out = run_all(b, requests)
    elapsed = time.monotonic() - t0

    for i, c in out.items():
        kind = i % 13
        attempts = srv.attempts(prompts[i])
        assert c.extra["attempts"] == len(attempts), (i, c)
        if kind == 9:
            assert not c.ok and c.finish_reason == "error" and "HTTP 400" in c.error and "injected" in c.error
            assert len(attempts) == 1 and c.extra["http_status"] == 400 and "injected HTTP 400" in c.text
        elif kind == 10:
            assert not c.ok and "HTTP 500" in c.error and len(attempts) == 1 + b.max_retries
        else:
            assert c.ok, (i, c)
            assert c.text == expected_text(prompts[i])
            assert c.finish_reason == ("length" if kind == 11 else "stop")
            assert c.prompt_tokens == (0 if kind == 12 else len(prompts[i].split()))
            assert c.completion_tokens == (0 if kind == 12 else 2)
            assert len(attempts) == (2 if kind in range(1, 9) else 1), (i, [a.status for a in attempts])
        body = attempts[0].body
        assert attempts[0].path == ("/v1/chat/completions" if i % 2 else "/v1/completions")
        assert body["model"] == "fake-model" and body["temperature"] == 0.8 and body["top_p"] == 0.9
        assert body["max_tokens"] == 32 and body["stop"] == ["\n"] and body["seed"] == i and body["top_k"] == 20
    assert elapsed < 20, elapsed


def test_retry_after_is_honoured(srv):
    """Retry-After in seconds and as an HTTP-date, and retry-after-ms, set the wait (backoff is tiny)."""
    cases = {
        "seconds": (fault(429, after=1), 1.0),
        "ms": (fault(429, after_ms=400), 0.4),
        "date": (fault(503, after_date=2), 1.0),  # HTTP-dates have 1 s resolution: 2 s ahead waits 1-2 s
    }
    requests = [chat(i, f"{name} {marker}") for i, (name, (marker, _)) in enumerate(cases.items())]
    out = run_all(backend(srv, concurrency=1, backoff=0.001, max_backoff=0.001), requests)
    assert all(c.ok and c.extra["attempts"] == 2 for c in out.values())
    for name, (marker, wait) in cases.items():
        first, second = srv.attempts(f"{name} {marker}")
        gap = second.t_start - first.t_end
        assert wait - 0.05 <= gap <= wait + 1.5, (name, gap)


def test_client_errors_are_not_retried(srv):
    """A 400 (with the server's message) ends at once as an error completion; a 404 ends the run (the model or
    the endpoint is missing for every request alike: tests/drama_data/backends/test_openai_refusals.py)."""
    out = run_all(backend(srv), [chat(0, f"bad {fault(400)}"), chat(1, "fine")])
    assert out[0].error.startswith("HTTP 400: injected HTTP 400") and out[0].extra["attempts"] == 1
    assert out[0].extra["error_kind"] == "request" and out[1].ok
    with pytest.raises(BackendError, match="HTTP 404"):
        list(backend(srv).generate([chat(1, f"gone {fault(404, times='all')}")]))
    assert len(srv.completion_records()) == 3


def test_timeout_is_per_request_and_retried(srv):
    t0 = time.monotonic()
    out = run_all(backend(srv, timeout=0.3, max_retries=1),
                  [chat(0, f"stuck {fault('slow', seconds=5, times='all')}"), chat(1, "fine")])
    assert time.monotonic() - t0 < 2.5
    assert out[0].finish_reason == "error" and "no complete response within 0.3 s" in out[0].error
    assert out[0].extra["attempts"] == 2 and out[1].ok


def test_concurrency_bound(srv):
    requests = [completion(i, f"doc {i} [[sleep=0.15]]") for i in range(24)]
    out = run_all(backend(srv, concurrency=4), requests)
    assert all(c.ok for c in out.values())
    assert srv.max_in_flight == 4


def test_results_stream_in_completion_order(srv):
    """A fast request after a slow one is yielded first, while the slow one is still running."""
    b = backend(srv, concurrency=2)
    t0 = time.monotonic()
    it = b.generate([chat(0, "slow [[sleep=1.0]]"), chat(1, "fast")])
    first, c = next(it)
    first_at = time.monotonic() - t0
    rest = list(it)
    assert first == 1 and c.ok and first_at < 0.8
    assert [i for i, _ in rest] == [0]


# ------------------------------------------------------------------------------------------- the key
def test_key_comes_from_env_only_and_never_leaks(srv, monkeypatch, caplog):
    assert "api_key" not in inspect.signature(OpenAIBackend).parameters
    monkeypatch.setenv("DRAMA_TEST_KEY", SECRET)
    caplog.set_level(logging.DEBUG)
    b = backend(srv, api_key_env="DRAMA_TEST_KEY", max_retries=1)
    requests = [chat(0, "plain"), chat(1, f"echo {fault(400, echo_auth=1)}"),
                completion(2, f"echo5 {fault(500, echo_auth=1, times='all')}")]
    out = run_all(b, requests)
    assert {r.headers["authorization"] for r in srv.records} == {f"Bearer {SECRET}"}
    assert out[0].ok and not out[1].ok and not out[2].ok
    assert "you sent Authorization: Bearer ***" in out[1].error  # the server echoed it; we redacted it
    written = json.dumps([c.as_dict() for c in out.values()]) + repr(b) + json.dumps(b.info()) + str(vars(b))
    assert SECRET not in written
    assert SECRET not in caplog.text and "failed after" in caplog.text  # logs were written, without the key


def test_missing_key_sends_placeholder(srv):
    out = run_all(backend(srv), [chat(0, "hi")])
    assert out[0].ok
    assert srv.completion_records()[0].headers["authorization"] == "Bearer EMPTY"


def test_info_and_repr_strip_url_secrets():
    b = OpenAIBackend("m", base_url="https://user:hunter22@gw.example.com:8443/v1/?key=topsecret&api-version=1",
                      concurrency=3)
    assert b.info() == {"backend": "openai", "model": "m", "base_url": "https://gw.example.com:8443/v1",
                        "concurrency": 3}
    assert "hunter22" not in repr(b) and "topsecret" not in repr(b)
    assert b._endpoint("/completions") == (
        "https://user:hunter22@gw.example.com:8443/v1/completions?key=topsecret&api-version=1")
    assert OpenAIBackend("m", base_url="http://127.0.0.1:8000").base_url == "http://127.0.0.1:8000/v1"
    assert OpenAIBackend("m", base_url="http://h/v1beta/openai/").base_url == "http://h/v1beta/openai"
    with pytest.raises(ConfigError, match="http"):
        OpenAIBackend("m", base_url="localhost:8000")
    with pytest.raises(ConfigError, match="prompt-format"):
        OpenAIBackend("m", prompt_format="base")
    assert OpenAIBackend("m", prompt_format="completion").supports_chat() is False
    assert OpenAIBackend("m").supports_chat() is True


# ------------------------------------------------------------------------------------------- failing fast
def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_server_fails_fast():
    """Default retry settings, 1000 requests, nothing listening: one probe, then BackendError in seconds."""
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    b = OpenAIBackend("m", base_url=url)
    t0 = time.monotonic()
    with pytest.raises(BackendError, match="cannot reach") as err:
        list(b.generate([chat(i, f"q{i}") for i in range(1000)]))
    assert time.monotonic() - t0 < 5
    assert url in str(err.value)


@pytest.mark.parametrize("max_retries,concurrency", [(6, 4), (0, 1)])
def test_breaker_stops_a_run_when_the_server_dies(srv, max_retries, concurrency):
    """Killed mid-run: the answered requests stream out, then BackendError, not endless retries or error rows."""
    b = backend(srv, concurrency=concurrency, max_retries=max_retries, backoff=0.05, max_backoff=0.1)
    b.breaker_failures, b.breaker_seconds = 5, 0.3
    got, errors = [], []
    t0 = time.monotonic()
    with pytest.raises(BackendError, match="stopped accepting connections"):
        for i, c in b.generate([completion(i, f"doc {i} [[sleep=0.02]]") for i in range(400)]):
            (got if c.ok else errors).append(i)
            if len(got) == 10 and not errors:
                srv.kill()
                t0 = time.monotonic()
    assert len(got) >= 10 and len(got) + len(errors) < 400 and len(set(got + errors)) == len(got + errors)
    assert time.monotonic() - t0 < 5
    if max_retries:
        assert not errors  # every request still waiting was held until the breaker tripped
    else:
        # without retries, only the dropped keep-alive connections (one per pooled connection, the probe's
        # included) and the failures before the streak looked like an outage become error rows
        assert len(errors) <= (concurrency + 1) + (b.breaker_failures - 1), errors


# ------------------------------------------------------------------------------------------- threading
def test_works_inside_a_running_event_loop(srv):
    async def notebook_cell():
        assert asyncio.get_running_loop().is_running()
        return list(backend(srv).generate([chat(0, "a"), completion(1, "b")]))

    out = dict(asyncio.run(notebook_cell()))
    assert out[0].text == expected_text("a") and out[1].text == expected_text("b")


def test_ctrl_c_cancels_in_flight_requests_promptly(srv):
    # a process started in the background by a non-interactive shell inherits SIGINT ignored, and then
    # interrupt_main() does nothing: give SIGINT Python's own handler, as in a terminal
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    b = backend(srv, concurrency=8, timeout=30)
    caught = threading.Event()

    def press_ctrl_c():  # at 0.5 s, and again each second until the run stops, as a user would
        if caught.wait(0.5):
            return
        _thread.interrupt_main()
        while not caught.wait(1.0):
            _thread.interrupt_main()

    presser = threading.Thread(target=press_ctrl_c, daemon=True)
    t0 = time.monotonic()
    presser.start()
    got = []
    try:
        with pytest.raises(KeyboardInterrupt):
            for item in b.generate([chat(i, f"long {i} [[sleep=10]]") for i in range(8)]):
                got.append((round(time.monotonic() - t0, 2), item[0], item[1].finish_reason, item[1].error))
            pytest.fail(f"the run ended before any Ctrl-C was seen: {got}")
    finally:
        caught.set()
        presser.join()
        signal.signal(signal.SIGINT, previous)
    assert time.monotonic() - t0 < 2.0  # the worker thread is gone too (autouse fixture)


def test_closing_the_iterator_early_cancels_the_rest(srv):
    b = backend(srv, concurrency=4, timeout=30)
    it = b.generate([chat(0, "quick")] + [chat(i, f"long {i} [[sleep=10]]") for i in range(1, 4)])
    assert next(it)[0] == 0
    t0 = time.monotonic()
    it.close()
    assert time.monotonic() - t0 < 1.0


def test_close_from_another_thread_ends_the_run(srv):
    b = backend(srv, concurrency=4, timeout=30)
    timer = threading.Timer(0.3, b.close)
    timer.start()
    t0 = time.monotonic()
    with pytest.raises(BackendError, match="cancelled"):
        list(b.generate([chat(i, f"long {i} [[sleep=10]]") for i in range(4)]))
    assert time.monotonic() - t0 < 1.5


@pytest.mark.skipif(not os.environ.get("DRAMA_TEST_OPENAI_BASE_URL"),
                    reason="set DRAMA_TEST_OPENAI_BASE_URL and DRAMA_TEST_OPENAI_MODEL to test a real server")
def test_real_server_smoke():
    """Opt-in: a real OpenAI-compatible server (e.g. vLLM's or llama.cpp's); key in $DRAMA_TEST_OPENAI_KEY."""
    b = OpenAIBackend(os.environ.get("DRAMA_TEST_OPENAI_MODEL", "default"),
                      base_url=os.environ["DRAMA_TEST_OPENAI_BASE_URL"], api_key_env="DRAMA_TEST_OPENAI_KEY",
                      timeout=120, max_retries=1)
    greedy = Sampling(temperature=0.0, top_p=1.0, max_tokens=8, stop=("\n",), seed=0)
    requests = [completion(0, "Question: what is the capital of France?\nAnswer:", greedy)]
    if os.environ.get("DRAMA_TEST_OPENAI_CHAT"):
        requests.append(chat(1, "Name the capital of France in one word.", greedy))
    out = run_all(b, requests)
    for c in out.values():
        assert c.ok, c.error
        assert c.finish_reason in ("stop", "length") and c.prompt_tokens > 0 and c.completion_tokens > 0


# ------------------------------------------------------------------------------------------- helpers
def test_parse_retry_after():
    now = 1_700_000_000.0
    assert parse_retry_after({"retry-after": "3"}, now) == 3.0
    assert parse_retry_after({"retry-after": " 1.5 "}, now) == 1.5
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}, now) == 0.25
    assert parse_retry_after({"retry-after": "Tue, 14 Nov 2023 22:13:30 GMT"}, now) == pytest.approx(10.0)
    assert parse_retry_after({"retry-after": "Tue, 14 Nov 2000 22:13:30 GMT"}, now) == 0.0
    assert parse_retry_after({"retry-after": "soon"}, now) is None
    assert parse_retry_after({}, now) is None


def test_map_finish_reason():
    assert [map_finish_reason(r) for r in ("stop", None, "eos", "length", "max_tokens", "content_filter")] == [
        "stop", "stop", "stop", "length", "length", "error"]


def test_userinfo_in_the_url_is_sent_as_basic_auth(srv, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    url = srv.base_url.replace("http://", "http://gw-user:hunter%2322@")
    out = run_all(OpenAIBackend("fake-model", base_url=url, max_retries=0), [chat(0, "hi")])
    assert out[0].ok
    # base64("gw-user:hunter#22"); the key is not sent along
    assert {r.headers["authorization"] for r in srv.records} == {"Basic Z3ctdXNlcjpodW50ZXIjMjI="}


def test_proxy_from_the_environment_except_for_loopback(monkeypatch):
    from drama_data.backends.openai import _env_proxy, _Run

    for var in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "skip.example.com")
    assert _env_proxy("https", "api.example.com") == "http://proxy.internal:3128"
    assert _env_proxy("https", "skip.example.com") is None and _env_proxy("http", "api.example.com") is None
    assert _Run(OpenAIBackend("m", base_url="https://api.example.com/v1"), [], None, None).proxy == \
        "http://proxy.internal:3128"
    assert _Run(OpenAIBackend("m", base_url="https://127.0.0.1:8000/v1"), [], None, None).proxy is None
