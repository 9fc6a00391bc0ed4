"""``ParseFailure``: a completion that could not be read into a row (recorded with its raw text, never dropped).

Raised by a task's ``parse`` / ``check_followup`` (:mod:`drama_data.tasks.base`) and by the query checks
(:mod:`drama_data.tasks.query_checks`); the runner records it in the ``failures`` config and retries the slot.
"""
from __future__ import annotations


class ParseFailure(Exception):
    """A completion that could not be read into a row; ``reason`` is short and stable (it is counted).

    ``detected_language``/``language_confidence``: what the language check found in the rejected text, when it
    ran (recorded with the failure).
    """

    def __init__(self, reason: str, detected_language: str = "", language_confidence: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.detected_language = detected_language
        self.language_confidence = language_confidence
