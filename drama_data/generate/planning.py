"""Plans (``drama-data generate --dry-run``): what a run will send and use, without a model or a request.

A plan counts passages and requests, how many are already in the request cache, and estimates for the rest:

- prompt tokens: counted with the model's real tokenizer (the vLLM backend's own codec, i.e. exactly the ids
  the engine would get; for an API model the Hugging Face tokenizer of that name when there is one, else
  about 4 characters per token, labelled as such) on an even sample of ``sample`` requests, extrapolated;
- completion tokens: the mean of this model's earlier requests for the task (the cache's usage history, same
  ``max_tokens``; same prompt when there are enough), with a likely range (:attr:`Plan.completion_range`:
  answer lengths are heavy-tailed, a model that rambles to ``max_tokens`` now and then moves the total a
  lot), else ``max_tokens`` as an upper bound;
- retries: from the share of earlier answers that did not parse (the task retries up to ``max_attempts``);
- cost: tokens times the model's price (:mod:`drama_data.generate.prices`); time: earlier runs' seconds per request.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Sequence

from drama_data.backends.base import Backend, Request
from drama_data.generate.cache import RequestCache, request_key
from drama_data.generate.budget import Budget
from drama_data.generate.prices import Price, load_prices, price_for

log = logging.getLogger(__name__)
DEFAULT_SAMPLE = 64
MIN_PROMPT_HISTORY = 20  # earlier requests with the same prompt needed to prefer them over the task's history


@dataclass
class Plan:
    """The numbers of a plan; ``render()`` is what ``--dry-run`` prints."""

    task: str
    backend: str
    model: str
    form: str
    passages: int
    requests: int
    cached: int = 0
    sample: int = 0
    tokenizer: str = ""
    prompt_tokens_per_request: float = 0.0
    completion_tokens_per_request: float = 0.0
    completion_source: str = ""
    max_tokens: int = 0
    max_attempts: int = 1
    parse_rate: float | None = None
    price: Price | None = None
    seconds_per_request: float | None = None
    history: dict | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def to_send(self) -> int:
        return self.requests - self.cached

    @property
    def expected_requests(self) -> float:
        """Requests to send, with the retries the parse-failure rate predicts (up to ``max_attempts``)."""
        if self.parse_rate is None:
            return float(self.to_send)
        fail = 1.0 - self.parse_rate
        return self.to_send * sum(fail ** k for k in range(self.max_attempts))

    @property
    def prompt_tokens(self) -> float:
        return self.expected_requests * self.prompt_tokens_per_request

    @property
    def completion_tokens(self) -> float:
        return self.expected_requests * self.completion_tokens_per_request

    @property
    def completion_range(self) -> tuple[float, float] | None:
        """A likely range (about 95%) of the completion tokens, from the history's spread: the sampling error
        of N new answers and of the history's mean, ``1.96 * sd * sqrt(N + N^2 / n)``; when no earlier answer
        reached ``max_tokens``, the high end also allows the share of such answers that ``n`` clean ones
        cannot rule out (rule of three: 3 / n)."""
        h = self.history
        if not h:
            return None
        n, total, mean = h["requests"], self.expected_requests, self.completion_tokens_per_request
        spread = 1.96 * h["completion_sd"] * (total + total * total / n) ** 0.5
        tail = total * min(1.0, 3 / n) * max(0.0, self.max_tokens - mean) if not h["capped"] else 0.0
        return max(0.0, self.completion_tokens - spread), self.completion_tokens + spread + tail

    @property
    def cost(self) -> float | None:
        return self.price.cost(self.prompt_tokens, self.completion_tokens) if self.price else None

    @property
    def seconds(self) -> float | None:
        return self.expected_requests * self.seconds_per_request if self.seconds_per_request else None

    def as_dict(self) -> dict:
        return {"task": self.task, "backend": self.backend, "model": self.model, "form": self.form,
                "passages": self.passages, "requests": self.requests, "cached": self.cached,
                "to_send": self.to_send, "expected_requests": round(self.expected_requests, 1),
                "sample": self.sample, "tokenizer": self.tokenizer,
                "prompt_tokens": round(self.prompt_tokens), "completion_tokens": round(self.completion_tokens),
                "completion_source": self.completion_source,
                "completion_range": [round(x) for x in self.completion_range] if self.completion_range else None,
                "cost_usd": None if self.cost is None else round(self.cost, 4),
                "seconds": None if self.seconds is None else round(self.seconds, 1)}

    def render(self) -> str:
        sample = (f"all {self.sample} requests" if self.sample >= self.to_send
                  else f"a sample of {self.sample} of {self.to_send} requests, extrapolated")
        lines = [
            f"drama-data generate --task {self.task} --dry-run: nothing loaded, nothing sent",
            f"  model            {self.model} (backend {self.backend}, {self.form} prompts)",
            f"  passages         {self.passages}",
            f"  requests         {self.requests} ({self.cached} already in the cache, {self.to_send} to send)",
        ]
        if self.parse_rate is not None and self.max_attempts > 1:
            lines.append(f"  with retries     about {self.expected_requests:.0f} (earlier answers parsed "
                         f"{100 * self.parse_rate:.0f}% of the time; up to {self.max_attempts} attempts)")
        elif self.max_attempts > 1:
            lines.append(f"  with retries     up to {self.to_send * self.max_attempts} if answers do not parse "
                         f"(no history to estimate the rate)")
        rng = self.completion_range
        rng_text = f"; likely {rng[0]:,.0f}-{rng[1]:,.0f}" if rng else ""
        lines += [
            f"  prompt tokens    {self.prompt_tokens:,.0f} ({self.prompt_tokens_per_request:.1f} per request; "
            f"{self.tokenizer}; counted on {sample})",
            f"  completion tok.  {self.completion_tokens:,.0f} ({self.completion_tokens_per_request:.1f} per "
            f"request; {self.completion_source}{rng_text})",
        ]
        if self.price is not None:
            lines.append(f"  cost             ${self.cost:,.4f} (${self.price.input}/1M in, ${self.price.output}/1M "
                         f"out; {self.price.source})")
        elif self.backend == "openai":
            lines.append(f"  cost             unknown: no price for {self.model!r} (give one with --prices FILE)")
        else:
            lines.append("  cost             local backend: no API cost (add the model to --prices FILE to price it)")
        if self.seconds is not None:
            lines.append(f"  time             about {self.seconds:,.0f} s ({self.seconds_per_request:.2f} s per "
                         "request in earlier runs of this model and task, start-up included)")
        else:
            lines.append("  time             unknown (no earlier run of this model and task)")
        lines += [f"  note             {n}" for n in self.notes]
        return "\n".join(lines)


def even_sample(n: int, k: int) -> list[int]:
    """``k`` indices spread evenly over ``range(n)`` (all of them when ``k >= n``)."""
    if k >= n:
        return list(range(n))
    return sorted({int(i * n / k) for i in range(k)})


def token_counter(backend: Backend, form: str) -> tuple[Callable[[Request], int], str]:
    """A function giving a request's prompt tokens as the model sees them, and a description of it."""
    codec = getattr(backend, "codec", None)
    if codec is not None:  # the vLLM backend: the very ids its engine gets
        if form == "chat":
            return (lambda r: len(codec.encode_chat(r.messages))), "the model's tokenizer with its chat template"
        return (lambda r: len(codec.encode(r.prompt))), "the model's tokenizer"
    tok = _hf_tokenizer(backend.model)
    if tok is not None:
        def count(r: Request) -> int:
            if r.messages is not None and getattr(tok, "chat_template", None):
                ids = tok.apply_chat_template(list(r.messages), tokenize=True, add_generation_prompt=True)
                return len(ids["input_ids"] if hasattr(ids, "keys") else ids)
            return len(tok(r.content() if r.prompt is None else r.prompt)["input_ids"])
        return count, f"tokenizer of {backend.model!r} from Hugging Face"
    return (lambda r: max(1, round(len(_plain(r)) / 4))), "approximate: 4 characters per token (no tokenizer found)"


def _plain(r: Request) -> str:
    if r.prompt is not None:
        return r.prompt
    return "\n".join(str(m.get("content", "")) for m in r.messages)


def _hf_tokenizer(name: str):
    from pathlib import Path

    if "/" not in name and not Path(name).is_dir():  # "gpt-4o-mini" is no Hugging Face id: do not ask the Hub
        return None
    try:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(name)
    except Exception as exc:  # not an HF id, offline, or no tokenizer files
        log.info("no Hugging Face tokenizer for %r (%s)", name, exc)
        return None


def make_plan(
    *,
    task: str,
    backend: Backend,
    form: str,
    passages: int,
    requests: Sequence[Request],
    cache: RequestCache | None,
    prompt_sha256: str,
    max_tokens: int,
    max_attempts: int = 1,
    price: Price | None = None,
    sample: int = DEFAULT_SAMPLE,
) -> Plan:
    """Estimate the run that would send ``requests`` (first attempts) through ``backend`` (see module doc)."""
    plan = Plan(task=task, backend=backend.name, model=backend.model, form=form, passages=passages,
                requests=len(requests), max_tokens=max_tokens, max_attempts=max_attempts, price=price)
    todo = list(requests)
    if cache is not None:
        keys = [request_key(backend.name, backend.cache_model, r) for r in requests]
        found = cache.get_many(keys)
        todo = [r for r, k in zip(requests, keys) if k not in found]
        plan.cached = len(requests) - len(todo)
    idx = even_sample(len(todo), max(1, sample))
    plan.sample = len(idx)
    count, plan.tokenizer = token_counter(backend, form)
    if idx:
        plan.prompt_tokens_per_request = sum(count(todo[i]) for i in idx) / len(idx)
    hist = None
    if cache is not None:
        hist = cache.usage_history(backend.name, backend.cache_model, task, max_tokens, prompt_sha256)
        if hist is None or hist["requests"] < MIN_PROMPT_HISTORY:
            hist = cache.usage_history(backend.name, backend.cache_model, task, max_tokens) or hist
        thr = cache.throughput_history(backend.name, backend.cache_model, task)
        if thr:
            plan.seconds_per_request = thr["seconds_per_request"]
    if hist:
        plan.history = hist
        plan.completion_tokens_per_request = hist["completion_tokens"]
        plan.parse_rate = hist["parsed"]
        plan.completion_source = (f"mean of {hist['requests']} earlier requests of this model and task in the "
                                  "request cache")
    else:
        plan.completion_tokens_per_request = float(max_tokens)
        plan.completion_source = f"upper bound: max_tokens {max_tokens} (no history for this model and task)"
    return plan


def plan_options(model: str | None, backend_name: str, o: dict):
    """``(price, budget)`` from ``--prices``, ``--max-cost`` and ``--max-requests`` (price ``None`` if unknown)."""
    from drama_data.embedded import EMBEDDED_MODEL, is_embedded

    label = EMBEDDED_MODEL if backend_name == "vllm" and is_embedded(model) else str(model)
    price = price_for(label, load_prices(o.get("prices")))
    budget = Budget(max_requests=o.get("max_requests"), max_cost=o.get("max_cost"), price=price)
    return price, budget
