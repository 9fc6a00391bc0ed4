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
