"""Shared pieces of the ``drama-models`` commands: bad input becomes ``Error: <one line>`` and exit code 2."""
from __future__ import annotations

import functools
import logging

from drama_data.cli.common import CleanExit  # ``Error: <one line>``, exit code 2, as drama-data's commands

__all__ = ["CleanExit", "clean_errors"]


def clean_errors(fn):
    """Bad input (``ValueError``: config, data, model folder; ``OSError``: files, the Hub) -> one line, exit 2.

    Every input error of ``drama_models`` is a ``ValueError`` whose message names the option, path or key
    (``PruningError``, ``BeirFormatError``, ``ModelSourceError`` subclass it). ``-vv`` shows the traceback.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (ValueError, OSError) as err:
            if logging.getLogger("drama_models").isEnabledFor(logging.DEBUG):
                raise
            message = " ".join(str(err).split()) or type(err).__name__
            if isinstance(err, OSError) and not isinstance(err, FileNotFoundError):
                message = f"{type(err).__name__}: {message}"
            raise CleanExit(message) from None

    return wrapper
