"""Sent: a random sentence of the passage is its pseudo-query (no LLM).

Paper (DRAMA, Sec. 3.1): cropped sentences serve as queries; candidates are then mined with a retriever.
The sentence is chosen with a seeded generator keyed by the passage id, so every run picks the same one. A heading
is never picked: a sentence equal to the passage's title (or the last part of a section title ``Doc > Section``)
or shaped like a Markdown heading (``# ...``) is left out, since the title lives in the title field (documents
folders keep headings out of the text already: :mod:`drama_data.markup`).
``language`` is the sentence's detected language (py3langid, the passage's language as prior: see
:class:`drama_data.languages.LanguageDetector`), ``language_confidence`` its probability and
``passage_language`` the passage's: detected, or the corpus language the user gave (``--language``).

A passage longer than ``section_tokens`` (``--section-tokens``; :mod:`drama_data.tasks.sections`): the k-th row's
sentence is cropped from the k-th section picked for the passage (as the queries task picks them), and the row
records that section as ``answer_start``/``answer_end``/``answer_depth`` (null for a passage that fits).
"""
from __future__ import annotations

import random
import re

import pyarrow as pa

from drama_data.chunking import Passage, sentence_spans
from drama_data.languages import LanguageDetector, normalize_language
from drama_data.tasks.base import ParseFailure, Task, derive_seed
from drama_data.tasks.sections import NO_SECTION, choose_section

_MD_HEADING = re.compile(r"#{1,6}(\s|$)")


def is_heading(sentence: str, title: str) -> bool:
    """Whether ``sentence`` is a heading rather than a sentence of the passage (see the module doc)."""
    s = " ".join(sentence.split()).casefold()
    titles = {" ".join(t.split()).casefold() for t in (title, title.rsplit(" > ", 1)[-1]) if t.strip()}
    return s in titles or bool(_MD_HEADING.match(s))


class CropTask(Task):
    """``query_id = "<passage_id>/sent<k>"``; sentences need ``min_words`` words (CJK: characters / 2)."""

    name = "crop"
    source = "sent"
    uses_llm = False
    columns = {"language_confidence": pa.float32(), "passage_language": pa.string(),
               "answer_start": pa.int64(), "answer_end": pa.int64(), "answer_depth": pa.float32()}

    def __init__(self, *, queries_per_doc: int = 1, min_words: int = 4, max_words: int = 64,
                 language: str = "", section_tokens: int | None = None, section_tokenizer: str | None = None,
                 **kw):
        kw.pop("sampling", None)
        kw.pop("max_attempts", None)
        super().__init__(**kw)
        self.queries_per_doc = queries_per_doc
        self.min_words = min_words
        self.max_words = max_words
        self.language = normalize_language(language)
        self.detector = LanguageDetector()
        self.section_tokens = section_tokens
        self.section_tokenizer = section_tokenizer
        self._spans = None

    @staticmethod
    def _length(sentence: str) -> int:
        words = len(sentence.split())
        cjk = sum(1 for ch in sentence if "\u3040" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af")
        return max(words, cjk // 2)

    def sentences(self, text: str) -> list[str]:
        out = []
        for a, b in sentence_spans(text):
            s = text[a:b].strip()
            if self.min_words <= self._length(s) <= self.max_words:
                out.append(s)
        return out

    def slots(self, passage: Passage) -> list[str]:
        return [f"{passage.id}/sent{k}" for k in range(self.queries_per_doc)]

    def _sections(self, passage: Passage) -> list | None:
        """The section of each slot of a passage longer than ``section_tokens``; ``None`` when it fits."""
        if not self.section_tokens:
            return None
        if self._spans is None:
            from drama_data.chunking import load_span_function

            self._spans = load_span_function(self.section_tokenizer)
        first = choose_section(passage, 0, self.seed, self.section_tokens, self._spans)
        if first is None:
            return None
        return [first] + [choose_section(passage, k, self.seed, self.section_tokens, self._spans)
                          for k in range(1, self.queries_per_doc)]

    def direct(self, passage: Passage):
        sections = self._sections(passage)
        if sections is not None:
            return self._direct_sections(passage, sections)
        sentences = [s for s in self.sentences(passage.text) if not is_heading(s, passage.title)]
        rng = random.Random(derive_seed(self.seed, passage.id))
        picks = rng.sample(sentences, min(len(sentences), self.queries_per_doc)) if sentences else []
        rows: list = []
        passage_language = (self.language or self.detector.passage(passage.text)) if picks else ""
        for k, slot in enumerate(self.slots(passage)):
            if k < len(picks):
                language, confidence = self.detector.query(picks[k], passage_language)
                rows.append((slot, {"query": picks[k], "language": language, "language_confidence": confidence,
                                    "passage_language": passage_language, **NO_SECTION}))
            else:
                words = f"{self.min_words}-{self.max_words} words"
                rows.append((slot, ParseFailure(f"no sentence of {words}" if k == 0 else
                                                f"fewer than {k + 1} sentences of {words}")))
        return rows

    def _direct_sections(self, passage: Passage, sections: list) -> list:
        """Rows of a long passage: the k-th slot's sentence drawn from its section (seeded by passage and k)."""
        rows: list = []
        passage_language = None
        for k, (slot, section) in enumerate(zip(self.slots(passage), sections)):
            title = section.title or passage.title
            sentences = [x for x in self.sentences(section.text) if not is_heading(x, title)]
            if not sentences:
                rows.append((slot, ParseFailure(f"no sentence of {self.min_words}-{self.max_words} words in "
                                                f"section {section.start}-{section.end}")))
                continue
            pick = random.Random(derive_seed(self.seed, passage.id, k)).choice(sentences)
            if passage_language is None:
                passage_language = self.language or self.detector.passage(passage.text)
            language, confidence = self.detector.query(pick, passage_language)
            rows.append((slot, {"query": pick, "language": language, "language_confidence": confidence,
                                "passage_language": passage_language,
                                **section.answer_columns(len(passage.text))}))
        return rows

    def parse(self, passage, slot, text, finish_reason=None):  # pragma: no cover - never called: no LLM
        raise NotImplementedError

    def info(self) -> dict:
        return {"task": self.name, "source": self.source, "seed": self.seed, "queries_per_doc": self.queries_per_doc,
                "min_words": self.min_words, "max_words": self.max_words, "language": self.language or "detected",
                "section_tokens": self.section_tokens}
