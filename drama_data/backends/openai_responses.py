"""What an OpenAI-compatible server's answer means: a 2xx completion body turned into a
:class:`~drama_data.backends.base.Completion` (:func:`parse_completion_body`), its finish reason mapped
(:func:`map_finish_reason`), and one HTTP attempt's :class:`Outcome`. Used by the online API
(:mod:`drama_data.backends.openai`) and the Batch API (:mod:`drama_data.backends.openai_batch`), whose result
lines hold the same bodies.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from drama_data.backends.base import Completion
from drama_data.backends.refusals import server_message

#: Characters of an error body kept in a failed completion's text.
MAX_ERROR_BODY = 4000
LENGTH_REASONS = frozenset({"length", "max_tokens", "model_length"})


@dataclass
class Outcome:
    """What one HTTP attempt gave: a completion, or a reason to retry or give up."""

    completion: Completion | None = None
    error: str = ""
    raw: str = ""
    status: int | None = None
    retryable: bool = True
    retry_after: float | None = None
    connect_failure: bool = False
    kind: str = ""  # for a non-retried 4xx: what it means for the run (classify_rejection)


def map_finish_reason(raw: Any) -> str:
    """Map a server's ``finish_reason`` onto ``"stop"``, ``"length"`` or ``"error"`` (content filter).

    Everything else (``"stop"``, ``"eos"``, ``"tool_calls"``, a missing reason, vendor spellings) is ``"stop"``.
    """
    if raw in LENGTH_REASONS:
        return "length"
    if raw == "content_filter":
        return "error"
    return "stop"


def as_int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def parse_completion_body(raw: str, status: int, chat: bool) -> Outcome:
    """Turn a 2xx body into a completion, or a retryable outcome if it is empty or malformed."""
    def bad(why: str) -> Outcome:
        return Outcome(error=f"malformed response body ({why})", raw=raw, status=status)

    if not raw.strip():
        return bad("empty body")
    try:
        data = json.loads(raw)
    except ValueError as exc:
        return bad(f"not JSON: {exc}")
    if not isinstance(data, dict):
        return bad("not a JSON object")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        if isinstance(data.get("error"), (dict, str)):
            return bad(f"error in body: {server_message(raw)}")
        return bad("no choices")
    choice = choices[0]
    if chat:
        message = choice.get("message")
        if not isinstance(message, dict):
            return bad("choices[0].message missing")
        text = message.get("content")
        if isinstance(text, list):  # content parts
            text = "".join(p.get("text", "") for p in text if isinstance(p, dict))
    else:
        text = choice.get("text")
    if text is None:
        text = ""
    if not isinstance(text, str):
        return bad("the text is not a string")
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    raw_reason = choice.get("finish_reason")
    reason = map_finish_reason(raw_reason)
    extra: dict[str, Any] = {}
    if raw_reason not in (None, "stop", "length"):
        extra["finish_reason_raw"] = raw_reason
    return Outcome(completion=Completion(
        text=text, finish_reason=reason,
        prompt_tokens=as_int(usage.get("prompt_tokens")),
        completion_tokens=as_int(usage.get("completion_tokens")),
        error="the server's content filter stopped the output" if reason == "error" else None,
        extra=extra,
    ))
