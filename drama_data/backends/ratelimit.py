"""Requests-per-minute and tokens-per-minute budgets for API backends, shared by all workers of a run.

In: the budgets a user sets (``rpm``, ``tpm``; ``None`` = no budget) and, as responses come in, the
server's ``x-ratelimit-*`` headers (OpenAI, Azure, OpenRouter, vLLM behind LiteLLM, ... send
``x-ratelimit-limit-requests``, ``-limit-tokens``, ``-remaining-requests``, ``-remaining-tokens``,
``-reset-requests`` and ``-reset-tokens``). Out: :meth:`RateLimiter.acquire` returns when one more request
of an estimated size may start.

How it limits
    Two token buckets that may go into debt (the GCRA form of a token bucket): each refills at
    ``budget / 60`` per second; a request may start once neither bucket is in debt, and then takes one
    request and its estimated tokens (prompt characters / 4 + ``max_tokens``, the way the large providers
    reserve them). When the answer reports its real ``usage``, the difference is given back or charged
    (:meth:`RateLimiter.settle`), so the long-run token rate is the real one. The buckets start empty (no
    burst at the start of a run) and keep at most ``burst_seconds`` (1 s) of unused budget: enough to make
    up for a late start of a request, too little to exceed the budget over any few seconds (the providers
    measure per minute). Waiting requests start in arrival order (one lock), so no worker starves.

Server headers
    A ``limit`` header lowers the budget to the server's (never raises it above the user's); a
    ``remaining`` of 0 pauses every worker until the matching ``reset`` (``"1s"``, ``"6m0s"``, ``"20ms"``)
    has passed. Without budgets and without headers the limiter costs nothing per request.
"""
from __future__ import annotations

import asyncio
import math
import re
import time
from typing import Any

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_reset(value: Any) -> float | None:
    """Seconds in an ``x-ratelimit-reset-*`` value: ``"1s"``, ``"6m0s"``, ``"20ms"``, ``"1h2m3.5s"`` or a bare
    number of seconds. ``None`` when absent or unparseable; never negative."""
    if value is None:
        return None
    text = str(value).strip().lower()
    try:
        seconds = float(text)
        return max(0.0, seconds) if math.isfinite(seconds) else None
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text.replace(" ", ""):
        return None
    return sum(float(n) * _UNIT[u] for n, u in parts)


def _number(value: Any) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) and x >= 0 else None


def estimate_tokens(text_chars: int, max_tokens: int) -> int:
    """Tokens a request reserves before its answer is known: prompt characters / 4 plus ``max_tokens``."""
    return int(math.ceil(text_chars / 4)) + max(0, int(max_tokens))


class _Bucket:
    """One budget: ``rate`` units per second, ``level`` may go negative (debt), capped at ``cap``."""

    def __init__(self, per_minute: float | None, burst_seconds: float):
        self.burst_seconds = burst_seconds
        self.level = 0.0
        self.per_minute: float | None = None
        self.set_budget(per_minute)

    def set_budget(self, per_minute: float | None) -> None:
        self.per_minute = per_minute if per_minute and per_minute > 0 else None

    @property
    def rate(self) -> float:
        return self.per_minute / 60.0 if self.per_minute else math.inf

    def refill(self, elapsed: float) -> None:
        if self.per_minute:
            self.level = min(self.rate * self.burst_seconds, self.level + elapsed * self.rate)

    def wait(self) -> float:
        """Seconds until the bucket is out of debt (0 when a request may start now)."""
        if not self.per_minute or self.level >= 0:
            return 0.0
        return -self.level / self.rate


class RateLimiter:
    """Shared RPM/TPM budgets of one run (see the module docstring). Use from one event loop.

    ``rpm``/``tpm``: the user's budgets per minute (``None``: none, unless the server's headers set one).
    ``burst_seconds``: how much unused budget a bucket keeps (seconds' worth).
    """

    def __init__(self, rpm: float | None = None, tpm: float | None = None, *, burst_seconds: float = 1.0,
                 clock=time.monotonic):
        for name, value in (("rpm", rpm), ("tpm", tpm)):
            if value is not None and not value > 0:
                raise ValueError(f"--{name} must be positive, got {value}")
        self.user_rpm, self.user_tpm = rpm, tpm
        self.clock = clock
        self.requests = _Bucket(rpm, burst_seconds)
        self.tokens = _Bucket(tpm, burst_seconds)
        self.pause_until = 0.0
        self._last = clock()
        self._lock: asyncio.Lock | None = None
        self._changed: asyncio.Event | None = None  # set when a refund may shorten a wait
        #: Seen limits from the server (for the log line at the end of a run).
        self.server_limits: dict[str, float] = {}

    @property
    def active(self) -> bool:
        """Whether requests may have to wait at all (a budget is known or the server asked for a pause)."""
        return bool(self.requests.per_minute or self.tokens.per_minute or self.pause_until > self.clock())

    def _refill(self) -> float:
        now = self.clock()
        elapsed, self._last = now - self._last, now
        self.requests.refill(elapsed)
        self.tokens.refill(elapsed)
        return now

    async def acquire(self, tokens: int = 0) -> None:
        """Wait until one request with ``tokens`` estimated tokens may start, then take them."""
        if not self.active:
            return
        if self._lock is None:
            self._lock, self._changed = asyncio.Lock(), asyncio.Event()
        async with self._lock:  # arrival order
            while True:
                now = self._refill()
                wait = max(self.requests.wait(), self.tokens.wait() if tokens else 0.0, self.pause_until - now)
                if wait <= 0:
                    break
                self._changed.clear()
                try:  # until the debt is paid, or a refund comes in first
                    async with asyncio.timeout(wait):
                        await self._changed.wait()
                except TimeoutError:
                    pass
            if self.requests.per_minute:
                self.requests.level -= 1
            if self.tokens.per_minute:
                self.tokens.level -= tokens

    def settle(self, estimated: int, actual: int) -> None:
        """Correct a request's token charge once its real usage is known (a refund when ``actual`` is less)."""
        if self.tokens.per_minute and actual != estimated:
            self._refill()
            cap = self.tokens.rate * self.tokens.burst_seconds
            self.tokens.level = min(cap, self.tokens.level + estimated - actual)
            if self._changed is not None and actual < estimated:
                self._changed.set()

    def observe(self, headers: Any) -> None:
        """Adopt the server's ``x-ratelimit-*`` limits and pause everyone while a window is used up."""
        get = headers.get
        now = None
        for kind, bucket, user in (("requests", self.requests, self.user_rpm), ("tokens", self.tokens, self.user_tpm)):
            limit = _number(get(f"x-ratelimit-limit-{kind}"))
            if limit:
                self.server_limits[kind] = limit
                budget = min(limit, user) if user else limit
                if budget != bucket.per_minute:
                    bucket.set_budget(budget)
            remaining = _number(get(f"x-ratelimit-remaining-{kind}"))
            if remaining is not None and remaining < 1:
                reset = parse_reset(get(f"x-ratelimit-reset-{kind}"))
                if reset:
                    now = self.clock() if now is None else now
                    self.pause_until = max(self.pause_until, now + reset)

    def describe(self) -> dict:
        """The budgets in force (for provenance): ``{"rpm": ..., "tpm": ...}`` (``None`` when unlimited)."""
        return {"rpm": self.requests.per_minute, "tpm": self.tokens.per_minute}
