"""Keep an engine's start-up output off the user's terminal: into a log file, shown only on request.

A vLLM engine prints dozens of lines while it starts (its own log, Python warnings from torch and transformers,
lines its C++ code writes straight to the file descriptors). :func:`engine_output_to` sends all of it to a log
file for the duration of a ``with`` block by pointing file descriptors 1 and 2 at the file (so output from C++
and from child processes started inside the block lands there too), and afterwards routes the ``vllm`` logger to the
same file for good (:func:`route_logger`), so warnings logged later do not break the progress bar.
With ``also_terminal`` (``-v``) nothing is hidden: the log file gets a copy of the ``vllm`` logger only.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
from pathlib import Path

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def route_logger(name: str, path: Path, *, keep_terminal: bool) -> None:
    """Log records of logger ``name`` (INFO and above) to ``path``; drop its terminal handlers unless
    ``keep_terminal``. Idempotent per path."""
    logger = logging.getLogger(name)
    target = str(Path(path).resolve())
    if not any(isinstance(h, logging.FileHandler) and h.baseFilename == target for h in logger.handlers):
        handler = logging.FileHandler(target, encoding="utf-8")
        handler.setFormatter(logging.Formatter(_FORMAT))
        handler.setLevel(logging.INFO)
        if not keep_terminal:
            for h in list(logger.handlers):
                if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler):
                    logger.removeHandler(h)
        logger.addHandler(handler)
    if logger.level == logging.NOTSET or logger.level > logging.INFO:
        logger.setLevel(logging.INFO)
    logger.propagate = keep_terminal and logger.propagate


@contextlib.contextmanager
def engine_output_to(path: Path | None, *, also_terminal: bool = False):
    """Inside the block, everything written to stdout/stderr (Python and C level) goes to ``path``
    (appended; folders created); ``None`` does nothing. See the module doc for ``also_terminal``."""
    if path is None:
        yield
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if also_terminal:
        try:
            yield
        finally:  # vLLM sets its handlers up while the engine starts: route them once it has
            route_logger("vllm", path, keep_terminal=True)
        return
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(path, "ab", buffering=0) as sink:
        try:
            os.dup2(sink.fileno(), 1)
            os.dup2(sink.fileno(), 2)
            yield
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            route_logger("vllm", path, keep_terminal=False)
