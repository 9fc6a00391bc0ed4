"""QGen: one LLM query per passage (or ``queries_per_doc``), the DRAMA prompt.

Paper (DRAMA, Sec. 3.2): the LLM brainstorms a retrieval task the text supports, then writes a query in the
document's language; output ``Task: / Query: / Language:``; temperature 0.8, top_p 0.9, max_tokens 256;
only the query is kept for training (we keep the task text and the language as columns too).
"""
from __future__ import annotations

import re

import pyarrow as pa

from drama_data.backends.base import Sampling
from drama_data.chunking import Passage
from drama_data.languages import normalize_language
from drama_data.tasks.base import ParseFailure, Task

PAPER_SAMPLING = Sampling(temperature=0.8, top_p=0.9, max_tokens=256)
_FIELD_RE = re.compile(r"^[ \t]*\**[ \t]*(task|query|language)[ \t]*\**[ \t]*[:：][ \t]*\**[ \t]*(.*?)[ \t]*$",
                       re.IGNORECASE | re.MULTILINE)
MAX_QUERY_CHARS = 1000


class QueriesTask(Task):
    """Synthetic queries: ``query_id = "<passage_id>/qgen<k>"`` for k < ``queries_per_doc``."""

    name = "queries"
    source = "qgen"
    columns = {"task_description": pa.string()}

    def __init__(self, *, queries_per_doc: int = 1, sampling: Sampling | None = None, max_attempts: int = 2, **kw):
        super().__init__(sampling=sampling or PAPER_SAMPLING, max_attempts=max_attempts, **kw)
        if queries_per_doc < 1:
            raise ValueError("queries_per_doc must be at least 1")
        self.queries_per_doc = queries_per_doc

    def slots(self, passage: Passage) -> list[str]:
        return [f"{passage.id}/qgen{k}" for k in range(self.queries_per_doc)]

    def parse(self, passage: Passage, slot: str, text: str) -> dict:
        return parse_task_query_language(text)

    def info(self) -> dict:
        return {**super().info(), "queries_per_doc": self.queries_per_doc}


def parse_task_query_language(text: str) -> dict:
    """``"Task: ...\\nQuery: ...\\nLanguage: ..."`` -> ``{"query", "task_description", "language"}``.

    Tolerates markdown bold, full-width colons, quotes around the query and extra prose; the first ``Query:``
    line wins. Raises ``ParseFailure`` if there is no non-empty query.
    """
    found: dict[str, str] = {}
    for m in _FIELD_RE.finditer(text or ""):
        found.setdefault(m.group(1).lower(), m.group(2))
    query = found.get("query", "").strip().strip('"“”«»\'`').strip()
    if "query" not in found:
        raise ParseFailure("no 'Query:' line")
    if not query:
        raise ParseFailure("empty query")
    if len(query) > MAX_QUERY_CHARS:
        raise ParseFailure("query longer than 1000 characters")
    return {
        "query": query,
        "task_description": found.get("task", "").strip(),
        "language": normalize_language(found.get("language")),
    }
