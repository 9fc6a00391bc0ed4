"""The openai backend when the server refuses: the key (401/403), the model (404), the account (402, 429
``insufficient_quota``), a prompt over the context (400), a malformed request (the same 400 from the start).

Against the stub server (tests/fake_openai_server.py), which enforces a key and a model list as a hosted API
does. Each refusal that concerns every request alike stops the run at the first answer with one line; a refusal
of one prompt is that request's error completion.
"""
from __future__ import annotations

import logging
import time

import pytest
from fake_openai_server import FakeOpenAIServer, expected_text, fault

from drama_data.backends.base import Request, Sampling
from drama_data.backends.openai import OpenAIBackend, _Redactor
from drama_data.backends.refusals import classify_rejection
from drama_data.errors import AuthError, ModelNotFoundError, RequestsRejectedError

KEY = "sk-proj-REALKEY0123456789abcdefWXYZ"
SAMPLING = Sampling(temperature=0.0, top_p=1.0, max_tokens=16)


def chat(i: int, text: str) -> Request:
    return Request(id=f"r{i}", sampling=SAMPLING, messages=({"role": "user", "content": text},))


def backend(srv: FakeOpenAIServer, model: str = "fake-model", **kw) -> OpenAIBackend:
    opts = dict(concurrency=4, timeout=5.0, max_retries=3, backoff=0.02, max_backoff=0.1)
    opts.update(kw)
    return OpenAIBackend(model, base_url=srv.base_url, **opts)


@pytest.fixture(autouse=True)
def no_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text, text
    return text


# ------------------------------------------------------------------------------------------- the key
@pytest.mark.parametrize("state", ["unset", "empty"])
def test_no_key_stops_at_the_probe_naming_the_variable(state, monkeypatch):
    """Old code: 'Bearer EMPTY' on every request, one WARNING per request, every row an error, exit 0."""
    if state == "empty":
        monkeypatch.setenv("MY_KEY", "  ")
    with FakeOpenAIServer(api_key=KEY, max_lifetime=60) as srv:
        b = backend(srv, api_key_env="MY_KEY")
        t0 = time.monotonic()
        with pytest.raises(AuthError) as err:
            list(b.generate([chat(i, f"doc {i}") for i in range(1000)]))
        assert time.monotonic() - t0 < 3
        assert srv.completion_records() == []  # the refused probe sent nothing more
    text = one_line(err.value)
    assert "HTTP 401" in text and "$MY_KEY is " + ("not set" if state == "unset" else "empty") in text
    assert "--api-key-env" in text and "Incorrect API key provided" in text and "rerun" in text


def test_a_refused_key_is_named_never_shown(monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-proj-WRONGKEY0123456789abcdefABCD")
    with FakeOpenAIServer(api_key=KEY, max_lifetime=60) as srv:
        with pytest.raises(AuthError) as err:
            list(backend(srv).generate([chat(0, "hi")]))
    text = one_line(err.value)
    assert "the API key in $OPENAI_API_KEY was refused" in text and "Incorrect API key provided: ***" in text
    # the server echoed the key masked (sk-****ABCD): neither the key nor its ends appear anywhere
    for leak in ("sk-proj-WRONGKEY0123456789abcdefABCD", "WRONGK", "ABCD"):
        assert leak not in text and leak not in caplog.text


@pytest.mark.parametrize("status", [401, 403])
def test_a_key_revoked_mid_run_stops_at_the_first_refusal(monkeypatch, status):
    """Answers before the refusal are handed over; in-flight requests are cancelled; nothing is sent after."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with FakeOpenAIServer(api_key=KEY, max_lifetime=60) as srv:
        b = backend(srv, concurrency=4)
        got = []
        with pytest.raises(AuthError) as err:
            for _i, c in b.generate([chat(i, f"doc {i} [[sleep=0.05]]") for i in range(200)]):
                got.append(c)
                if len(got) == 10:
                    srv.set_api_key("sk-another-key-entirely-000000", status=status)
        refused = [r for r in srv.completion_records() if r.status == status]
        sent = len(srv.completion_records())
        time.sleep(0.3)
        assert len(srv.completion_records()) == sent  # nothing more after the error
    assert len(got) >= 10 and all(c.ok for c in got)
    assert 1 <= len(refused) <= 4 and sent < 10 + 4 + 4  # at most what was in flight
    text = one_line(err.value)
    assert f"HTTP {status}" in text and "$OPENAI_API_KEY was refused" in text
    assert ("forbidden" in text) == (status == 403)


# ------------------------------------------------------------------------------------------- the model
def test_unknown_model_lists_the_served_models():
    """Old code: every row an 'HTTP 404' error completion, exit 0."""
    with FakeOpenAIServer(check_model=True, served_models=["llama-3.3-70b", "qwen-2.5-7b"], max_lifetime=60) as srv:
        with pytest.raises(ModelNotFoundError) as err:
            list(backend(srv, model="lama-3.3-70b", concurrency=2).generate([chat(i, f"d{i}") for i in range(300)]))
        assert len(srv.completion_records()) <= 2
    text = one_line(err.value)
    assert "--model 'lama-3.3-70b'" in text and "HTTP 404" in text and "does not exist" in text
    assert "it serves: llama-3.3-70b, qwen-2.5-7b" in text


def test_wrong_path_is_a_404_too():
    with FakeOpenAIServer(max_lifetime=60) as srv:
        b = OpenAIBackend("fake-model", base_url=srv.base_url.replace("/v1", "/v2"), backoff=0.01)
        with pytest.raises(ModelNotFoundError, match="no route /v2/completions.*did not say which models"):
            list(b.generate([Request(id="x", sampling=SAMPLING, prompt="hello")]))


# ------------------------------------------------------------------------------------------- the account
def test_no_quota_stops_without_retrying():
    """429 insufficient_quota is not a rate limit: retrying it for every row would never end well."""
    with FakeOpenAIServer(max_lifetime=60) as srv:
        marker = fault(429, times="all", code="insufficient_quota")
        with pytest.raises(RequestsRejectedError, match="HTTP 429.*cannot be charged"):
            list(backend(srv, concurrency=1).generate([chat(i, f"d{i} {marker}") for i in range(50)]))
        assert len(srv.completion_records()) == 1


# ------------------------------------------------------------------------------------------- one prompt
def test_a_prompt_over_the_context_is_that_rows_failure():
    """Old code: the same error completion, but labelled like any 400 and logged once per row."""
    with FakeOpenAIServer(max_context=64, max_lifetime=60) as srv:
        long = " ".join(["word"] * 100)
        requests = [chat(0, "short one"), chat(1, long), chat(2, f"short two {fault('context')}"), chat(3, "three")]
        out = dict(backend(srv).generate(requests))
        assert len(srv.completion_records()) == 4  # no retries
    assert out[0].ok and out[3].ok and out[0].text == expected_text("short one")
    for i in (1, 2):
        assert not out[i].ok and out[i].error.startswith("HTTP 400 (prompt over the context limit): This model's")
        assert out[i].extra["error_kind"] == "context" and out[i].extra["attempts"] == 1


def test_context_failures_never_stop_a_run_even_when_all_fail():
    """A rerun sends only the rows that failed before: if they are all too long, they must be recorded again."""
    with FakeOpenAIServer(max_context=8, max_lifetime=60) as srv:
        out = dict(backend(srv).generate([chat(i, f"a long prompt number {i} over the tiny limit") for i in range(25)]))
    assert len(out) == 25 and all(c.extra["error_kind"] == "context" for c in out.values())


# ------------------------------------------------------------------------------------------- malformed requests
def test_the_same_400_from_the_start_stops_the_run():
    with FakeOpenAIServer(max_lifetime=60) as srv:
        b = backend(srv, concurrency=1)
        with pytest.raises(RequestsRejectedError) as err:
            list(b.generate([chat(i, f"d{i} {fault(400, times='all')}") for i in range(500)]))
        assert len(srv.completion_records()) == b.bad_request_limit
    text = one_line(err.value)
    assert f"each of the first {b.bad_request_limit} requests" in text and "injected HTTP 400" in text


def test_400s_after_a_success_are_row_failures():
    """Once a request succeeded, the requests are well-formed: later 400s concern their own rows."""
    with FakeOpenAIServer(max_lifetime=60) as srv:
        b = backend(srv, concurrency=1)
        requests = [chat(0, "fine")] + [chat(i, f"d{i} {fault(400, times='all')}") for i in range(1, 30)]
        out = dict(b.generate(requests))
    assert out[0].ok and sum(not c.ok for c in out.values()) == 29
    assert all(c.extra["error_kind"] == "request" for i, c in out.items() if i)


def test_failed_requests_are_logged_a_few_times_not_once_each(caplog):
    with FakeOpenAIServer(max_lifetime=60) as srv:
        b = backend(srv, concurrency=2)
        out = dict(b.generate([chat(0, "ok")] + [chat(i, f"d{i} {fault(400, times='all')}") for i in range(1, 40)]))
    assert sum(not c.ok for c in out.values()) == 39
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) <= 6 and "debug level" in warnings[-1].getMessage()


# ------------------------------------------------------------------------------------------- the warning
def test_key_warning_for_a_remote_server_without_a_key(monkeypatch):
    remote = OpenAIBackend("gpt-4o-mini", base_url="https://api.example.com/v1", api_key_env="MY_KEY")
    assert "$MY_KEY is not set" in remote.key_warning() and "https://api.example.com/v1" in remote.key_warning()
    monkeypatch.setenv("MY_KEY", "")
    assert "$MY_KEY is empty" in remote.key_warning()
    monkeypatch.setenv("MY_KEY", KEY)
    assert remote.key_warning() is None and KEY not in repr(vars(remote))
    for local in ("http://127.0.0.1:8000/v1", "http://localhost:8000/v1", "http://[::1]:8000/v1"):
        assert OpenAIBackend("m", base_url=local, api_key_env="UNSET_VAR").key_warning() is None
    assert OpenAIBackend("m", base_url="https://u:pw@gw.example.com/v1", api_key_env="UNSET_VAR").key_warning() is None


# ------------------------------------------------------------------------------------------- helpers
def test_classify_rejection():
    body = '{"error": {"message": "%s", "code": %s}}'
    assert classify_rejection(401, "") == "auth" and classify_rejection(403, "{}") == "auth"
    assert classify_rejection(404, '{"detail": "Not Found"}') == "model"
    assert classify_rejection(402, "") == "quota"
    assert classify_rejection(429, body % ("You exceeded your current quota", '"insufficient_quota"')) == "quota"
    assert classify_rejection(400, body % ("too long", '"context_length_exceeded"')) == "context"
    vllm = ("This model's maximum context length is 512 tokens. However, your prompt contains 700 input tokens, "
            "which exceeds this limit even without any output tokens.")
    assert classify_rejection(400, body % (vllm, "400")) == "context"
    assert classify_rejection(413, "") == "context"
    assert classify_rejection(400, body % ("Invalid prompt: flagged by our usage policy", '"invalid_prompt"')) == \
        "content"
    assert classify_rejection(400, body % ("Unrecognized request argument supplied: seed", "null")) == "request"
    assert classify_rejection(422, '{"detail": [{"msg": "field required"}]}') == "request"


def test_strict_redaction_masks_echoed_key_fragments():
    r = _Redactor([KEY])
    said = "Incorrect API key provided: sk-proj-****WXYZ. Also sk-live-abcdef1234 and the full " + KEY + "."
    out = r.strict(said)
    assert "WXYZ" not in out and "abcdef1234" not in out and KEY not in out
    assert out.startswith("Incorrect API key provided: ***.") and "api-version" in r.strict("api-version missing")
