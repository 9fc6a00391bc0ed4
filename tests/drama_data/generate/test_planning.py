"""--dry-run plans and --max-requests/--max-cost stops, with the fake backend (a word-count 'tokenizer')."""
from __future__ import annotations

import pytest
from fake_backend import FakeBackend

from drama_data.errors import ConfigError
from drama_data.generate.budget import Budget
from drama_data.generate.cache import RequestCache
from drama_data.generate.planning import Plan, even_sample
from drama_data.generate.prices import Price, load_prices, price_for
from drama_data.generate.runner import CorpusOptions, generate
from drama_data.tasks import get_task


class _WordCodec:
    def encode(self, text):
        return text.split()

    def encode_chat(self, messages):
        return " ".join(m["content"] for m in messages).split()


class CodecBackend(FakeBackend):
    """The fake backend with a codec, as the vLLM backend has (prompt tokens = words)."""

    codec = _WordCodec()


def run(corpus, out, cache, backend, **kw):
    return generate(get_task("queries"), CorpusOptions(str(corpus)), out, backend=backend, cache=cache,
                    progress=False, echo=None, **kw)


def test_dry_run_counts_with_the_tokenizer_and_sends_nothing(small_corpus, tmp_path):
    backend = CodecBackend()
    plan = run(small_corpus, tmp_path / "out", RequestCache(tmp_path / "c.sqlite"), backend, dry_run=True)
    assert isinstance(plan, Plan) and backend.generated == 0 and not (tmp_path / "out").exists()
    assert plan.passages == 6 and plan.requests == 6 and plan.cached == 0 and plan.sample == 6
    task = get_task("queries")
    task.use_form("chat")
    from drama_data.chunking import load_passages

    passages, _ = load_passages(str(small_corpus))
    words = [len(_WordCodec().encode_chat(task.request(p, s, 0).messages)) for p in passages for s in task.slots(p)]
    assert plan.prompt_tokens == pytest.approx(sum(words))
    assert plan.completion_tokens == 6 * 256  # no history: max_tokens as the upper bound
    assert "upper bound" in plan.render() and "counted on all 6 requests" in plan.render()
    small = run(small_corpus, tmp_path / "out", None, backend, dry_run=True, plan_sample=2)
    assert small.sample == 2 and "a sample of 2 of 6 requests, extrapolated" in small.render()


def test_plan_from_history_matches_the_real_run(small_corpus, tmp_path):
    cache = RequestCache(tmp_path / "c.sqlite")
    real = run(small_corpus, tmp_path / "out", cache, CodecBackend())
    assert real.stats.generated == 7  # 6 + one retry (d3's first answer does not parse)
    # a plan for the same corpus under another seed: nothing cached, history from the first run
    task = get_task("queries", seed=1)
    plan = generate(task, CorpusOptions(str(small_corpus)), tmp_path / "o2", backend=CodecBackend(), cache=cache,
                    progress=False, echo=None, dry_run=True, price=Price("fake-model", 1.0, 2.0, "test"))
    assert plan.cached == 0 and plan.completion_tokens_per_request == 5.0
    assert plan.parse_rate == pytest.approx(6 / 7)
    assert plan.expected_requests == pytest.approx(6 * (1 + 1 / 7))
    second = generate(task, CorpusOptions(str(small_corpus)), tmp_path / "o2", backend=CodecBackend(), cache=cache,
                      progress=False, echo=None)
    assert second.stats.generated == 7
    assert plan.completion_tokens == pytest.approx(second.stats.completion_tokens, rel=0.10)
    assert plan.cost == pytest.approx((plan.prompt_tokens * 1.0 + plan.completion_tokens * 2.0) / 1e6)
    # after the run, the plan sees everything cached
    again = generate(task, CorpusOptions(str(small_corpus)), tmp_path / "o2", backend=CodecBackend(), cache=cache,
                     progress=False, echo=None, dry_run=True)
    assert again.cached == 6 and again.to_send == 0


def test_max_requests_stops_cleanly_and_resumes(small_corpus, tmp_path):
    cache = RequestCache(tmp_path / "c.sqlite")
    first = run(small_corpus, tmp_path / "out", cache, CodecBackend(), budget=Budget(max_requests=4))
    assert first.stats.generated == 4 and first.rows == 3  # d1..d4, d3 did not parse and its retry was not sent
    assert first.stopped == "reached --max-requests 4 (4 requests sent)"
    assert "STOPPED" in first.render()
    import json

    assert json.loads((tmp_path / "out" / "provenance.json").read_text())["stopped"].startswith("reached")
    backend = CodecBackend()
    rest = run(small_corpus, tmp_path / "out", cache, backend)
    assert backend.generated == 3 and rest.rows == 6 and not rest.stopped  # d5, d6 and d3's retry


def test_max_cost_stops_before_the_limit(small_corpus, tmp_path):
    price = Price("fake-model", 1e6, 1e6, "test")  # $1 per token: each fake request costs 10 + 5 = $15
    budget = Budget(max_cost=50, price=price)
    summary = run(small_corpus, tmp_path / "out", RequestCache(tmp_path / "c.sqlite"), CodecBackend(), budget=budget)
    assert budget.sent == 3 and budget.spent == 45.0  # 1 request, then the 2 that fit, then none
    assert summary.stopped == "reached --max-cost $50 ($45.0000 spent on 3 requests)"
    with pytest.raises(ConfigError, match="--max-cost needs a price"):
        Budget(max_cost=1.0)


def test_prices_builtin_override_and_matching(tmp_path):
    prices = load_prices()
    assert price_for("gpt-4o-mini-2024-07-18", prices).model == "gpt-4o-mini"
    assert price_for("openai/gpt-4o", prices).model == "gpt-4o"
    assert price_for("my-local-model", prices) is None
    f = tmp_path / "p.yaml"
    f.write_text("gpt-4o-mini: {input: 1, output: 2}\nmy-local-model: {input: 0.01, output: 0.02}\n")
    prices = load_prices(f)
    assert price_for("gpt-4o-mini", prices).input == 1.0 and price_for("my-local-model", prices).output == 0.02
    f.write_text("bad: {input: 1}\n")
    with pytest.raises(ConfigError, match="entry 'bad'"):
        load_prices(f)


def test_even_sample():
    assert even_sample(5, 10) == [0, 1, 2, 3, 4]
    assert even_sample(100, 4) == [0, 25, 50, 75]


def test_completion_range_from_the_history_spread():
    plan = Plan(task="queries", backend="fake", model="m", form="chat", passages=77, requests=77, max_tokens=256,
                completion_tokens_per_request=17.0)
    plan.history = {"requests": 56, "completion_tokens": 17.0, "completion_sd": 5.0, "capped": 0, "parsed": 1.0}
    low, high = plan.completion_range
    spread = 1.96 * 5.0 * (77 + 77 * 77 / 56) ** 0.5
    assert low == pytest.approx(77 * 17 - spread)
    assert high == pytest.approx(77 * 17 + spread + 77 * 3 / 56 * (256 - 17))  # none capped: rule of three
    plan.history["capped"] = 2
    assert plan.completion_range[1] == pytest.approx(77 * 17 + spread)


def test_plan_counts_the_retries_of_cached_answers_exactly(small_corpus, tmp_path):
    cache = RequestCache(tmp_path / "c.sqlite")
    run(small_corpus, tmp_path / "out", cache, CodecBackend(), budget=Budget(max_requests=4))  # d3's retry unsent
    plan = run(small_corpus, tmp_path / "out", cache, CodecBackend(), dry_run=True)
    assert plan.cached == 4 and plan.cached_retries == 0
    assert plan.to_send == 3 and plan.retries_of_cached == 1  # d5, d6, and d3's retry (its answer does not parse)
    assert plan.open == {1: 2, 0: 1}  # d5, d6 may still retry once; d3's retry is its last attempt
    assert plan.parse_rate == pytest.approx(3 / 4)
    assert plan.expected_requests == pytest.approx(2 * (1 + 1 / 4) + 1)
    assert "+ 1 retries of cached answers that do not parse" in plan.render()
    backend = CodecBackend()
    run(small_corpus, tmp_path / "out", cache, backend)
    assert backend.generated == 3
    again = run(small_corpus, tmp_path / "out", cache, CodecBackend(), dry_run=True)
    assert again.cached == 6 and again.cached_retries == 1 and again.to_send == 0 and again.seconds == 0
    assert "everything is in the cache" in again.render()


def test_no_history_uses_the_task_defaults(small_corpus, tmp_path):
    chat = run(small_corpus, tmp_path / "out", RequestCache(tmp_path / "c.sqlite"), CodecBackend(), dry_run=True)
    assert chat.parse_rate is None and chat.completion_tokens_per_request == 256  # chat form: no default
    assert chat.expected_requests == 6 and "retries not counted" in chat.render()
    completion = run(small_corpus, tmp_path / "out", RequestCache(tmp_path / "c.sqlite"), CodecBackend(chat=False),
                     dry_run=True)
    rate, tokens, source = get_task("queries").plan_defaults("completion")
    assert completion.parse_rate == rate and completion.completion_tokens_per_request == tokens
    assert completion.expected_requests == pytest.approx(6 * (1 + (1 - rate)))
    assert completion.completion_tokens == pytest.approx(completion.expected_requests * tokens)
    assert source in completion.render() and "(no history)" in completion.render()


class EngineBackend(CodecBackend):
    """The fake backend posing as an in-process engine that must start."""

    def start_label(self):
        return "starting the fake engine"


def test_time_is_engine_start_plus_generation_from_history(small_corpus, tmp_path):
    cache = RequestCache(tmp_path / "c.sqlite")
    plan = run(small_corpus, tmp_path / "out", cache, EngineBackend(), dry_run=True)
    assert plan.seconds is None and "time             unknown" in plan.render()  # not the embedded model
    for start, req, sec in [(20.0, 100, 50.0), (0.0, 10, 10.0), (40.0, 90, 40.0)]:  # a run's retry: no start
        cache.record_throughput("fake", "fake-model", "queries", req, 0, 0, sec, start)
    plan = run(small_corpus, tmp_path / "out", cache, EngineBackend(), dry_run=True)
    assert plan.seconds_per_request == pytest.approx(100 / 200) and plan.start_seconds == pytest.approx(30.0)
    assert plan.seconds == pytest.approx(30.0 + plan.expected_requests * 0.5)
    text = plan.render()
    assert "engine start 30 s (history: mean of 2 earlier starts)" in text
    assert "history: 200 requests generated in 100 s over 3 earlier passes, start-up left out" in text
    api = run(small_corpus, tmp_path / "out", cache, CodecBackend(), dry_run=True)  # no engine to start
    assert api.start_seconds == 0 and api.seconds == pytest.approx(api.expected_requests * 0.5)


def test_throughput_rows_of_old_caches_are_not_used(tmp_path):
    import sqlite3

    db = sqlite3.connect(tmp_path / "c.sqlite")  # a cache written before start-up was timed apart
    db.execute("CREATE TABLE throughput (backend TEXT, model TEXT, task TEXT, requests INTEGER, "
               "prompt_tokens INTEGER, completion_tokens INTEGER, seconds REAL, created REAL)")
    db.execute("INSERT INTO throughput VALUES ('vllm', 'm', 'queries', 2, 800, 40, 40.7, 0)")
    db.commit()
    db.close()
    cache = RequestCache(tmp_path / "c.sqlite")
    assert cache.throughput_history("vllm", "m", "queries") is None
    cache.record_throughput("vllm", "m", "queries", 30, 12000, 600, 45.0, 35.0)
    hist = cache.throughput_history("vllm", "m", "queries")
    assert hist["requests"] == 30 and hist["seconds_per_request"] == 1.5 and hist["start_seconds"] == 35.0


def test_a_small_history_is_pulled_toward_the_task_default(small_corpus, tmp_path):
    cache = RequestCache(tmp_path / "c.sqlite")
    run(small_corpus, tmp_path / "out", cache, CodecBackend(chat=False))  # a first run: a history of a few answers
    plan = generate(get_task("queries", seed=1), CorpusOptions(str(small_corpus)), tmp_path / "o2",
                    backend=CodecBackend(chat=False), cache=cache, progress=False, echo=None, dry_run=True)
    rate, tokens, _ = get_task("queries").plan_defaults("completion")
    h = cache.usage_history("fake", "fake-model", "queries", 256)
    n = h["requests"]
    assert n < 20 and h["completion_tokens"] == 5.0
    assert plan.parse_rate == pytest.approx((n * h["parsed"] + 20 * rate) / (n + 20))
    assert plan.completion_tokens_per_request == pytest.approx((n * 5 + 20 * tokens) / (n + 20))
    assert f"history: {n} earlier answers, with the task's default counted as 20 more" in plan.render()
