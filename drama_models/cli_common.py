"""Shared pieces of the ``drama-models`` commands: bad input becomes ``Error: <one line>`` and exit code 2."""
from __future__ import annotations

from drama_data.cli import common
from drama_data.cli.common import CleanExit  # ``Error: <one line>``, exit code 2, as drama-data's commands

__all__ = ["BAD_INPUT", "CleanExit", "clean_errors"]

#: what a ``drama-models`` command reports as bad input besides the toolkit's own errors (``DramaError``:
#: ``PruningError``, ``BeirFormatError``, ``ModelSourceError``, ``ZooError``, ...): a ``ValueError`` (config,
#: data, model folder; their messages name the option, path or key) or an ``OSError`` (files, the Hub)
BAD_INPUT = (ValueError, OSError)


def clean_errors(fn):
    """drama-data's :func:`~drama_data.cli.common.clean_errors` with :data:`BAD_INPUT` caught too; ``-vv`` (the
    ``drama_models`` logger at DEBUG) shows the traceback instead of the one line."""
    return common.clean_errors(fn, catch=BAD_INPUT, debug_logger="drama_models")
