"""Keeping secrets out of text: :class:`Redactor` replaces the API key and secret parts of a URL by ``***`` in any
message, log line or error body (and, with :meth:`Redactor.strict`, whatever a server echoes of a key it refused).
Used by every backend that sends a key (:mod:`drama_data.backends.openai`, :mod:`drama_data.backends.openai_batch`).
"""
from __future__ import annotations

import re
from collections.abc import Sequence

#: The key sent to a server that needs none (``vllm serve`` without ``--api-key``); never treated as a secret.
PLACEHOLDER_KEY = "EMPTY"


class Redactor:
    """Replaces secrets (the API key, URL userinfo and query values) by ``***`` in any text.

    :meth:`strict` also masks what a server may echo of a key it refused: a word holding the key's first six
    or last four characters, a masked key (``sk-ab****wxyz``), or any word shaped like a key (``sk-...``)."""

    _KEYLIKE = re.compile(r"^(?:sk|rk|gsk|xai|hf)[-_][\w\-*.]{4,}$|\*{3,}", re.IGNORECASE)

    def __init__(self, secrets: Sequence[str]):
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4 and s != PLACEHOLDER_KEY}, key=len,
                              reverse=True)

    def __call__(self, text: str) -> str:
        for s in self.secrets:
            if s in text:
                text = text.replace(s, "***")
        return text

    def strict(self, text: str) -> str:
        """:meth:`__call__`, then every word that looks like (part of) a key becomes ``***``."""
        text = self(text)
        parts = [(s[:6], s[-4:]) for s in self.secrets if len(s) >= 8]

        def mask(m: re.Match) -> str:
            word = m.group(0)
            core = word.strip(".,;:()[]{}'\"`")
            if core == "***":
                return word
            if self._KEYLIKE.search(core) or any(head in core or tail in core for head, tail in parts):
                return word.replace(core, "***")
            return word

        return re.sub(r"\S+", mask, text)
