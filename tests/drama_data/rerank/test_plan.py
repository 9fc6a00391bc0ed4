"""``generate --task rerank --dry-run``: every window request counted, nothing sent, history used after a run."""
import importlib.util
from pathlib import Path

import pytest

from drama_data.errors import ConfigError
from drama_data.generate.planning import Plan

_spec = importlib.util.spec_from_file_location("rerank_test_stage", Path(__file__).with_name("test_stage.py"))
_stage_tests = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_stage_tests)


class _Codec:
    def encode(self, text):
        return text.split()

    def encode_chat(self, messages):
        return " ".join(m["content"] for m in messages).split()


def test_rerank_dry_run_then_history(tmp_path, monkeypatch):
    from fake_backend import FakeBackend

    from drama_data.rerank import stage

    class Backend(FakeBackend):
        codec = _Codec()

    made = []

    def build(*a, **k):
        made.append(Backend(answer=_stage_tests.ranker))
        return made[-1]

    _stage_tests.make_candidates(tmp_path / "m")
    monkeypatch.setattr("drama_data.rerank.stage.build_backend", build)
    opts = dict(corpus=str(tmp_path / "m"), echo=None, depth=20, window=10, stride=5, cache_dir=str(tmp_path / "c"),
                progress=False)
    plan = stage.run_rerank(output=str(tmp_path / "r"), dry_run=True, **opts)
    assert isinstance(plan, Plan) and made[-1].generated == 0 and not (tmp_path / "r").exists()
    assert plan.requests == 3 * 3 and plan.passages == 3  # windows 10/5 over 20: 3 per query
    assert plan.completion_tokens_per_request == 6 * 10 + 20  # max_tokens bound without history
    stage.run_rerank(output=str(tmp_path / "r"), **opts)
    again = stage.run_rerank(output=str(tmp_path / "r2"), dry_run=True, seed=1, **opts)
    assert again.cached == 0 and again.completion_tokens_per_request == 5.0  # the fake's 5 tokens per answer
    with pytest.raises(ConfigError, match="not supported for --task rerank"):
        stage.run_rerank(output=str(tmp_path / "r3"), max_requests=2, **opts)
