"""What an OpenAI-compatible server's refusal means for a run, and the one line that stops it.

In: the status and raw body of an answer that is not retried (a 4xx other than 408/409/425 and a rate-limit 429).
Out: its kind (:func:`classify_rejection`) and, for the kinds that concern every request alike, the error that
ends the run (:func:`refusal_error`, :func:`rejected_requests_error`): one line naming what to fix (the key's
variable, the model, the account), quoting the server with every trace of the key masked. Used by the ``openai``
and ``openai-batch`` backends (:mod:`drama_data.backends.openai`, :mod:`drama_data.backends.openai_batch`).

Kinds
    ``auth`` (401, 403), ``model`` (404), ``quota`` (402; 429 ``insufficient_quota``): the same for every
    request, so the run stops at the first one (:data:`FATAL_KINDS`). ``context`` (413; a 400/422 about the
    context length: OpenAI's ``context_length_exceeded``, vLLM's "maximum context length") and ``content`` (a
    content filter's 400): that prompt's own failure, never a reason to stop (:data:`ROW_KINDS`). ``request``:
    any other client error (a parameter the server does not accept, a wrong prompt form); the backend stops
    when the first answers of a run are all such rejections.
"""
from __future__ import annotations

import json
import re
from typing import Any

from drama_data.errors import AuthError, BackendError, ModelNotFoundError, RequestsRejectedError

#: Kinds that stop the whole run at the first answer.
FATAL_KINDS = frozenset({"auth", "model", "quota"})
#: Kinds that are the failure of that one request (its prompt), never a reason to stop; their labels in errors.
ROW_KINDS = {"context": "prompt over the context limit", "content": "content filter"}
_CONTEXT_WORDS = re.compile(
    r"context[ _-]?length|context window|maximum context|max_model_len|too many (?:input )?tokens|"
    r"prompt is too long|input (?:length|tokens?) .{0,60}exceed|reduce the length", re.I)
_CONTENT_WORDS = re.compile(r"content[ _-]?(?:filter|management|policy)|flagged|usage polic|invalid_prompt|"
                            r"responsible ?ai|safety system", re.I)


def server_message(raw: str) -> str:
    """The human part of an error body: ``error.message`` / ``message`` / ``detail``, else the body head."""
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        for key in ("message", "detail", "error"):
            value = data.get(key)
            if value:
                return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    head = " ".join(raw.split())[:300]
    return head or "(empty body)"


def error_code(raw: str) -> str:
    """``error.code`` (else ``error.type``) of an OpenAI-style error body, as a string ("" when there is none)."""
    try:
        data = json.loads(raw)
    except ValueError:
        return ""
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict):
        return str(err.get("code") or err.get("type") or "")
    return ""


def classify_rejection(status: int, raw: str) -> str:
    """The kind of a refusal with ``status`` and raw body ``raw`` (see the module doc): ``"auth"``, ``"model"``,
    ``"quota"``, ``"context"``, ``"content"`` or ``"request"``."""
    code = error_code(raw)
    if status in (401, 403):
        return "auth"
    if status == 404:
        return "model"
    if status == 402 or code == "insufficient_quota":
        return "quota"
    text = f"{code} {server_message(raw)}"
    if status == 413 or code == "context_length_exceeded" or _CONTEXT_WORDS.search(text):
        return "context"
    if code in ("content_filter", "content_policy_violation", "invalid_prompt") or _CONTENT_WORDS.search(text):
        return "content"
    return "request"


def one_line(text: str, limit: int = 300) -> str:
    """``text`` on one line (whitespace collapsed), cut to ``limit`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def model_ids(status: int, raw: bytes | str) -> list[str] | None:
    """The ids of a ``GET /models`` answer, or ``None`` when it is not a 200 with a ``data`` list."""
    if status != 200:
        return None
    try:
        data = json.loads(raw).get("data")
    except (ValueError, AttributeError, TypeError):
        return None
    if not isinstance(data, list):
        return None
    return [str(m["id"]) for m in data if isinstance(m, dict) and m.get("id") is not None]


def refusal_error(backend: Any, kind: str, status: int, raw: str, redact: Any, served: list[str] | None = None,
                  where: str = "") -> BackendError:
    """The one-line error that stops a run after a refusal of ``kind`` (one of :data:`FATAL_KINDS`).

    ``backend``: the ``openai`` backend that got it (its ``base_url``, ``model``, ``api_key_env``, ``key_state()``
    and whether the URL carries a user and password); ``status``/``raw``: the answer to ``where`` (e.g.
    ``"GET /models"``); ``served``: the models ``GET /models`` listed (``None``: unknown); ``redact``: the run's
    redactor (its ``strict`` masks every trace of the key in the server's message).
    """
    said = one_line(redact.strict(server_message(raw)), 240)
    answered = f"{backend.base_url} answered HTTP {status}" + (f" to {where}" if where else "")
    env = backend.api_key_env
    if kind == "auth":
        state = backend.key_state()
        if backend._userinfo:
            cause = "the user and password in --base-url were refused"
        elif state != "set":
            cause = (f"${env} is {'not set' if state == 'unset' else 'empty'}, so no API key was sent (export "
                     f"{env}=<key>, or name the variable with --api-key-env)")
        else:
            cause = (f"the API key in ${env} was refused" + (" for this model or endpoint (forbidden)" if status == 403
                                                              else "") + " (check it, or name another variable with "
                     "--api-key-env)")
        return AuthError(f"{answered}: {cause}; the server says: {said!r}. Nothing was marked done: rerun the same "
                         f"command with a valid key to resume")
    if kind == "model":
        if served:
            listed = ", ".join(served[:20]) + (f", ... ({len(served)} in all)" if len(served) > 20 else "")
            offers = f"it serves: {redact(listed)}"
        elif served is not None:
            offers = "its GET /models lists no model"
        else:
            offers = "its GET /models did not say which models it serves (check --base-url)"
        return ModelNotFoundError(f"--model {backend.model!r}: {answered} ({said}); {offers}")
    return RequestsRejectedError(f"{answered}: the account cannot be charged ({said}); add credit or quota (or use "
                                 f"another key via --api-key-env) and rerun the same command to resume")


def rejected_requests_error(base_url: str, messages: list[str], status: int) -> RequestsRejectedError:
    """The error for a run whose first ``len(messages)`` answers were all ``request`` rejections (their messages,
    already redacted), the last with ``status``: the commonest message is quoted."""
    said = max(set(messages), key=messages.count)
    return RequestsRejectedError(
        f"{base_url} rejected each of the first {len(messages)} requests (HTTP {status}: {said!r}) and none "
        f"succeeded: the request itself is wrong for this server, not one row (check --model, --prompt-format, "
        f"--max-tokens, --temperature/--top-p and the server's options); nothing was marked done")
