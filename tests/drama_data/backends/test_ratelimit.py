"""RPM/TPM budgets: the limiter's arithmetic, then observed rates against the test server (a few seconds)."""
from __future__ import annotations

import asyncio

import pytest
from fake_openai_server import FakeOpenAIServer

from drama_data.backends.base import Request, Sampling
from drama_data.backends.openai import OpenAIBackend
from drama_data.backends.ratelimit import RateLimiter, estimate_tokens, parse_reset
from drama_data.errors import ConfigError

SAMPLING = Sampling(temperature=0.0, top_p=1.0, max_tokens=16)


def chat(i: int, text: str) -> Request:
    return Request(id=f"r{i}", sampling=SAMPLING, messages=({"role": "user", "content": text},))


def run(srv, requests, **kw) -> dict:
    b = OpenAIBackend("fake-model", base_url=srv.base_url, timeout=5.0, max_retries=1, backoff=0.01, **kw)
    out = dict(b.generate(requests))
    assert sorted(out) == list(range(len(requests))) and all(c.ok for c in out.values())
    return out


def rate(records, per) -> float:
    """Units per second between the first and the last request's start, counting every request but the last
    (the last one's units are spent after the window)."""
    records = sorted(records, key=lambda r: r.t_start)
    span = records[-1].t_start - records[0].t_start
    return sum(per(r) for r in records[:-1]) / span


def test_parse_reset_and_estimate():
    assert parse_reset("1s") == 1.0 and parse_reset("6m0s") == 360.0 and parse_reset("20ms") == 0.02
    assert parse_reset("1h2m3.5s") == 3723.5 and parse_reset("2.5") == 2.5
    assert parse_reset(None) is None and parse_reset("soon") is None and parse_reset("1x") is None
    assert estimate_tokens(40, 16) == 26


def test_limiter_arithmetic_with_a_fake_clock():
    now = [100.0]
    lim = RateLimiter(rpm=60, tpm=600, clock=lambda: now[0])
    asyncio.run(lim.acquire(30))  # the first request starts at once and leaves a debt
    assert lim.requests.wait() == pytest.approx(1.0) and lim.tokens.wait() == pytest.approx(3.0)
    lim.settle(30, 10)  # the answer used 10 tokens: 20 come back
    assert lim.tokens.wait() == pytest.approx(1.0)
    now[0] += 5  # idle time is banked for 1 s at most (no burst beyond one second's budget)
    lim._refill()
    assert lim.requests.level == 1 and lim.tokens.level == 10
    lim.observe({"x-ratelimit-limit-requests": "30", "x-ratelimit-limit-tokens": "100000",
                 "x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "1.5s"})
    assert lim.describe() == {"rpm": 30, "tpm": 600}  # the server lowers a budget, never raises it
    assert lim.pause_until == pytest.approx(106.5)
    with pytest.raises(ValueError):
        RateLimiter(rpm=0)
    with pytest.raises(ConfigError, match="--tpm"):
        OpenAIBackend("m", tpm=-1)


def test_rpm_budget_holds_within_5_percent():
    """600 requests/minute with 8 workers on a server that answers in ~0 s: 10 requests per second."""
    with FakeOpenAIServer(max_lifetime=60) as srv:
        run(srv, [chat(i, f"passage {i}") for i in range(31)], concurrency=8, rpm=600)
        observed = rate(srv.completion_records(), lambda r: 1)
    assert observed == pytest.approx(10.0, rel=0.05), observed


def test_tpm_budget_holds_within_5_percent():
    """12000 tokens/minute (200/s); answers report usage = prompt words + 2, far below the estimate
    (characters / 4 + max_tokens), so refunds must reach the waiting workers at once."""
    with FakeOpenAIServer(max_lifetime=60) as srv:
        requests = [chat(i, " ".join(f"w{i}x{k}" for k in range(10 + i % 20))) for i in range(60)]
        out = run(srv, requests, concurrency=8, tpm=12000)
        records = srv.completion_records()
        tokens = {r.prompt: len(r.prompt.split()) + 2 for r in records}
        observed = rate(records, lambda r: tokens[r.prompt])
    assert sum(c.prompt_tokens + c.completion_tokens for c in out.values()) == sum(tokens.values())
    assert observed == pytest.approx(200.0, rel=0.05), observed


def test_server_ratelimit_headers_set_the_budget():
    """No --rpm, but the server says 600 requests/minute: once the first answer is in, 10 per second."""
    with FakeOpenAIServer(max_lifetime=60, answer_headers={"x-ratelimit-limit-requests": "600",
                                                           "x-ratelimit-remaining-requests": "599"}) as srv:
        run(srv, [chat(i, f"passage {i}") for i in range(30)], concurrency=4)
        records = sorted(srv.completion_records(), key=lambda r: r.t_start)
    observed = rate(records[4:], lambda r: 1)  # the first 4 went out before any answer
    assert observed == pytest.approx(10.0, rel=0.05), observed


def test_generate_options_reach_the_backend():
    from drama_data.backends import build_backend

    b = build_backend("openai", "m", base_url="http://127.0.0.1:9/v1", concurrency=4, rpm=120.0, tpm=None)
    assert (b.rpm, b.tpm) == (120.0, None) and b.info()["rpm"] == 120.0
