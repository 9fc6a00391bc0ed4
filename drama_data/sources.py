"""Is a ``--corpus``/``--data``/``--queries``/... value a local path or a Hugging Face Hub dataset id?

Every option that takes a dataset location resolves its value with :func:`resolve_source` (or
:func:`local_path` for options that only take local folders), before any model or engine starts. The rule:

- a value that exists here (file or folder) is that local path;
- ``hf:NAME`` is always the Hub dataset ``NAME`` (for a Hub id whose owner is also a folder here);
- a value that *looks like a path* and does not exist is ``no such file or folder: VALUE`` at once. It looks like
  a path when it starts with ``/``, ``.`` or ``~``; contains ``\\``, ``//`` or two or more ``/``; ends in ``/``;
  ends in a data or document suffix (:data:`PATH_SUFFIXES`: ``.jsonl``, ``.parquet``, ``.gz``, ``.md``, ...);
  its first part exists here (``runs/x`` when ``runs/`` exists); or its first part is one of
  :data:`LOCAL_FIRST_PARTS` (``data/``, ``runs/``, ``out/``, ``output/``, ``outputs/``, ``tmp/``: the folder names
  this project's examples use, so that ``data/scifact`` in a fresh clone is a missing folder, never a Hub lookup);
- anything else (``BeIR/scifact``, ``squad``: at most one ``/``, Hub characters only) is a Hub dataset id; it is
  looked up only by :func:`load_hub_dataset`, whose failure (unknown id, no network, offline without a cached
  copy) is one line naming the value and saying it was tried as a Hub dataset.

Errors are :class:`SourceError` (an :class:`~drama_data.errors.InputError` and a ``ValueError``, so the
``drama-data`` and ``drama-models`` commands both print them as one line).
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from drama_data.errors import InputError

HUB_PREFIX = "hf:"
#: first path parts that always mean a local folder (the names used by this project's README and recipes)
LOCAL_FIRST_PARTS = frozenset({"data", "runs", "out", "output", "outputs", "tmp"})
#: endings of file names that mean a local file (data files, compressed files, documents)
PATH_SUFFIXES = (".jsonl", ".json", ".ndjson", ".parquet", ".csv", ".tsv", ".arrow", ".gz", ".bz2", ".xz", ".zst",
                 ".zip", ".tar", ".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".yaml", ".yml")
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


#: the rule in one sentence, for ``--help`` texts
RULE_HELP = ("Local path or Hugging Face Hub id: a value that exists here, or looks like a path (starts with / . ~, "
             "has two or more /, a file suffix like .jsonl, or a first folder that exists here or is data/, runs/, "
             "out/, output(s)/ or tmp/) is a local path, and a missing one is an error at once; anything else "
             "(BeIR/scifact) is a Hub dataset id; hf:NAME always means the Hub.")


class SourceError(InputError, ValueError):
    """A dataset location that cannot be opened: a missing local path, or a Hub id that could not be loaded."""


@dataclass(frozen=True)
class Source:
    """A resolved value: exactly one of ``path`` (an existing local file or folder) and ``hub_id`` is set."""

    value: str
    path: Path | None = None
    hub_id: str | None = None


def looks_like_path(value: str, cwd: Path | None = None) -> bool:
    """Whether ``value`` (that does not exist) is meant as a local path (see the module doc for the rule)."""
    text = value.strip()
    if text.startswith(("/", ".", "~")) or "\\" in text or "//" in text or text.endswith("/"):
        return True
    if text.count("/") >= 2 or text.lower().endswith(PATH_SUFFIXES):
        return True
    first = text.split("/", 1)[0]
    if "/" in text and (first.lower() in LOCAL_FIRST_PARTS or ((cwd or Path.cwd()) / first).exists()):
        return True
    return not HUB_ID.match(text)


def _label(option: str | None) -> str:
    return f"{option}: " if option else ""


def resolve_source(value: str | os.PathLike, option: str | None = None, *, hub: bool = True,
                   kind: str = "file or folder") -> Source:
    """Resolve ``value`` of ``option`` (e.g. ``"--corpus"``; named in errors) to a local path or a Hub id.

    ``hub=False``: the option takes local paths only, so every missing value is ``no such <kind>``. Raises
    :class:`SourceError` with one line; never contacts the Hub (see :func:`load_hub_dataset`).
    """
    text = str(value).strip()
    if not text:
        raise SourceError(f"{_label(option)}empty; give a local path" + (" or a Hub dataset id" if hub else ""))
    if hub and text.startswith(HUB_PREFIX):
        hub_id = text[len(HUB_PREFIX):].strip()
        if not HUB_ID.match(hub_id):
            raise SourceError(f"{_label(option)}{text}: {hub_id!r} is not a Hugging Face Hub dataset id (owner/name)")
        return Source(text, hub_id=hub_id)
    path = Path(text).expanduser()
    if path.exists():
        return Source(text, path=path)
    if not hub or looks_like_path(text):
        first = text.split("/", 1)[0]
        hint = ""
        if hub and text.count("/") == 1 and first.lower() in LOCAL_FIRST_PARTS and HUB_ID.match(text):
            hint = f" ({first}/ means a local folder; for the Hugging Face Hub dataset write {HUB_PREFIX}{text})"
        raise SourceError(f"{_label(option)}no such {kind}: {text}{hint}")
    return Source(text, hub_id=text)


def local_path(value: str | os.PathLike, option: str | None = None, *, kind: str = "file or folder") -> Path:
    """The existing local path ``value`` of an option that takes no Hub ids; else ``no such <kind>: VALUE``."""
    path = resolve_source(value, option, hub=False, kind=kind).path
    assert path is not None
    if kind == "folder" and not path.is_dir():
        raise SourceError(f"{_label(option)}not a folder: {value}")
    return path


def _offline() -> bool:
    from huggingface_hub import constants

    env = os.environ.get("HF_HUB_OFFLINE", "") or os.environ.get("HF_DATASETS_OFFLINE", "")
    return bool(constants.HF_HUB_OFFLINE) or env.strip().lower() in ("1", "true", "yes", "on")


def hub_failure(source: Source, option: str | None, why: str) -> SourceError:
    """The one line for a Hub id that could not be used (it names the value and that it was tried on the Hub)."""
    where = f"{option} {source.value}" if option else source.value
    if source.value.startswith(HUB_PREFIX):
        return SourceError(f"{where}: tried as the Hugging Face Hub dataset {source.hub_id}: {why}")
    return SourceError(f"{where}: not a local file or folder, so it was tried as a Hugging Face Hub dataset id: {why}")


def check_hub_dataset(source: Source, option: str | None = None, timeout: float = 15.0) -> None:
    """Ask the Hub whether the dataset ``source.hub_id`` exists (one request, no retries); with ``HF_HUB_OFFLINE``
    set nothing is asked (a cached copy may serve). Raises :func:`hub_failure` for an unknown id or no network."""
    if _offline():
        return
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    try:
        HfApi().dataset_info(source.hub_id, timeout=timeout)
    except RepositoryNotFoundError:
        raise hub_failure(source, option, "not found on the Hub (a private dataset needs HF_TOKEN)") from None
    except HfHubHTTPError as err:
        raise hub_failure(source, option, f"the Hub answered {' '.join(str(err).split())[:200]}") from None
    except Exception as err:  # noqa: BLE001 - connection errors of several libraries: one line
        raise hub_failure(source, option, f"the Hub cannot be reached ({type(err).__name__}: "
                          f"{' '.join(str(err).split())[:160]}); give a local path, or set HF_HUB_OFFLINE=1 to use "
                          "a cached copy") from None


def load_hub_dataset(source: Source, option: str | None = None, *, name: str | None = None, split: str = "train"):
    """``datasets.load_dataset(source.hub_id, name, split=split)`` after :func:`check_hub_dataset`; any failure is
    one :class:`SourceError` line (no traceback, no retry messages)."""
    import datasets

    check_hub_dataset(source, option)
    hub_logger = logging.getLogger("huggingface_hub")
    level = hub_logger.level
    hub_logger.setLevel(logging.ERROR)  # no "Retrying in 8s" lines: the outcome is one line
    try:
        return datasets.load_dataset(source.hub_id, name, split=split)
    except Exception as err:  # noqa: BLE001 - the Hub's and datasets' many error types, one line
        text = " ".join(str(err).split())
        if _offline() and ("offline" in text.lower() or "couldn't reach" in text.lower()):
            why = "HF_HUB_OFFLINE is set and it is not in the Hugging Face cache"
        else:
            split_hint = f" with split {split!r}" + (f" and config {name!r}" if name else "")
            why = f"loading it{split_hint} failed ({type(err).__name__}: {text[:300]})"
        raise hub_failure(source, option, why) from None
    finally:
        hub_logger.setLevel(level)
