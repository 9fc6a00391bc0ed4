"""Prompt tokenization and completion detokenization for a vLLM engine started without its tokenizer.

vLLM 0.32 loads a model's tokenizer three times at start-up and deep-copies it twice for its renderer
pool; for Gemma-3's 262k-entry vocabulary that is 17 of the engine's 24 s start on a 2-core CPU. The vLLM
backend therefore starts the engine with ``skip_tokenizer_init=True`` and does the text side here, once:

- completion prompts are encoded with the folder's ``tokenizer.json`` read by the Rust ``tokenizers``
  library (1.4 s instead of 4 s for transformers), provided ``tokenizer_config.json`` states
  ``add_bos_token`` (and ``add_eos_token`` if present) and the Rust post-processor agrees with it, so the
  ids are the ones transformers (and so vLLM) would give; otherwise transformers' ``AutoTokenizer``;
- chat prompts go through transformers' ``apply_chat_template`` (loaded only when a chat prompt comes);
- completions are decoded one id at a time with ``skip_special_tokens=True`` (:meth:`PromptCodec.stream`),
  as vLLM's own fast detokenizer does, which also serves the stop-string checks.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from drama_data.errors import BackendError

log = logging.getLogger(__name__)
_UNSET = object()


class PromptCodec:
    """Text <-> token ids for one model (an HF id or a local folder)."""

    def __init__(self, model_path: str, *, trust_remote_code: bool = False):
        self.model_path = str(model_path)
        self.trust_remote_code = trust_remote_code
        self._hf = None
        self._rust = None
        self._rust_encodes = False
        self._config: dict = {}
        self._loaded = False
        self._eos = _UNSET

    # -- loading -------------------------------------------------------------------------------------
    @property
    def hf(self):
        """transformers' tokenizer (loaded on first use: chat templates, or encoding when the fast path is off)."""
        if self._hf is None:
            from transformers import AutoTokenizer

            try:
                self._hf = AutoTokenizer.from_pretrained(self.model_path, trust_remote_code=self.trust_remote_code)
            except Exception as exc:
                raise BackendError(f"--model {self.model_path}: cannot load its tokenizer ({exc})") from None
        return self._hf

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        folder = Path(self.model_path)
        if (folder / "tokenizer.json").is_file():
            from tokenizers import Tokenizer

            self._rust = Tokenizer.from_file(str(folder / "tokenizer.json"))
            self._config = read_config(folder / "tokenizer_config.json")
            self._rust_encodes = rust_matches_config(self._rust, self._config)
            if not self._rust_encodes:
                log.info("%s: tokenizer_config.json does not pin add_bos_token/add_eos_token to what tokenizer.json "
                         "does; prompts are encoded with transformers", folder)
        elif getattr(self.hf, "is_fast", False):
            self._rust = self.hf.backend_tokenizer

    # -- text -> ids ---------------------------------------------------------------------------------
    def encode(self, text: str) -> list[int]:
        """Token ids of a completion prompt, with the special tokens the tokenizer adds (e.g. ``<bos>``)."""
        self._load()
        if self._rust_encodes:
            return self._rust.encode(text, add_special_tokens=True).ids
        return list(self.hf(text, add_special_tokens=True)["input_ids"])

    def encode_chat(self, messages: Sequence[dict]) -> list[int]:
        """Token ids of chat messages rendered with the model's chat template and a generation prompt."""
        ids = self.hf.apply_chat_template(list(messages), tokenize=True, add_generation_prompt=True)
        if isinstance(ids, dict) or hasattr(ids, "keys"):
            ids = ids["input_ids"]
        return list(ids)

    @property
    def eos_token_id(self) -> int | None:
        """The end-of-sequence id the tokenizer names (vLLM stops on it, and on the generation config's)."""
        if self._eos is _UNSET:
            self._load()
            if self._rust_encodes:
                eos = _token_name(self._config.get("eos_token"))
                self._eos = self._rust.token_to_id(eos) if eos else None
            else:
                self._eos = self.hf.eos_token_id
        return self._eos

    def stream(self) -> Callable[[int], str]:
        """A function fed one generated id at a time that returns the text that id adds (``""`` while a
        character's bytes are incomplete), without special tokens and without clean-up of spaces."""
        self._load()
        if self._rust is not None:
            from tokenizers.decoders import DecodeStream

            stream, rust = DecodeStream(skip_special_tokens=True), self._rust
            return lambda token_id: stream.step(rust, token_id) or ""
        ids: list[int] = []
        seen = [""]

        def step(token_id: int) -> str:  # slow tokenizers: decode everything again, keep the new tail
            ids.append(token_id)
            text = self.hf.decode(ids, skip_special_tokens=True)
            new, seen[0] = text[len(seen[0]):], text
            return new

        return step


def _token_name(value) -> str | None:
    if isinstance(value, dict):  # {"content": "<bos>", ...} in older tokenizer configs
        value = value.get("content")
    return value if isinstance(value, str) else None


def read_config(path: Path) -> dict:
    """A ``tokenizer_config.json`` as a dict (empty when missing or unreadable)."""
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return config if isinstance(config, dict) else {}


def rust_matches_config(rust, config: dict) -> bool:
    """Whether encoding with the Rust tokenizer gives transformers' ids: the ``tokenizer_config.json`` dict must
    say ``add_bos_token`` and the post-processor must add the BOS exactly when it says so (same for
    ``add_eos_token`` when given). transformers rebuilds the post-processor from these flags with per-class
    defaults, so a folder that leaves them out is encoded with transformers."""
    if not isinstance(config.get("add_bos_token"), bool):
        return False
    probe = rust.encode("a", add_special_tokens=True).ids
    plain = rust.encode("a", add_special_tokens=False).ids
    for flag, name, at in (("add_bos_token", "bos_token", 0), ("add_eos_token", "eos_token", -1)):
        want = config.get(flag, False if flag == "add_eos_token" else None)
        if not isinstance(want, bool):
            return False
        token = _token_name(config.get(name))
        token_id = rust.token_to_id(token) if token else None
        has = len(probe) > len(plain) and token_id is not None and probe[at] == token_id
        if has != want:
            return False
    return True
