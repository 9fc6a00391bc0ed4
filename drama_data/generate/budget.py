"""Stop conditions of a run: ``--max-requests N`` and ``--max-cost DOLLARS``.

:class:`Budget` wraps :func:`drama_data.generate.execution.execute`: cached requests are always answered (they cost
nothing); requests to send go out in chunks that fit what is left (``--max-requests`` exactly; ``--max-cost``
from the mean cost per request so far: one request first, then chunks of at most 64 that the mean says fit), and once the budget is spent the
rest are not sent and ``stopped`` says why. Everything sent is in the request cache, so rerunning the same
command (with a larger budget or none) continues where the run stopped and generates nothing twice.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from drama_data.backends.base import Backend, Completion, Request  # noqa: F401
from drama_data.errors import ConfigError
from drama_data.generate.cache import RequestCache, request_key
from drama_data.generate.execution import ExecutionStats, execute
from drama_data.generate.prices import Price

CHUNK = 64  # with --max-cost: requests per chunk once the cost per request is known (the first chunk is 1)


@dataclass
class Budget:
    """Limits over a whole run (all attempts); ``sent``/``spent`` count what this run generated."""

    max_requests: int | None = None
    max_cost: float | None = None
    price: Price | None = None
    sent: int = 0
    spent: float = 0.0
    stopped: str = ""
    _costs: list[float] = field(default_factory=list)

    def __post_init__(self):
        if self.max_requests is not None and self.max_requests < 0:
            raise ConfigError(f"--max-requests must not be negative, got {self.max_requests}")
        if self.max_cost is not None:
            if self.max_cost < 0:
                raise ConfigError(f"--max-cost must not be negative, got {self.max_cost}")
            if self.price is None:
                raise ConfigError("--max-cost needs a price for the model: add it to a --prices FILE")

    @property
    def limited(self) -> bool:
        return self.max_requests is not None or self.max_cost is not None

    def _allowance(self, todo: int) -> int:
        allow = todo
        if self.max_requests is not None:
            allow = min(allow, self.max_requests - self.sent)
            if allow <= 0:
                self.stopped = f"reached --max-requests {self.max_requests} ({self.sent} requests sent)"
                return 0
        if self.max_cost is not None:
            mean = sum(self._costs) / len(self._costs) if self._costs else 0.0
            left = self.max_cost - self.spent
            fits = (int(left // mean) if mean > 0 else CHUNK) if self._costs else 1
            allow = min(allow, CHUNK, fits)
            if allow <= 0 or left <= 0:
                self.stopped = f"reached --max-cost ${self.max_cost:g} (${self.spent:.4f} spent on {self.sent} requests)"
                return 0
        return allow

    def execute(self, requests: Sequence[Request], backend: Backend, cache: RequestCache | None, *,
                desc: str = "generate", progress: bool = True) -> tuple[dict[str, Completion], ExecutionStats]:
        """Like :func:`execute`, but requests past the budget get no completion (absent from the result)."""
        if not self.limited:
            return execute(requests, backend, cache, desc=desc, progress=progress)
        keys = [request_key(backend.cache_name, backend.cache_model, r) for r in requests]
        found = cache.get_many(keys) if cache is not None else {}
        cached = [r for r, k in zip(requests, keys) if k in found]
        todo = [r for r, k in zip(requests, keys) if k not in found]
        results, stats = execute(cached, backend, cache, desc=desc, progress=False) if cached else ({}, ExecutionStats())
        while todo and not self.stopped:
            n = self._allowance(len(todo))
            if n <= 0:
                break
            chunk, todo = todo[:n], todo[n:]
            res, st = execute(chunk, backend, cache, desc=desc, progress=progress)
            results.update(res)
            stats.add(st)
            self.sent += st.generated
            for r in chunk:
                c = res[r.id]
                cost = self.price.cost(c.prompt_tokens, c.completion_tokens) if self.price else 0.0
                self._costs.append(cost)
                self.spent += cost
        if todo and not self.stopped:
            self._allowance(len(todo))
        return results, stats
