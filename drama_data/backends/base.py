"""The backend interface: a list of requests in, one completion per request out, as each finishes.

A request is either chat messages (instruction-tuned models) or a plain completion prompt (base models,
few-shot). A backend never raises for one failed request: it yields a ``Completion`` whose ``error`` says
what happened, so the runner can record it and retry it on a later run.
"""
from __future__ import annotations

import abc
import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Sampling:
    """Sampling settings of one request (paper defaults for query generation: 0.8 / 0.9 / 256)."""

    temperature: float = 0.8
    top_p: float = 0.9
    max_tokens: int = 256
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def as_dict(self) -> dict:
        d = asdict(self)
        d["stop"] = list(self.stop)
        return d


@dataclass(frozen=True)
class Request:
    """One generation request. Exactly one of ``messages`` (chat) and ``prompt`` (completion) is set.

    ``id`` is unique within a run and stable across runs (the runner uses it to order results).
    """

    id: str
    sampling: Sampling
    messages: tuple[dict, ...] | None = None
    prompt: str | None = None

    def __post_init__(self):
        if (self.messages is None) == (self.prompt is None):
            raise ValueError("a Request needs exactly one of messages= and prompt=")

    @property
    def form(self) -> str:
        return "chat" if self.messages is not None else "completion"

    def content(self) -> str:
        """The rendered prompt as one canonical string (for cache keys)."""
        if self.prompt is not None:
            return self.prompt
        return json.dumps(list(self.messages), ensure_ascii=False, sort_keys=True)


@dataclass
class Completion:
    """What a backend returned for one request.

    ``finish_reason`` is ``"stop"``, ``"length"`` or ``"error"``; on error, ``error`` holds the message and
    ``text`` whatever raw body was received (possibly empty).
    """

    text: str
    finish_reason: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Completion:
        return cls(**d)


class Backend(abc.ABC):
    """Generates completions for requests. Subclasses: one module each under ``drama_data.backends``.

    Attributes used for cache keys and provenance: ``name`` (e.g. ``"vllm"``) and ``model`` (the model
    identity as the user gave it, never a secret).
    """

    name: str = "base"
    model: str = ""
    #: where an engine's own output (start-up log, warnings) is written; set by the runner
    log_path: Path | None = None
    #: the settings it was built with (:mod:`drama_data.backends.settings`), when built by name
    settings: object = None

    @property
    def cache_name(self) -> str:
        """The backend's name in request cache keys: ``name``, unless it gives the same completions as another
        backend (the Batch API mode of ``openai`` answers what the online API answers, so it uses ``openai``)."""
        return self.name

    @property
    def cache_model(self) -> str:
        """The model's identity in request cache keys: ``model``, plus a revision where the same name has
        meant different weights or tokenization (so completions of the old one are not reused)."""
        return self.model

    @abc.abstractmethod
    def generate(self, requests: Sequence[Request]) -> Iterator[tuple[int, Completion]]:
        """Yield ``(index into requests, completion)`` as each request finishes, in any order.

        Every request is answered exactly once (with an error completion if it failed).
        """

    def start(self) -> object:
        """Make the backend ready to answer (load an engine, open a session). Called before the first request
        is timed, so progress rates leave start-up out; ``generate`` starts it anyway if not called."""
        return None

    def start_label(self) -> str | None:
        """What :meth:`start` will do, for the user ("starting vLLM engine ..."); ``None`` when it is instant."""
        return None

    def supports_chat(self) -> bool:
        """Whether the model has a chat template (decides the default prompt form)."""
        return True

    def info(self) -> dict:
        """Settings that describe this backend for provenance (no secrets)."""
        return {"backend": self.name, "model": self.model}

    def close(self) -> None:  # noqa: B027  (a no-op by default; backends holding engines override it)
        """Release engines, sessions and processes."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
