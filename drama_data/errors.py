"""Errors that name what the user has to fix (file, line, id or option), never a deep traceback."""
from __future__ import annotations


class DramaError(Exception):
    """Base class of every error the toolkit raises on purpose; the CLIs print its message and exit 2."""


class InputError(DramaError):
    """Bad input: a missing file, a malformed line, a missing field, a duplicate or unknown id."""


class ConfigError(DramaError):
    """An option or configuration value that cannot work (names the option)."""


class BackendError(DramaError):
    """A backend could not be started or used at all (not a single failed request: those are recorded)."""


class AuthError(BackendError):
    """The server refused the API key (HTTP 401/403), or none was set: the run stops at the first such answer.
    The message names the environment variable the key was read from (``--api-key-env``), never the key."""


class ModelNotFoundError(BackendError):
    """The server does not serve ``--model`` (HTTP 404); the message lists the models it offers."""


class RequestsRejectedError(BackendError):
    """The server rejects the requests themselves (the same HTTP 400/422 for each of the first ones, or an
    account without quota): no row could succeed, so the run stops instead of failing every row."""
