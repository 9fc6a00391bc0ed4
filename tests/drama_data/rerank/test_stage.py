import re

import datasets
import pytest
from fake_backend import FakeBackend
from mining_helpers import write_candidates

from drama_data.errors import ConfigError, InputError
from drama_data.rerank.stage import RerankSettings, _read_candidates, rerank
from drama_data.tasks.prompting import load_prompt


def ranker(request) -> str:
    """Ranks the window's passages by the number after 'score' in their text (higher first)."""
    text = request.content()
    scores = {int(k): int(s) for k, s in re.findall(r"\[(\d+)\] doc score (\d+)", text)}
    return " > ".join(f"[{k}]" for k in sorted(scores, key=lambda k: -scores[k]))


def make_candidates(folder, n_queries=3, n_cands=30):
    """Candidates whose passage texts carry a score the fake ranker reads (``doc score N``)."""
    return write_candidates(folder, n_queries, n_cands, lambda q, r: f"doc score {(r * 7 + q) % n_cands}")


def test_batched_equals_one_query_at_a_time_and_sorts_by_hidden_score(tmp_path):
    rows, texts = _read_candidates(str(make_candidates(tmp_path / "m")), depth=30, limit=None)
    prompt = load_prompt("rerank", "chat")
    settings = RerankSettings(depth=30, window=10, stride=5)
    batched_backend = FakeBackend(answer=ranker)
    batched, fails, stats = rerank(rows, texts, batched_backend, None, settings, prompt, progress=False)
    single, _, _ = rerank(rows, texts, FakeBackend(answer=ranker), None, settings, prompt,
                          batch_queries=False, progress=False)
    assert batched == single and not fails
    assert stats.requests == 3 * 5  # 5 windows of 10 with stride 5 over 30
    for r in batched:
        scores = [int(texts[d].split()[-1]) for d in r["ranking"]]
        assert scores[:5] == [29, 28, 27, 26, 25]  # one sweep brings the top of the list to the front
        assert sorted(r["ranking"]) == sorted(r["initial"]) and r["repaired"] == 0


def test_repairs_are_recorded_and_passes_give_agreement(tmp_path):
    rows, texts = _read_candidates(str(make_candidates(tmp_path / "m", n_queries=2, n_cands=8)), depth=8, limit=None)
    prompt = load_prompt("rerank", "chat")
    sloppy = FakeBackend(answer=lambda r: "[1] > [1] > [9] and that's it")
    out, fails, _ = rerank(rows, texts, sloppy, None, RerankSettings(depth=8, window=8, stride=4, passes=3), prompt,
                           progress=False)
    assert all(r["repaired"] == 9 for r in out)  # 1 repeat + 1 out of range + 7 missing
    assert {f["kind"] for f in fails} == {"repaired"} and fails[0]["raw_text"].startswith("[1] > [1]")
    assert all(r["agreement"] is not None and -1 <= r["agreement"] <= 1 for r in out)


def test_cli_writes_rankings(tmp_path, monkeypatch):
    from drama_data.rerank import stage

    make_candidates(tmp_path / "m")
    monkeypatch.setattr("drama_data.rerank.stage.build_backend", lambda *a, **k: FakeBackend(answer=ranker))
    summary = stage.run_rerank(corpus=str(tmp_path / "m"), output=str(tmp_path / "r"), echo=None, depth=20,
                               window=10, stride=5, no_cache=True, progress=False)
    assert summary.rows == 3
    ds = datasets.load_dataset(str(tmp_path / "r"), split="train")
    assert ds.features["ranking"].feature.dtype == "string" and len(ds[0]["ranking"]) == 20
    with pytest.raises(ConfigError, match="--window 40 is larger than every candidate list"):
        stage.run_rerank(corpus=str(tmp_path / "m"), output=str(tmp_path / "r2"), echo=None, window=40,
                         depth=30, no_cache=True)
    with pytest.raises(InputError, match="must be a drama-data mine output"):
        stage.run_rerank(corpus=str(tmp_path / "r"), output=str(tmp_path / "r3"), echo=None, no_cache=True)
