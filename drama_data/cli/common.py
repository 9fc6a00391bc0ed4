"""Shared pieces of the ``drama-data`` commands: turning our errors into clean CLI messages."""
from __future__ import annotations

import functools

import click

from drama_data.errors import DramaError


class CleanExit(click.ClickException):
    exit_code = 2


def clean_errors(fn):
    """Run a command body; a ``DramaError`` becomes ``Error: <message>`` and exit code 2, no traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except DramaError as exc:
            raise CleanExit(str(exc)) from None

    return wrapper
