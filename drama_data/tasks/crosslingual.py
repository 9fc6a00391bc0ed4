"""Cross-lingual pairs: for a passage, queries in other languages that it answers, checked for their language.

Beyond the paper (the DRAMA card of this project adds it): DRAMA's multilingual data pairs queries and
documents in one language; cross-lingual pairs teach the retriever to match across languages. Two methods,
recorded per row in ``method``:

- ``direct``: the LLM reads the passage and writes a query in the target language
  (``query_id = "<passage_id>/xl-<lang><k>"``; prompt ``crosslingual.{chat,completion}.j2``). A target that
  is the passage's own (detected) language is left out: in-language queries are ``--task queries``' work.
- ``translate``: each query of an earlier ``--task queries`` output (``queries=DIR``) is translated into each
  target language and paired with the same passage (``query_id = "<source query id>/xl-<lang>"``, keeping
  ``source_query_id`` and ``source_query``; prompt ``crosslingual-translate.{chat,completion}.j2``). A query
  already in a target language is not translated into it. The passages come from DIR (its rows hold them).

Every query must pass :func:`~drama_data.tasks.query_checks.check_language` (script, py3langid among the
common LLM languages, half-in-another-language), :func:`~drama_data.tasks.query_checks.check_not_echo` (no
long copy of the passage) and the cut-off check; a direct query also must not copy a few-shot example, and a
translation must not be its source query unchanged. A rejected query is a recorded failure with its reason
and detected language, retried with a new seed up to ``max_attempts``. Rows record ``language`` (the target),
``passage_language``, ``detected_language`` with ``language_confidence``, and ``method``.

Optional round trip (translate, ``round_trip=MIN``): each accepted translation is translated back into the
source query's language (one more request, same prompt) and rejected when the back-translation keeps less
than MIN of the source query's content words (:func:`round_trip_overlap`); rows then record
``round_trip_query`` and ``round_trip_overlap``.
"""
from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa

from drama_data.backends.base import Sampling
from drama_data.chunking import Passage
from drama_data.errors import ConfigError, InputError
from drama_data.languages import (
    CODES,
    LanguageDetector,
    code_to_name,
    detect_language,
    identify_language,
    known_languages,
    normalize_language,
)
from drama_data.tasks.base import ParseFailure, Task
from drama_data.tasks.queries import MAX_QUERY_CHARS, PAPER_SAMPLING, read_answer
from drama_data.tasks.query_checks import (
    MIN_LANGUAGE_CONFIDENCE,
    MIN_SCRIPT_SHARE,
    check_language,
    check_not_an_example,
    check_not_echo,
    check_not_truncated,
    content_terms,
    normalise,
    shares_a_term,
)

__all__ = ["CrossLingualTask", "detect_language", "read_translation", "load_source_queries", "round_trip_overlap"]

METHODS = ("direct", "translate")
REASON_UNTRANSLATED = "translation equals the source query"
_TRANSLATION_RE = re.compile(r"^[ \t]*\**[ \t]*translation[ \t]*\**[ \t]*[:：][ \t]*\**[ \t]*(.*?)[ \t]*$",
                             re.IGNORECASE | re.MULTILINE)
_QUOTES = '"“”«»\'`'
SOURCE_COLUMNS = ("query_id", "query", "passage_id", "text")


def read_translation(text: str) -> tuple[str, bool]:
    """``"Translation: ..."`` -> ``(translation, nothing followed it)``. A reply that is one bare line (chat
    models often drop the label) is taken as the translation. Raises ``ParseFailure`` when there is none."""
    text = text or ""
    m = _TRANSLATION_RE.search(text)
    if m:
        value, last = m.group(1), "\n" not in text[m.end():]
    else:
        lines = [ln for ln in text.strip().splitlines() if ln.strip()]
        if len(lines) != 1:
            raise ParseFailure("no 'Translation:' line")
        value, last = lines[0], True
    value = value.strip().strip(_QUOTES).strip()
    if not value:
        raise ParseFailure("empty translation")
    if len(value) > MAX_QUERY_CHARS:
        raise ParseFailure("query longer than 1000 characters")
    return value, last


def prompt_example_translations(rendered) -> frozenset[str]:
    """The normalised ``Translation:`` lines of a rendered prompt (a string, or chat messages)."""
    texts = [rendered] if isinstance(rendered, str) else [m.get("content", "") for m in rendered]
    found = {normalise(m.group(1).strip(_QUOTES)) for t in texts for m in _TRANSLATION_RE.finditer(t)}
    return frozenset(found - {""})


def round_trip_overlap(source: str, back: str, language: str) -> float:
    """Share of the content terms of ``source`` (stemmed, stopwords and :data:`GENERIC_WORDS` aside; CJK by
    character n-grams: the BM25 analyzer of ``language``) that the back-translation ``back`` has (equal or
    sharing a prefix, :func:`~drama_data.tasks.query_checks.shares_a_term`); 1.0 when ``source`` has none."""
    terms = content_terms(source, language)
    if not terms:
        return 1.0
    back_terms = content_terms(back, language)
    return sum(1 for t in terms if shares_a_term({t}, back_terms)) / len(terms)


def load_source_queries(folder: str | Path) -> tuple[list[Passage], dict[str, list[dict]]]:
    """The passages and queries of a ``--task queries`` output folder: ``(passages in order, passage id ->
    its query rows)``. Raises ``InputError`` naming the folder when it is not such an output."""
    from drama_data.datasets.folder import read_table
    from drama_data.sources import local_path

    local_path(folder, "--queries", kind="folder")
    try:
        table = read_table(folder, "queries")
    except InputError as exc:
        raise InputError(f"--queries {exc}") from None
    missing = [c for c in SOURCE_COLUMNS if c not in table.column_names]
    if missing:
        raise InputError(f"--queries {folder}: the queries config lacks column(s) {', '.join(missing)}")
    passages: dict[str, Passage] = {}
    by_passage: dict[str, list[dict]] = {}
    for i, row in enumerate(table.to_pylist()):
        if not row.get("query_id") or not row.get("query") or not row.get("passage_id"):
            raise InputError(f"--queries {folder}: row {i} has an empty query_id, query or passage_id")
        pid = row["passage_id"]
        if pid not in passages:
            passages[pid] = Passage(pid, row.get("doc_id") or pid, 0, row.get("title") or "", row["text"] or "")
        by_passage.setdefault(pid, []).append(row)
    return list(passages.values()), by_passage


class CrossLingualTask(Task):
    """Queries in other languages than the passage's; ``method`` is ``"direct"`` or ``"translate"``.

    ``min_language_confidence`` and ``min_script_share`` set :func:`check_language`; ``per_language`` caps
    the rows per (passage language, query language) pair (the runner stops asking for a pair once it has them).
    """

    name = "crosslingual"
    source = "crosslingual"
    columns = {"task_description": pa.string(), "passage_language": pa.string(), "detected_language": pa.string(),
               "language_confidence": pa.float32(), "method": pa.string(), "source_query_id": pa.string(),
               "source_query": pa.string(), "source_language": pa.string(), "round_trip_query": pa.string(),
               "round_trip_overlap": pa.float32()}

    def __init__(self, *, target_languages: list[str] = ("de", "zh"), queries_per_doc: int = 1,
                 sampling: Sampling | None = None, max_attempts: int = 3, check_languages: list[str] | None = None,
                 method: str = "direct", queries: str | Path | None = None,
                 min_language_confidence: float = MIN_LANGUAGE_CONFIDENCE,
                 min_script_share: float = MIN_SCRIPT_SHARE, per_language: int | None = None,
                 round_trip: float | None = None, **kw):
        super().__init__(sampling=sampling or PAPER_SAMPLING, max_attempts=max_attempts, **kw)
        if method not in METHODS:
            raise ConfigError(f"--method {method!r}: choose from {', '.join(METHODS)}")
        if (method == "translate") != (queries is not None):
            raise ConfigError("--method translate needs --queries DIR (a --task queries output), and --queries "
                              "goes only with --method translate")
        if per_language is not None and per_language < 1:
            raise ConfigError(f"--per-language must be at least 1, got {per_language}")
        if round_trip is not None and (method != "translate" or not 0 < round_trip <= 1):
            raise ConfigError("--round-trip MIN goes with --method translate, and MIN is a share in (0, 1]")
        self.round_trip = round_trip
        self.targets = [normalize_language(t) for t in target_languages]
        if not self.targets:
            raise ConfigError("--target-languages: name at least one language")
        unknown = [t for t in self.targets if t not in known_languages()]
        if unknown:
            raise ConfigError(f"--target-languages: {', '.join(unknown)} cannot be checked (py3langid knows "
                              "ISO 639-1 codes such as en, de, zh, ja, ko, ru, ar, hi)")
        self.queries_per_doc = queries_per_doc
        self.method = method
        self.queries_dir = str(queries) if queries is not None else None
        self.min_language_confidence = min_language_confidence
        self.min_script_share = min_script_share
        self.per_language = per_language
        self.candidates = sorted(CODES | set(self.targets) | set(check_languages or []))
        self.detector = LanguageDetector()
        self._passage_languages: dict[str, str] = {}
        self._sources: dict[str, list[dict]] = {}
        self._source_by_id: dict[str, dict] = {}
        self._passages: list[Passage] | None = None
        if self.queries_dir is not None:
            self._passages, self._sources = load_source_queries(self.queries_dir)
            self._source_by_id = {r["query_id"]: r for rows in self._sources.values() for r in rows}

    # -- passages and slots ----------------------------------------------------------------------------------
    def own_passages(self) -> list[Passage] | None:
        """translate: the passages of the ``--queries`` folder (the runner uses them instead of a corpus)."""
        return self._passages

    def slots(self, passage: Passage) -> list[str]:
        if self.method == "direct":
            own = self.passage_language(passage)
            return [f"{passage.id}/xl-{t}{k}" for t in self.targets if t != own for k in range(self.queries_per_doc)]
        return [f"{row['query_id']}/xl-{t}" for row in self._sources.get(passage.id, [])
                for t in self.targets if t != self._source_language(row)]

    @staticmethod
    def target_of(slot: str) -> str:
        return slot.rsplit("/xl-", 1)[1].rstrip("0123456789")

    @staticmethod
    def source_query_id_of(slot: str) -> str:
        """translate: the id of the query the slot translates."""
        return slot.rsplit("/xl-", 1)[0]

    def passage_language(self, passage: Passage) -> str:
        if passage.id not in self._passage_languages:
            rows = self._sources.get(passage.id)
            given = normalize_language(rows[0].get("passage_language")) if rows else ""
            self._passage_languages[passage.id] = given or self.detector.passage(passage.text)
        return self._passage_languages[passage.id]

    def pair_of(self, passage: Passage, slot: str) -> tuple[str, str]:
        return self.passage_language(passage), self.target_of(slot)

    def _source_language(self, row: dict) -> str:
        return normalize_language(row.get("language")) or self.detector.query(row["query"])[0]

    # -- prompt --------------------------------------------------------------------------------------------
    def prompt_name(self) -> str:
        return "crosslingual" if self.method == "direct" else "crosslingual-translate"

    def variables(self, passage: Passage, slot: str) -> dict:
        target = self.target_of(slot)
        out = {**super().variables(passage, slot), "target_language": code_to_name(target), "target_code": target}
        if self.method == "translate":
            row = self._source_by_id[self.source_query_id_of(slot)]
            source = self._source_language(row)
            out.update(query=row["query"], source_language=code_to_name(source), source_code=source)
        return out

    def example_translations(self, passage: Passage, slot: str) -> frozenset[str]:
        """The normalised ``Translation:`` lines of the few-shot examples in this slot's prompt (rendered with an
        empty query; a small model answers with an example's translation: "how does low dose aspirin prevent
        heart attacks" for a Chinese football question)."""
        return self.prompt_examples(passage, slot, prompt_example_translations, query="")

    # -- reading an answer -----------------------------------------------------------------------------------
    def parse(self, passage: Passage, slot: str, text: str, finish_reason: str | None = None) -> dict:
        target = self.target_of(slot)
        passage_language = self.passage_language(passage)
        source_row: dict = {}
        if self.method == "direct":
            answer = read_answer(text)
            query, task_description, last = answer.query, answer.task, answer.query_was_last
            check_not_an_example(query, self.example_queries(passage, slot), passage.text, target)
        else:
            source_row = self._source_by_id[self.source_query_id_of(slot)]
            query, last = read_translation(text)
            task_description = source_row.get("task_description") or ""
            if normalise(query) == normalise(source_row["query"]):
                raise ParseFailure(REASON_UNTRANSLATED)
            check_not_an_example(query, self.example_translations(passage, slot), passage.text, target)
        check_not_truncated(query, finish_reason, last)
        detected, confidence = identify_language(query, sorted(set(self.candidates) | {passage_language} - {""}))
        confidence = round(confidence, 4)
        source_language = self._source_language(source_row) if source_row else ""
        mixed = {"en", passage_language, source_language} - {"", target}
        check_language(query, target, detected, confidence, min_confidence=self.min_language_confidence,
                       min_script_share=self.min_script_share, mixed_candidates=mixed)
        check_not_echo(query, passage.text, detected_language=detected, language_confidence=confidence)
        return {"query": query, "task_description": task_description, "language": target,
                "detected_language": detected, "language_confidence": confidence,
                "passage_language": passage_language, "method": self.method,
                "source_query_id": source_row.get("query_id", ""), "source_query": source_row.get("query", ""),
                "source_language": source_language}

    # -- the round trip (translate, ``round_trip`` set) ------------------------------------------------------
    def followup(self, passage: Passage, slot: str, row: dict, attempt: int):
        """The back-translation request of a translated row: the same prompt, the translation as the query,
        from the target language into the source's (its own seed)."""
        if self.round_trip is None:
            return None
        variables = {**self.variables(passage, slot), "query": row["query"],
                     "source_language": code_to_name(row["language"]), "source_code": row["language"],
                     "target_language": code_to_name(row["source_language"]), "target_code": row["source_language"]}
        return self.render_request(f"{slot}@{attempt}/back", variables, self.sampling_for(f"{slot}/back", attempt))

    def check_followup(self, passage: Passage, slot: str, row: dict, text: str) -> dict:
        """Reject a translation whose back-translation keeps less than ``round_trip`` of the source query's
        content words (:func:`round_trip_overlap`)."""
        back, _ = read_translation(text)
        overlap = round_trip_overlap(row["source_query"], back, row["source_language"])
        if overlap < self.round_trip:
            raise ParseFailure(f"round trip keeps too few source words (below {self.round_trip:g})",
                               row["detected_language"], row["language_confidence"])
        return {"round_trip_query": back, "round_trip_overlap": round(overlap, 4)}

    def info(self) -> dict:
        return {**super().info(), "method": self.method, "queries": self.queries_dir,
                "target_languages": self.targets, "queries_per_doc": self.queries_per_doc,
                "min_language_confidence": self.min_language_confidence,
                "min_script_share": self.min_script_share, "per_language": self.per_language,
                "round_trip": self.round_trip}
