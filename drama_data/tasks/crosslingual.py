"""Cross-lingual pairs: for a passage, queries in other languages that it answers, with a language check.

Beyond the paper (the DRAMA card of this project adds it): DRAMA's multilingual data pairs queries and
documents in one language; cross-lingual pairs teach the retriever to match across languages. Each query
is checked with ``py3langid`` (restricted to the languages in play): a query not in the requested language
is a recorded failure (and retried with a new seed), never a silently mislabelled row; so is a query that
copies a few-shot example of the prompt or was cut off (:mod:`drama_data.tasks.query_checks`).
"""
from __future__ import annotations

import pyarrow as pa

from drama_data.backends.base import Sampling
from drama_data.chunking import Passage
from drama_data.languages import code_to_name, detect_language, normalize_language
from drama_data.tasks.base import ParseFailure, Task
from drama_data.tasks.query_checks import check_not_an_example, check_not_truncated
from drama_data.tasks.queries import PAPER_SAMPLING, read_answer

__all__ = ["CrossLingualTask", "detect_language"]


class CrossLingualTask(Task):
    """``query_id = "<passage_id>/xl-<lang><k>"``; ``language`` is the query's, ``passage_language`` the source's."""

    name = "crosslingual"
    source = "crosslingual"
    columns = {"task_description": pa.string(), "passage_language": pa.string(), "detected_language": pa.string()}

    def __init__(self, *, target_languages: list[str] = ("de", "zh"), queries_per_doc: int = 1,
                 sampling: Sampling | None = None, max_attempts: int = 3, check_languages: list[str] | None = None,
                 **kw):
        super().__init__(sampling=sampling or PAPER_SAMPLING, max_attempts=max_attempts, **kw)
        self.targets = [normalize_language(t) for t in target_languages]
        self.queries_per_doc = queries_per_doc
        self.check_languages = sorted(set(check_languages or []) | set(self.targets) | {"en"})

    def slots(self, passage: Passage) -> list[str]:
        return [f"{passage.id}/xl-{t}{k}" for t in self.targets for k in range(self.queries_per_doc)]

    @staticmethod
    def target_of(slot: str) -> str:
        return slot.rsplit("/xl-", 1)[1].rstrip("0123456789")

    def variables(self, passage: Passage, slot: str) -> dict:
        target = self.target_of(slot)
        return {**super().variables(passage, slot), "target_language": code_to_name(target), "target_code": target}

    def parse(self, passage: Passage, slot: str, text: str, finish_reason: str | None = None) -> dict:
        answer = read_answer(text)
        target = self.target_of(slot)
        check_not_an_example(answer.query, self.example_queries(passage, slot), passage.text, target)
        check_not_truncated(answer.query, finish_reason, answer.query_was_last)
        detected = detect_language(answer.query, self.check_languages)
        if detected != target:
            raise ParseFailure(f"query is in '{detected}', not '{target}'")
        passage_language = detect_language(passage.text, self.check_languages)
        return {"query": answer.query, "task_description": answer.task, "language": target,
                "detected_language": detected, "passage_language": passage_language}

    def info(self) -> dict:
        return {**super().info(), "target_languages": self.targets, "queries_per_doc": self.queries_per_doc}
