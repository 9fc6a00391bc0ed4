"""The task interface: a passage -> request slots -> requests; a completion -> one row or a ``ParseFailure``.

A *slot* is one output row a task wants for a passage (e.g. ``"<passage_id>/q0"`` for the first query);
its id is stable across runs and becomes the row's ``query_id``. The runner asks for a request per slot and
attempt (a retry after a parse failure is a new attempt with a new seed), stores the completion, and calls
``parse``. Tasks that need no LLM (``uses_llm = False``) implement ``direct`` instead.
"""
from __future__ import annotations

import abc
import hashlib
from typing import Any

import pyarrow as pa

from drama_data.backends.base import Request, Sampling
from drama_data.chunking import Passage
from drama_data.tasks.parse_failure import ParseFailure
from drama_data.tasks.prompting import PromptTemplate, load_prompt


def derive_seed(seed: int, *parts: Any) -> int:
    """A 31-bit seed from a run seed and stable parts (slot id, attempt): same inputs, same seed."""
    h = hashlib.sha256(repr((seed,) + parts).encode("utf-8")).digest()
    return int.from_bytes(h[:4], "big") & 0x7FFFFFFF


class Task(abc.ABC):
    """Base class. Subclasses set ``name``, ``source`` (the row's data source label) and ``columns``."""

    name: str = "task"
    source: str = ""
    uses_llm: bool = True
    #: task-specific output columns (name -> arrow type), in addition to the common ones
    columns: dict[str, pa.DataType] = {}

    def __init__(self, *, seed: int = 0, sampling: Sampling | None = None, max_attempts: int = 1,
                 prompt_path: str | None = None):
        self.seed = seed
        self.sampling = sampling or Sampling()
        self.max_attempts = max(1, max_attempts)
        self.prompt_path = prompt_path
        self.prompt: PromptTemplate | None = None
        self._example_cache: dict[tuple, frozenset[str]] = {}

    # -- prompt ----------------------------------------------------------------------------------------
    def use_form(self, form: str) -> PromptTemplate:
        """Load the prompt of ``form`` ("chat" or "completion") for this task."""
        self.prompt = load_prompt(self.prompt_name(), form, self.prompt_path)
        return self.prompt

    def prompt_name(self) -> str:
        """The packaged prompt this task renders (``<name>.<form>.j2``); the task's name by default."""
        return self.name

    def sampling_for(self, slot: str, attempt: int) -> Sampling:
        s = self.sampling
        stop = tuple(dict.fromkeys(s.stop + (self.prompt.stop if self.prompt else ())))
        return Sampling(temperature=s.temperature, top_p=s.top_p, max_tokens=s.max_tokens, stop=stop,
                        seed=derive_seed(self.seed, slot, attempt))

    # -- the interface ---------------------------------------------------------------------------------
    def slots(self, passage: Passage) -> list[str]:
        """The ids of the rows this task wants for ``passage``."""
        return [f"{passage.id}/{self.source or self.name}0"]

    def request(self, passage: Passage, slot: str, attempt: int) -> Request:
        """The request for ``slot`` at ``attempt`` (0-based)."""
        assert self.prompt is not None, "call use_form() first"
        return self.render_request(f"{slot}@{attempt}", self.variables(passage, slot), self.sampling_for(slot, attempt))

    def render_request(self, request_id: str, variables: dict, sampling: Sampling) -> Request:
        """The prompt rendered with ``variables`` as a chat or completion request, as the prompt's form says."""
        rendered = self.prompt.render(**variables)
        if self.prompt.form == "chat":
            return Request(id=request_id, messages=rendered, sampling=sampling)
        return Request(id=request_id, prompt=rendered, sampling=sampling)

    def variables(self, passage: Passage, slot: str) -> dict:
        """Template variables for ``passage`` (``title``, ``text``, ``passage_id`` by default)."""
        return {"title": passage.title, "text": passage.text, "passage_id": passage.id}

    @abc.abstractmethod
    def parse(self, passage: Passage, slot: str, text: str, finish_reason: str | None = None) -> dict:
        """Read a completion (with the prompt's response prefix restored) into the task's columns.

        ``finish_reason`` is the backend's (``"stop"`` or ``"length"``): a task may reject an answer that
        ``max_tokens`` cut off. Raises :class:`ParseFailure` for an answer that cannot make a row.
        """

    def example_queries(self, passage: Passage, slot: str) -> frozenset[str]:
        """The normalised queries of the few-shot examples in this slot's prompt (read from the prompt rendered
        with an empty passage, so they are exactly what the model saw; see
        :func:`drama_data.tasks.query_checks.prompt_example_queries`)."""
        from drama_data.tasks.query_checks import prompt_example_queries

        return self.prompt_examples(passage, slot, prompt_example_queries)

    def prompt_examples(self, passage: Passage, slot: str, extract, **blank) -> frozenset[str]:
        """``extract(rendered prompt)`` for this slot's prompt rendered with an empty passage (and ``blank``
        variables), cached per prompt and variables; empty without a prompt (tests, re-parsing stored text)."""
        if self.prompt is None:
            return frozenset()
        variables = {**self.variables(passage, slot), "title": "", "text": "", "passage_id": "", **blank}
        key = (extract, self.prompt.sha256, self.prompt.form, repr(sorted(variables.items())))
        if key not in self._example_cache:
            self._example_cache[key] = extract(self.prompt.render(**variables))
        return self._example_cache[key]

    def plan_defaults(self, form: str) -> tuple[float | None, float | None, str]:
        """``(parse rate, completion tokens per request, where they come from)`` for a ``--dry-run`` when the
        request cache has no history for the model and task (``None``: no default; the plan then counts no
        retries and takes ``max_tokens`` as the upper bound of an answer)."""
        return None, None, ""

    #: rows wanted per (passage language, query language) pair; ``None``: no quota (see :meth:`pair_of`)
    per_language: int | None = None

    def pair_of(self, passage: Passage, slot: str) -> tuple[str, str]:
        """``(passage language, query language)`` the slot asks for (``("", "")``: the task does not say). The
        runner counts quotas (``per_language``) and reports pass rates per pair with it."""
        return "", ""

    def followup(self, passage: Passage, slot: str, row: dict, attempt: int) -> Request | None:
        """A second request that checks a parsed row (the translate method's round trip), or ``None``. The
        runner sends the follow-ups of an attempt together and hands each answer to :meth:`check_followup`."""
        return None

    def check_followup(self, passage: Passage, slot: str, row: dict, text: str) -> dict:
        """Extra columns for ``row`` from the follow-up's answer (response prefix restored); raises
        :class:`ParseFailure` to reject the row (the slot is then retried like any failed attempt)."""
        return {}

    def own_passages(self) -> list[Passage] | None:
        """Passages the task brings itself (the translate method: those of its ``--queries`` folder), used
        instead of the corpus; ``None``: read the corpus."""
        return None

    def direct(self, passage: Passage) -> list[tuple[str, dict | ParseFailure]]:
        """For tasks with ``uses_llm = False``: rows for ``passage`` without any request."""
        raise NotImplementedError

    def info(self) -> dict:
        return {"task": self.name, "source": self.source, "seed": self.seed,
                "sampling": self.sampling.as_dict() if self.uses_llm else None,
                "max_attempts": self.max_attempts}
