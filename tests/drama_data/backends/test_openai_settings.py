"""The ``openai`` backend's settings: the Batch API is a mode of it (``batch``, or ``--backend openai-batch``) that
shares its request cache; validation names the flag; the dry-run plan lists the settings given."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from fake_backend import fake_query
from fake_openai_server import FakeOpenAIServer

import drama_data
from drama_data.api import run_generate
from drama_data.backends import build_backend, make_backend
from drama_data.backends.openai import OpenAIBackend
from drama_data.backends.openai_batch import OpenAIBatchBackend
from drama_data.backends.openai_settings import OpenAISettings
from drama_data.backends.registry import registry
from drama_data.errors import ConfigError

SAMPLE = Path(drama_data.__file__).parent / "samples" / "scifact-sample"


def answer(prompt: str) -> str:
    h = hashlib.sha256(prompt.encode()).hexdigest()[:8]
    return f"Task: find facts\nQuery: {fake_query(prompt, h)}\nLanguage: English"


def run(srv, tmp_path, out: str, **kw):
    return run_generate(corpus=str(SAMPLE), output=str(tmp_path / out), task_name="queries", model="fake-model",
                        base_url=srv.base_url, cache_dir=str(tmp_path / "cache"), no_progress=True, no_report=True,
                        echo=None, limit=4, max_retries=1, poll_interval=0.05, **kw)


def online(srv) -> list:
    """The requests sent to the online completion endpoints."""
    return [r for r in srv.records if r.path.endswith("completions")]


@pytest.fixture
def srv(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-shared-0123456789abcdef")
    with FakeOpenAIServer(responder=answer, max_lifetime=90) as s:
        s.set_batch_behaviour("completed", seconds=0.05)
        yield s


def test_batch_answers_are_reused_by_the_online_api(srv, tmp_path):
    first = run(srv, tmp_path, "batch", backend_name="openai-batch")
    assert first.rows == 4 and first.stats.generated == 4 and srv.batch_counts()["batches"] == 1
    assert online(srv) == []
    again = run(srv, tmp_path, "online", backend_name="openai")
    assert again.rows == 4 and again.stats.generated == 0 and again.stats.cached == 4
    assert online(srv) == []  # nothing sent: every answer came from the batch run's cache


def test_online_answers_are_reused_by_the_batch_mode(srv, tmp_path):
    first = run(srv, tmp_path, "online", backend_name="openai")
    assert first.rows == 4 and first.stats.generated == 4 and len(online(srv)) == 4
    again = run(srv, tmp_path, "batch", backend_name="openai", batch=True)
    assert again.rows == 4 and again.stats.generated == 0 and srv.batch_counts() == {"uploads": 0, "batches": 0}


def test_the_batch_setting_and_the_alias_build_the_same_backend(tmp_path):
    for b in (build_backend("openai-batch", "m", cache_dir=str(tmp_path)),
              build_backend("openai", "m", batch=True, cache_dir=str(tmp_path)),
              make_backend("openai", "m", batch=True)):
        assert isinstance(b, OpenAIBatchBackend) and b.cache_name == "openai" and b.name == "openai-batch"
    assert build_backend("openai-batch", "m", cache_dir=str(tmp_path)).state_dir.parent == tmp_path / "batches"
    online = build_backend("openai", "m", concurrency=3)
    assert type(online) is OpenAIBackend and online.concurrency == 3 and online.cache_name == "openai"


@pytest.mark.parametrize("options, message", [
    ({"concurrency": 0}, "--concurrency must be at least 1, got 0"),
    ({"timeout": -1.0}, "--timeout must be positive, got -1.0"),
    ({"rpm": 0.0}, "--rpm must be positive, got 0.0"),
    ({"max_retries": "six"}, "--max-retries: expected int, got 'six'"),
    ({"api_key_env": "A=B"}, "--api-key-env must be the name of an environment variable, got 'A=B'"),
])
def test_a_bad_setting_is_one_line_naming_its_flag(options, message):
    with pytest.raises(ConfigError) as err:
        build_backend("openai", "m", **options)
    assert str(err.value) == message


def test_settings_take_their_own_keys_and_the_alias_preset():
    s = registry().settings("openai-batch", {"concurrency": 4, "tensor_parallel_size": 8, "batch": False,
                                            "timeout": None})
    assert isinstance(s, OpenAISettings) and s.batch and s.concurrency == 4 and s.timeout == 120.0
    assert s.changed() == {"concurrency": 4, "batch": True}
    assert {i.name for i in OpenAISettings.infos() if i.secret} == {"api_key_env"}


def test_the_dry_run_plan_shows_the_settings_that_differ_from_their_defaults(srv, tmp_path):
    plan = run(srv, tmp_path, "plan", backend_name="openai-batch", concurrency=4, dry_run=True)
    assert plan.settings == {"--base-url": srv.base_url, "--concurrency": 4, "--max-retries": 1, "--batch": True,
                             "--poll-interval": 0.05}
    assert (f"  settings         --base-url {srv.base_url}, --concurrency 4, --max-retries 1, --batch, "
            "--poll-interval 0.05") in plan.render().splitlines()
