"""``--backend openai-batch`` against the test server's /v1/files and /v1/batches (tests/fake_openai_server.py)."""
from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from fake_openai_server import FakeOpenAIServer, expected_text, fault

from drama_data.backends import make_backend
from drama_data.backends.base import Request, Sampling
from drama_data.backends.openai_batch import OpenAIBatchBackend
from drama_data.errors import AuthError, BackendError, ModelNotFoundError

SECRET = "sk-batch-SECRET-0123456789abcdef"
SAMPLING = Sampling(temperature=0.0, top_p=1.0, max_tokens=16, seed=1)
REPO = Path(__file__).resolve().parents[3]


def chat(i: int, text: str) -> Request:
    return Request(id=f"r{i}", sampling=SAMPLING, messages=({"role": "user", "content": text},))


def completion(i: int, text: str) -> Request:
    return Request(id=f"r{i}", sampling=SAMPLING, prompt=text)


def backend(srv, tmp_path, **kw) -> OpenAIBatchBackend:
    return OpenAIBatchBackend("fake-model", base_url=srv.base_url, state_dir=tmp_path / "batches",
                              poll_interval=0.05, max_retries=1, timeout=5.0, **kw)


def run_all(b, requests) -> dict:
    seen = list(b.generate(requests))
    assert sorted(i for i, _ in seen) == list(range(len(requests))), "every request answered exactly once"
    return dict(seen)


def state_files(tmp_path) -> list[Path]:
    return sorted((tmp_path / "batches").rglob("*.json"))


@pytest.fixture
def srv(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with FakeOpenAIServer(max_lifetime=90) as s:
        yield s


def test_happy_path_and_a_failed_line(srv, tmp_path, monkeypatch, caplog):
    """Chat and completion requests (batches per endpoint, 2 lines at most), a duplicate, a line failing with 400."""
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    caplog.set_level(logging.DEBUG)
    texts = ["alpha", "beta", "alpha", f"bad {fault(400)}"]
    requests = [chat(i, t) for i, t in enumerate(texts)] + [completion(4, "gamma")]
    out = run_all(backend(srv, tmp_path, max_batch_requests=2), requests)
    for i in (0, 1, 2, 4):
        prompt = texts[i] if i < 4 else "gamma"
        assert out[i].ok and out[i].text == expected_text(prompt) and out[i].finish_reason == "stop"
        assert out[i].prompt_tokens == len(prompt.split()) and out[i].completion_tokens == 2
        assert out[i].extra["batch_id"].startswith("batch-")
    assert not out[3].ok and out[3].error == "HTTP 400: injected HTTP 400" and out[3].extra["http_status"] == 400
    assert srv.batch_counts() == {"uploads": 3, "batches": 3}  # chat: 3 distinct lines in 2 batches
    uploaded = [json.loads(x) for data in srv._srv.files.values() for x in data.splitlines()][:4]
    assert {line["url"] for line in uploaded} == {"/v1/chat/completions", "/v1/completions"}
    assert all(line["body"]["seed"] == 1 and line["body"]["model"] == "fake-model" for line in uploaded)
    assert {r.headers["authorization"] for r in srv.records} == {f"Bearer {SECRET}"}
    assert state_files(tmp_path) == []  # handed over: nothing left to resume
    assert "submitted 2 requests" in caplog.text and "submitted 1 request as" in caplog.text and SECRET not in caplog.text  # the SDK's debug logs too


def test_expired_and_failed_batches_answer_with_errors_and_a_rerun_resubmits_only_those(srv, tmp_path):
    requests = [chat(i, f"passage {i}") for i in range(6)]
    srv.set_batch_behaviour("expired")
    out = run_all(backend(srv, tmp_path), requests)
    ok = [i for i, c in out.items() if c.ok]
    assert len(ok) == 3
    for c in out.values():
        if not c.ok:
            assert "batch_expired" in c.error and c.finish_reason == "error"

    srv.set_batch_behaviour("failed")
    out2 = run_all(backend(srv, tmp_path), [requests[i] for i in range(6) if i not in ok])
    assert all(not c.ok and "ended failed" in c.error and "injected batch failure" in c.error for c in out2.values())

    srv.set_batch_behaviour("completed")
    out3 = run_all(backend(srv, tmp_path), [requests[i] for i in range(6) if i not in ok])
    assert all(c.ok for c in out3.values())
    assert srv.batch_counts()["batches"] == 3 and state_files(tmp_path) == []


_CHILD = textwrap.dedent("""
    import sys
    sys.path.insert(0, {repo!r})
    from drama_data.backends.base import Request, Sampling
    from drama_data.backends.openai_batch import OpenAIBatchBackend
    s = Sampling(temperature=0.0, top_p=1.0, max_tokens=16, seed=1)
    b = OpenAIBatchBackend("fake-model", base_url={url!r}, state_dir={state!r}, poll_interval=0.05)
    for i, c in b.generate([Request(id=f"r{{i}}", sampling=s, messages=({{"role": "user", "content": f"p{{i}}"}},))
                            for i in range(5)]):
        print(i, c.ok, flush=True)
""")


@pytest.mark.parametrize("lose_batch_id", [False, True])
def test_killed_run_resumes_the_same_batch(srv, tmp_path, lose_batch_id):
    """kill -9 while polling; the rerun polls the batch it created instead of paying again. With
    ``lose_batch_id`` the kill came before the batch id was saved: the rerun finds it by its input file."""
    srv.set_batch_behaviour("completed", seconds=1.5)
    code = _CHILD.format(repo=str(REPO), url=srv.base_url, state=str(tmp_path / "batches"))
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while srv.batch_counts()["batches"] < 1 and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.02)
    time.sleep(0.2)
    child.send_signal(signal.SIGKILL)
    _, err = child.communicate(timeout=10)
    assert srv.batch_counts() == {"uploads": 1, "batches": 1}, err
    (state,) = state_files(tmp_path)
    saved = json.loads(state.read_text())
    assert saved["batch_id"] == "batch-1"
    if lose_batch_id:
        del saved["batch_id"]
        state.write_text(json.dumps(saved))

    b = backend(srv, tmp_path)
    requests = [chat(i, f"p{i}") for i in range(5)]
    out = run_all(b, requests)
    assert all(c.ok and c.text == expected_text(f"p{i}") and c.extra["batch_id"] == "batch-1"
               for i, c in out.items())
    assert srv.batch_counts() == {"uploads": 1, "batches": 1}  # nothing paid twice
    assert state_files(tmp_path) == []


def test_a_server_without_the_batch_api_fails_with_one_clear_error(srv, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    b = OpenAIBatchBackend("fake-model", base_url=srv.base_url.replace("/v1", "/v2"), state_dir=tmp_path,
                           poll_interval=0.05, max_retries=0)
    with pytest.raises(BackendError, match=r"has no Batch API \(POST /v2/files answered HTTP 404.*--backend openai"
                       ) as err:
        list(b.generate([chat(0, "x")]))
    assert SECRET not in str(err.value)


@pytest.mark.parametrize("key", [None, "sk-batch-WRONG-0123456789abcdef"])
def test_a_missing_or_refused_key_stops_at_the_upload(tmp_path, monkeypatch, key):
    """Old code: 'the Batch API ... answered HTTP 401', not saying which variable or that it was unset."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    if key:
        monkeypatch.setenv("OPENAI_API_KEY", key)
    with FakeOpenAIServer(api_key=SECRET, max_lifetime=60) as srv:
        with pytest.raises(AuthError) as err:
            list(backend(srv, tmp_path).generate([chat(0, "x"), chat(1, "y")]))
        assert srv.batch_counts() == {"uploads": 0, "batches": 0}
    text = str(err.value)
    assert "\n" not in text and "HTTP 401 to POST /v1/files" in text
    assert ("$OPENAI_API_KEY is not set" if key is None else "the API key in $OPENAI_API_KEY was refused") in text
    assert key is None or (key not in text and key[-4:] not in text)
    assert not state_files(tmp_path)  # nothing was uploaded: nothing to resume


def test_an_unknown_model_lists_the_served_ones(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with FakeOpenAIServer(check_model=True, served_models=["big-model", "small-model"], max_lifetime=60) as srv:
        b = OpenAIBatchBackend("bigg-model", base_url=srv.base_url, state_dir=tmp_path / "batches",
                               poll_interval=0.05, max_retries=0)
        with pytest.raises(ModelNotFoundError, match=r"--model 'bigg-model'.*HTTP 404 to POST /v1/batches.*"
                                                     r"it serves: big-model, small-model"):
            list(b.generate([chat(0, "x")]))


def test_batch_lines_refused_for_the_model_hand_over_then_stop(srv, tmp_path, monkeypatch):
    """A provider that accepts the batch but fails every line with 404 (model_not_found): the lines are handed
    over as error completions (not cached, so a rerun submits them again), the state file is gone, then the run
    stops with the model's one line instead of recording thousands of 404 rows as if done."""
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    b = backend(srv, tmp_path)
    got = []
    with pytest.raises(ModelNotFoundError, match="the lines of batch .*it serves: fake-model"):
        for item in b.generate([chat(0, f"x {fault(404)}"), chat(1, "y")]):
            got.append(item)
    assert len(got) == 2 and not state_files(tmp_path)


def test_make_backend_and_the_generate_stage(srv, tmp_path):
    """Wired by name; a whole ``generate`` run through the batch API fills the dataset and the request cache."""
    from drama_data.api import run_generate
    from drama_data.datasets.folder import read_table

    assert isinstance(make_backend("openai-batch", "fake-model", base_url=srv.base_url, echo=None),
                      OpenAIBatchBackend)
    def responder(prompt: str) -> str:  # a query sharing a content word with the passage (not a generic one)
        last = prompt.rsplit("Passage:", 1)[-1].split()
        word = next((w.strip(".,;:()") for w in last if len(w.strip(".,;:()")) > 6), "passage")
        return f"Task: find facts\nQuery: what is known about {word}\nLanguage: English"

    srv._srv.responder = responder
    corpus = REPO / "drama_data" / "samples" / "scifact-sample"
    opts = dict(corpus=str(corpus), task_name="queries", backend_name="openai-batch", model="fake-model",
                base_url=srv.base_url, limit=3, cache_dir=str(tmp_path / "cache"), no_progress=True, echo=None,
                poll_interval=0.05)
    summary = run_generate(output=str(tmp_path / "out"), **opts)
    assert summary.rows == 3, summary.render()
    assert read_table(tmp_path / "out", "queries").num_rows == 3
    assert srv.batch_counts()["batches"] == 1 and not list((tmp_path / "cache" / "batches").rglob("*.json"))
    again = run_generate(output=str(tmp_path / "out2"), overwrite=True, **opts)  # all from the request cache
    assert again.rows == 3 and srv.batch_counts()["batches"] == 1
