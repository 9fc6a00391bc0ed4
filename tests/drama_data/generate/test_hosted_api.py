"""``generate`` (and the rerank task) against a hosted API that refuses: one line, a non-zero exit, nothing
marked done, and a rerun with the key that resumes; a prompt over the context as a recorded row failure; the
warning for a missing key before anything is sent.

Against the stub server (tests/fake_openai_server.py), which enforces a key as a hosted API does (OpenAI's
``invalid_api_key`` body). The same against vLLM's real server: tests/drama_data/backends/test_openai_vllm_server.py.
"""
from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys

import pytest
from conftest import SMALL_DOCS, write_jsonl
from fake_backend import fake_query
from fake_openai_server import FakeOpenAIServer
from mining_helpers import write_candidates

from drama_data.api import run_generate
from drama_data.datasets.folder import read_table
from drama_data.errors import AuthError, ModelNotFoundError
from drama_data.generate.cache import RequestCache
from drama_data.generate.runner import FAILURE_SCHEMA
from drama_data.generate.workdir import work_folder_for

KEY = "sk-hosted-REALKEY-0123456789abcdef"


def answer(prompt: str) -> str:
    h = hashlib.sha256(prompt.encode()).hexdigest()[:10]
    return f"Task: find facts\nQuery: {fake_query(prompt, h)}\nLanguage: English"


@pytest.fixture()
def corpus(tmp_path):
    docs = [{"_id": f"p{i}", "title": "", "text": f"{d['text']} Item {i}."} for i, d in enumerate(SMALL_DOCS * 5)]
    return write_jsonl(tmp_path / "corpus.jsonl", docs)


@pytest.fixture(autouse=True)
def no_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)


def opts(server, corpus, tmp_path, **kw):
    o = dict(corpus=str(corpus), task_name="queries", backend_name="openai", model="fake-model",
             base_url=server and server.base_url, cache_dir=str(tmp_path / "cache"), no_progress=True, no_report=True,
             echo=None, concurrency=2, max_retries=1)
    o.update(kw)
    return o


def test_cli_401_is_one_line_exit_2_and_writes_nothing(tmp_path, corpus):
    """Old code: 'Bearer EMPTY', a WARNING per request, 'done ... rows written 0', exit 0, a full dataset folder."""
    env = dict(os.environ, DRAMA_CACHE=str(tmp_path / "cache"))
    env.pop("OPENAI_API_KEY", None)
    out = tmp_path / "out"
    with FakeOpenAIServer(api_key=KEY, max_lifetime=60) as srv:
        p = subprocess.run([sys.executable, "-m", "drama_data.cli.__main__", "generate", "--task", "queries",
                            "--backend", "openai", "--model", "fake-model", "--base-url", srv.base_url, "--corpus",
                            str(corpus), "--output", str(out), "--no-progress"],
                           env=env, capture_output=True, text=True, timeout=60)
        assert srv.completion_records() == []
    assert p.returncode == 2, p.stdout + p.stderr
    errors = [line for line in p.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "$OPENAI_API_KEY is not set" in errors[0] and "HTTP 401" in errors[0], p.stderr
    assert "WARNING" not in p.stderr and len(p.stderr.splitlines()) <= 2 and "done" not in p.stdout
    assert not out.exists() and not work_folder_for(out).exists()


def test_key_revoked_mid_run_then_rerun_with_the_key_resumes(tmp_path, corpus, monkeypatch):
    """Windows finished before the refusal stay in the work folder, answers stay cached; nothing is written as
    done; the rerun with a valid key sends only what is missing and writes the rows of an uninterrupted run."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with FakeOpenAIServer(api_key=KEY, responder=answer, max_lifetime=110) as srv:
        ref = run_generate(output=str(tmp_path / "ref"), **opts(srv, corpus, tmp_path, cache_dir=str(tmp_path / "rc")))
        assert ref.rows == 30
        n_ref = len(srv.completion_records())

        calls = []

        def revoking(prompt):  # the key is revoked after the 14th answer
            calls.append(prompt)
            if len(calls) == 14:
                srv.set_api_key("sk-someone-else-entirely-0000")
            return answer(prompt)

        srv._srv.responder = revoking
        out = tmp_path / "out"
        o = opts(srv, corpus, tmp_path, window_passages=4)
        with pytest.raises(AuthError, match=r"the API key in \$OPENAI_API_KEY was refused"):
            run_generate(output=str(out), **o)
        sent = len(srv.completion_records()) - n_ref
        assert not out.exists() and work_folder_for(out).is_dir()  # nothing done; finished windows kept
        cached = len(RequestCache(tmp_path / "cache" / "requests.sqlite"))
        # at most what was in flight (concurrency 2) is lost: refused, or answered while the refusal stopped the run
        # (on a loaded machine the 14th answer can arrive after the refusal of another request)
        assert cached >= 14 - 2 and sent <= cached + 2 + 2

        srv.set_api_key(KEY)
        srv._srv.responder = answer
        before = len(srv.completion_records())
        again = run_generate(output=str(out), **o)
        assert again.rows == 30 and again.stats.cached >= 12
        assert len(srv.completion_records()) - before == 30 - cached
    for config in ("queries", "failures"):
        assert read_table(out, config, FAILURE_SCHEMA).equals(read_table(tmp_path / "ref", config, FAILURE_SCHEMA))
    assert not work_folder_for(out).exists()


def test_unknown_model_is_one_line_listing_the_served_ones(tmp_path, corpus):
    with FakeOpenAIServer(check_model=True, served_models=["fake-model", "other"], max_lifetime=60) as srv:
        with pytest.raises(ModelNotFoundError, match=r"--model 'fake-modle'.*it serves: fake-model, other"):
            run_generate(output=str(tmp_path / "out"), **opts(srv, corpus, tmp_path, model="fake-modle"))
    assert not (tmp_path / "out").exists()


def test_a_prompt_over_the_context_is_a_recorded_row_failure(tmp_path, corpus):
    long_docs = [{"_id": "long", "title": "", "text": "word " * 2200}] + \
        [{"_id": f"p{i}", "title": "", "text": d["text"]} for i, d in enumerate(SMALL_DOCS)]
    corpus = write_jsonl(tmp_path / "long.jsonl", long_docs)
    with FakeOpenAIServer(responder=answer, max_context=2000, max_lifetime=60) as srv:
        summary = run_generate(output=str(tmp_path / "out"), **opts(srv, corpus, tmp_path, chunk_tokens=2500,
                                                                        section_tokens=2500))
        attempts = [r for r in srv.completion_records() if r.status == 400]
    assert summary.rows == 6 and summary.failed_slots == 1 and len(attempts) == 1  # no retries
    fails = read_table(tmp_path / "out", "failures", FAILURE_SCHEMA).to_pylist()
    assert [(f["passage_id"], f["kind"], f["final"]) for f in fails] == [("long", "backend", True)]
    assert fails[0]["reason"].startswith("HTTP 400 (prompt over the context limit): This model's maximum context")


def test_dry_run_warns_when_no_key_goes_to_a_remote_server(tmp_path, corpus, monkeypatch):
    """Old code: the plan did not mention that $OPENAI_API_KEY was unset."""
    o = opts(None, corpus, tmp_path, base_url="https://api.example.invalid/v1", model="gpt-4o-mini", dry_run=True)
    plan = run_generate(output=str(tmp_path / "out"), **o)
    assert plan.warnings == [plan.warnings[0]] and "$OPENAI_API_KEY is not set" in plan.warnings[0]
    assert "WARNING          $OPENAI_API_KEY is not set" in plan.render()
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    assert run_generate(output=str(tmp_path / "out"), **o).warnings == []
    local = run_generate(output=str(tmp_path / "out"), **dict(o, base_url="http://127.0.0.1:9/v1",
                                                                api_key_env="UNSET_HERE"))
    assert local.warnings == []


def test_the_run_warns_once_before_sending_to_a_remote_server(tmp_path, corpus, monkeypatch, caplog):
    """A server that is not on this machine (the stub, taken for remote) and no key: one warning, before the
    first request."""
    from drama_data.backends.openai import OpenAIBackend

    seen_at = []

    class Spy(logging.Handler):
        def emit(self, record):
            if "is not set" in record.getMessage():
                seen_at.append(len(srv.records))

    monkeypatch.setattr(OpenAIBackend, "_set_base_url", _remote_looking(OpenAIBackend._set_base_url))
    spy = Spy(level=logging.WARNING)
    logging.getLogger("drama_data.backends.openai").addHandler(spy)
    try:
        with FakeOpenAIServer(responder=answer, max_lifetime=60) as srv:
            summary = run_generate(output=str(tmp_path / "out"), **opts(srv, corpus, tmp_path))
    finally:
        logging.getLogger("drama_data.backends.openai").removeHandler(spy)
    assert summary.rows == 30 and seen_at == [0]


def _remote_looking(set_base_url):
    def wrapped(self, url):
        set_base_url(self, url)
        self._loopback = False
    return wrapped


# ------------------------------------------------------------------------------------------- rerank


def test_rerank_stops_at_a_401_and_writes_nothing(tmp_path, monkeypatch):
    mine = write_candidates(tmp_path / "mine", n_queries=4, n_cands=20)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key-0123456789abcdef")
    with FakeOpenAIServer(api_key=KEY, max_lifetime=60) as srv:
        o = opts(srv, mine, tmp_path, task_name="rerank", window=10, stride=5)
        with pytest.raises(AuthError, match=r"the API key in \$OPENAI_API_KEY was refused") as err:
            run_generate(output=str(tmp_path / "rr"), **o)
        assert srv.completion_records() == []
        assert "0123456789abcdef" not in str(err.value)
        assert not (tmp_path / "rr").exists()
        plan = run_generate(output=str(tmp_path / "rr"), **dict(o, dry_run=True, base_url="https://api.example.invalid/v1",
                                                                   api_key_env="UNSET_HERE"))
    assert "$UNSET_HERE is not set" in plan.warnings[0]
