"""Shared pieces of the ``drama-data`` (and ``drama-models``) commands: our errors become one-line CLI messages."""
from __future__ import annotations

import functools
import logging

import click

from drama_data.errors import DramaError


class CleanExit(click.ClickException):
    """``Error: <message>`` on stderr and exit code 2 (click prints it; no traceback)."""

    exit_code = 2


def one_line(err: BaseException) -> str:
    """``err``'s message on one line (whitespace runs, newlines included, become one space); an ``OSError`` other
    than a missing file is prefixed with its type (``PermissionError: ...``); an empty message is the type."""
    message = " ".join(str(err).split()) or type(err).__name__
    if isinstance(err, OSError) and not isinstance(err, FileNotFoundError):
        message = f"{type(err).__name__}: {message}"
    return message


def clean_errors(fn=None, *, catch: tuple[type[BaseException], ...] = (), debug_logger: str | None = None):
    """Run a command body; a ``DramaError`` (and any of ``catch``) becomes ``Error: <one line>``, exit code 2.

    The one implementation for ``drama-data`` and ``drama-models``: used bare (``@clean_errors``) it turns the
    toolkit's own errors (:class:`~drama_data.errors.DramaError`) into :func:`one_line` messages;
    ``catch`` adds exception types the command treats as bad input too (``drama-models`` adds ``ValueError``
    and ``OSError``), and with ``debug_logger`` set to a logger that is at DEBUG (``-vv``) they are re-raised
    with their traceback instead.
    """
    if fn is None:
        return functools.partial(clean_errors, catch=catch, debug_logger=debug_logger)
    caught = (DramaError, *catch)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except caught as exc:
            if debug_logger and logging.getLogger(debug_logger).isEnabledFor(logging.DEBUG):
                raise
            raise CleanExit(one_line(exc)) from None

    return wrapper
