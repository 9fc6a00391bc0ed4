"""Prompt templates: Jinja2 files shipped in ``drama_data/prompts`` (or any path), in two forms.

- ``<task>.chat.j2`` renders chat messages for instruction-tuned models. Roles are opened with
  ``{{ role("system") }}``, ``{{ role("user") }}``, ``{{ role("assistant") }}`` (few-shot turns allowed).
- ``<task>.completion.j2`` renders plain few-shot text for base models (InPars-style).

A template may start with a metadata comment ``{#- drama: {"stop": [...], "response_prefix": "..."} -#}``:
``stop`` sequences are added to the sampling settings and ``response_prefix`` (text the prompt ends with,
e.g. ``"Task:"``) is put back in front of the completion before parsing. The prompt id is the file name and
the SHA-256 of its source goes into every row's provenance.
"""
from __future__ import annotations

import functools
import hashlib
import json
import re
import secrets
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2

from drama_data.errors import ConfigError

FORMS = ("chat", "completion")
_META_RE = re.compile(r"\{#-?\s*drama:\s*(\{.*?\})\s*-?#\}", re.DOTALL)
_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)


@functools.lru_cache(maxsize=64)
def _compiled(source: str) -> jinja2.Template:
    """``source`` compiled once per process: compiled per render, the queries prompt cost 6.3 ms of CPU per request
    (0.29 ms compiled once), so 1,000 requests spent seconds in Jinja's compiler before the first was sent."""
    return _ENV.from_string(source)


@dataclass(frozen=True)
class PromptTemplate:
    """A loaded template: ``render(**vars)`` gives a prompt string (completion) or a tuple of messages (chat)."""

    id: str
    form: str
    source: str
    meta: dict = field(default_factory=dict)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.source.encode("utf-8")).hexdigest()

    @property
    def stop(self) -> tuple[str, ...]:
        return tuple(self.meta.get("stop", ()))

    @property
    def response_prefix(self) -> str:
        return self.meta.get("response_prefix", "")

    def render(self, **variables: Any):
        nonce = secrets.token_hex(8)
        marker = f"\x00role:{nonce}:"
        try:
            text = _compiled(self.source).render(role=lambda name: f"{marker}{name}\x00", **variables)
        except jinja2.TemplateError as exc:
            raise ConfigError(f"prompt {self.id}: cannot render ({exc})") from None
        if self.form == "completion":
            if marker in text:
                raise ConfigError(f"prompt {self.id}: a completion prompt cannot use role()")
            return text[:-1] if text.endswith("\n") else text  # the file's final newline is not part of the prompt
        parts = re.split(re.escape(marker) + r"(\w+)\x00", text)
        if parts[0].strip():
            raise ConfigError(f"prompt {self.id}: text before the first role() in a chat prompt")
        messages = tuple(
            {"role": role, "content": content.strip()} for role, content in zip(parts[1::2], parts[2::2])
        )
        if not messages or messages[-1]["role"] != "user":
            raise ConfigError(f"prompt {self.id}: a chat prompt must end with a user turn")
        return messages


def _parse_meta(source: str, where: str) -> dict:
    m = _META_RE.search(source)
    if not m:
        return {}
    try:
        return json.loads(m.group(1))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{where}: the drama metadata comment is not valid JSON ({exc.msg})") from None


def load_prompt(task: str, form: str, path: str | Path | None = None) -> PromptTemplate:
    """Load ``path`` if given, else the shipped ``<task>.<form>.j2``."""
    if form not in FORMS:
        raise ConfigError(f"--prompt-format must be one of {FORMS}, got {form!r}")
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"--prompt {p}: no such file")
        source = p.read_text(encoding="utf-8")
        pid = p.name
    else:
        name = f"{task}.{form}.j2"
        ref = resources.files("drama_data.prompts").joinpath(name)
        if not ref.is_file():
            raise ConfigError(f"task {task!r} has no shipped {form} prompt ({name}); pass --prompt PATH")
        source = ref.read_text(encoding="utf-8")
        pid = name
    return PromptTemplate(id=pid, form=form, source=source, meta=_parse_meta(source, pid))
