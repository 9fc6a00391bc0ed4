"""QGen: one LLM query per passage (or ``queries_per_doc``), the DRAMA prompt.

Paper (DRAMA, Sec. 3.2): the LLM brainstorms a retrieval task the text supports, then writes a query in the
document's language; output ``Task: / Query: / Language:``; temperature 0.8, top_p 0.9, max_tokens 256;
only the query is used for training.

Each row records what is true rather than what the model says:

- ``language``: the query's language as py3langid detects it, with the passage's detected language as prior
  (short queries are hard to detect; see :class:`drama_data.languages.LanguageDetector`), and its posterior
  probability in ``language_confidence``; ``passage_language`` is the passage's detected language and
  ``claimed_language`` the model's own ``Language:`` line (normalised to a code; models often claim a
  language the query is not in).
- ``task_description``: the ``Task:`` line. Only the chat form asks for one (the paper's prompt); the
  few-shot completion form for base models does not, so there the column is empty. Measured on the first
  20 SciFact passages with the embedded Gemma-3-270M (seed 0, paper sampling): a completion prompt that
  asks for ``Task:`` before ``Language:``/``Query:`` cost 456 instead of 411 prompt tokens and 33 instead
  of 18 completion tokens per row, and gave 14 instead of 19 rows (16 instead of 8 rejected attempts,
  mostly queries that drift away from the passage), while its tasks were mostly the examples' tasks
  recopied ("Given a factual travel question, ..." on biomedical abstracts).

A passage longer than ``section_tokens`` (``--section-tokens``, default 256, the paper's passage size) is not sent
whole: the prompt holds one section of it (:mod:`drama_data.tasks.sections`), the row stays the whole passage
(its positive) and records the section as ``answer_start``/``answer_end`` (characters in ``text``) and
``answer_depth`` (start / length); these are null when the prompt held the whole passage. The checks below read
the text the prompt held.

A completion is a recorded failure (and retried with a new seed) when it has no query, or its query copies
a few-shot example of the prompt, was cut off, or is generic (:mod:`drama_data.tasks.query_checks`). On a
passage that is not in English, the query must also be in the passage's language and script and must not
copy a long span of the passage (:func:`~drama_data.tasks.query_checks.check_language`,
:func:`~drama_data.tasks.query_checks.check_not_echo`; issue 12: German, Chinese, Japanese passages get
queries in their language). English passages keep the checks above only (their measured parse rate).
"""
from __future__ import annotations

import re
from typing import NamedTuple

import pyarrow as pa

from drama_data.backends.base import Sampling
from drama_data.chunking import Passage
from drama_data.languages import LanguageDetector, normalize_language
from drama_data.tasks.base import ParseFailure, Task
from drama_data.tasks.query_checks import (
    MIN_LANGUAGE_CONFIDENCE,
    MIN_SCRIPT_SHARE,
    check_language,
    check_not_an_example,
    check_not_echo,
    check_not_generic,
    check_not_truncated,
)
from drama_data.tasks.sections import NO_SECTION, Section, choose_section

#: ``--section-tokens``: a longer passage's prompt holds one section of it (paper passages: 256 tokens, Sec. 3)
DEFAULT_SECTION_TOKENS = 256
PAPER_SAMPLING = Sampling(temperature=0.8, top_p=0.9, max_tokens=256)
_FIELD_RE = re.compile(r"^[ \t]*\**[ \t]*(task|query|language)[ \t]*\**[ \t]*[:：][ \t]*\**[ \t]*(.*?)[ \t]*$",
                       re.IGNORECASE | re.MULTILINE)
_LABEL_RE = re.compile(r"^[ \t]*\**[ \t]*(task|query|language|query language|passage|answer|title|text)[ \t]*\**"
                       r"[ \t]*[:：]", re.IGNORECASE)
_QUOTES = '"“”«»\'`'
MAX_QUERY_CHARS = 1000


class Answer(NamedTuple):
    """The fields of a ``Task:/Query:/Language:`` answer; ``query_was_last``: nothing followed the query."""

    query: str
    task: str
    language: str
    query_was_last: bool


def read_answer(text: str) -> Answer:
    """``"Task: ...\\nQuery: ...\\nLanguage: ..."`` -> :class:`Answer` (the language as written).

    Tolerates markdown bold, full-width colons, quotes around the query, extra prose, and ``Query:`` alone on
    its line with the query on the next one; the first ``Query:`` line wins. Raises ``ParseFailure`` if there
    is no non-empty query.
    """
    text = text or ""
    found: dict[str, str] = {}
    query_end = None
    for m in _FIELD_RE.finditer(text):
        name, value, end = m.group(1).lower(), m.group(2), m.end()
        if name in found:
            continue
        if name == "query" and not value.strip(_QUOTES + " *"):
            value, end = _next_line(text, m.end())
        found[name] = value
        if name == "query":
            query_end = end
    if "query" not in found:
        raise ParseFailure("no 'Query:' line")
    query = found["query"].strip().strip(_QUOTES).strip()
    if not query:
        raise ParseFailure("empty query")
    if len(query) > MAX_QUERY_CHARS:
        raise ParseFailure("query longer than 1000 characters")
    return Answer(query=query, task=found.get("task", "").strip(), language=found.get("language", "") or "",
                  query_was_last="\n" not in text[query_end:])


def _next_line(text: str, pos: int) -> tuple[str, int]:
    """The line after ``pos`` when it is not itself a ``Field:`` line (else ``""``), and where it ends."""
    if not text.startswith("\n", pos):
        return "", pos
    start = pos + 1
    end = text.find("\n", start)
    end = len(text) if end < 0 else end
    line = text[start:end].strip()
    if not line or _LABEL_RE.match(line):
        return "", pos
    return line, end


def parse_task_query_language(text: str) -> dict:
    """``"Task: ...\\nQuery: ...\\nLanguage: ..."`` -> ``{"query", "task_description", "language"}`` (the
    language as the model claims it, normalised to a code); see :func:`read_answer`."""
    a = read_answer(text)
    return {"query": a.query, "task_description": a.task, "language": normalize_language(a.language)}


class QueriesTask(Task):
    """Synthetic queries: ``query_id = "<passage_id>/qgen<k>"`` for k < ``queries_per_doc``."""

    name = "queries"
    source = "qgen"
    columns = {"task_description": pa.string(), "claimed_language": pa.string(),
               "language_confidence": pa.float32(), "passage_language": pa.string(),
               "answer_start": pa.int64(), "answer_end": pa.int64(), "answer_depth": pa.float32()}

    def __init__(self, *, queries_per_doc: int = 1, sampling: Sampling | None = None, max_attempts: int = 2,
                 min_language_confidence: float = MIN_LANGUAGE_CONFIDENCE, min_script_share: float = MIN_SCRIPT_SHARE,
                 per_language: int | None = None, section_tokens: int | None = DEFAULT_SECTION_TOKENS,
                 section_tokenizer: str | None = None, **kw):
        super().__init__(sampling=sampling or PAPER_SAMPLING, max_attempts=max_attempts, **kw)
        if queries_per_doc < 1:
            raise ValueError("queries_per_doc must be at least 1")
        if per_language is not None and per_language < 1:
            raise ValueError("per_language must be at least 1")
        self.queries_per_doc = queries_per_doc
        self.min_language_confidence = min_language_confidence
        self.min_script_share = min_script_share
        self.per_language = per_language
        self.detector = LanguageDetector()
        self._passage_languages: dict[str, str] = {}
        self.section_tokens = section_tokens
        self.section_tokenizer = section_tokenizer
        self._spans = None
        self._sections: dict[tuple[str, str], Section | None] = {}

    def section(self, passage: Passage, slot: str) -> Section | None:
        """The section of ``passage`` this slot's prompt holds, or ``None`` for the whole passage
        (:mod:`drama_data.tasks.sections`; ``--section-tokens``)."""
        key = (passage.id, slot)
        if key not in self._sections:
            if self._spans is None:
                from drama_data.chunking import load_span_function

                self._spans = load_span_function(self.section_tokenizer)
            slots = self.slots(passage)
            index = slots.index(slot) if slot in slots else 0
            self._sections[key] = choose_section(passage, index, self.seed, self.section_tokens, self._spans)
        return self._sections[key]

    def slots(self, passage: Passage) -> list[str]:
        return [f"{passage.id}/qgen{k}" for k in range(self.queries_per_doc)]

    def plan_defaults(self, form: str) -> tuple[float | None, float | None, str]:
        """The completion form's figures with the embedded Gemma-3-270M on SciFact passages (paper sampling;
        the prompt with rotating query forms, measured over 656 requests for 600 passages: 30.1 completion
        tokens per request, 90% of answers parse). No default for the chat form: answer lengths there depend on
        the model."""
        if form != "completion":
            return None, None, ""
        return 0.9, 30.0, "default: the embedded Gemma-3-270M's figures for this task and prompt form"

    def passage_language(self, passage: Passage) -> str:
        if passage.id not in self._passage_languages:
            self._passage_languages[passage.id] = self.detector.passage(passage.text)
        return self._passage_languages[passage.id]

    def variables(self, passage: Passage, slot: str) -> dict:
        """Adds ``passage_language`` (detected) when the prompt uses it: the completion form shows German,
        Chinese and Japanese passages examples in their language. (Detection costs about 1-10 ms a passage,
        which ``parse`` pays anyway; a ``--dry-run`` pays it only for prompts that use the variable.)"""
        out = super().variables(passage, slot)
        section = self.section(passage, slot)
        if section is not None:
            out.update(title=section.title, text=section.text)
        if self.prompt is not None and "passage_language" in self.prompt.source:
            out["passage_language"] = self.passage_language(passage)
        return out

    def pair_of(self, passage: Passage, slot: str) -> tuple[str, str]:
        """(passage language, wanted query language): the queries task wants the passage's language."""
        language = self.passage_language(passage)
        return language, language

    def parse(self, passage: Passage, slot: str, text: str, finish_reason: str | None = None) -> dict:
        answer = read_answer(text)
        query = answer.query
        passage_language = self.passage_language(passage)
        language, confidence = self.detector.query(query, passage_language)
        section = self.section(passage, slot)
        held_title, held = (section.title, section.text) if section is not None else (passage.title, passage.text)
        passage_text = f"{held_title}\n{held}" if held_title else held  # what the prompt held
        check_not_an_example(query, self.example_queries(passage, slot), passage_text, language)
        check_not_truncated(query, finish_reason, answer.query_was_last)
        check_not_generic(query, passage_text, language, passage_language)
        if passage_language and passage_language != "en":
            check_language(query, passage_language, language, confidence,
                           min_confidence=self.min_language_confidence, min_script_share=self.min_script_share)
            check_not_echo(query, passage_text, detected_language=language, language_confidence=confidence)
        return {"query": query, "task_description": answer.task, "language": language,
                "language_confidence": confidence, "claimed_language": normalize_language(answer.language),
                "passage_language": passage_language,
                **(section.answer_columns(len(passage.text)) if section is not None else NO_SECTION)}

    def info(self) -> dict:
        return {**super().info(), "queries_per_doc": self.queries_per_doc,
                "min_language_confidence": self.min_language_confidence, "min_script_share": self.min_script_share,
                "per_language": self.per_language, "section_tokens": self.section_tokens}
