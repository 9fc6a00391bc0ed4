"""Which section of a long passage a query prompt holds (``--section-tokens M``, issue 30): a passage longer than
``M`` tokens is not sent whole; the LLM sees one section and the query row is for the whole document, with
where its answer lies.

In: a passage (a :class:`~drama_data.packing.PackedPassage` or a plain one), the slot's index, the run seed, ``M``
and the token span function. Out: a :class:`Section` (character offsets in the passage text, the text the prompt
holds and its title) or ``None`` when the whole passage fits in ``M`` tokens.

Sections: for a packed document its parts (a part longer than ``M`` tokens cut further), otherwise the passage cut
into consecutive windows of at most ``M`` tokens at sentence ends (:func:`drama_data.chunking.chunk_spans`). The
section is picked by a seed derived from ``(seed, passage id)``; the k-th query of a passage takes the next
section after the (k-1)-th, so a passage's queries spread over it and, over a corpus, the picks cover every depth
uniformly (paper passages are 256 tokens: DRAMA Sec. 3; the default ``M``).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from drama_data.chunking import Passage, Spans, chunk_spans
from drama_data.tasks.base import derive_seed


@dataclass(frozen=True)
class Section:
    """``text[start:end]`` of the passage is what the prompt holds (``title``: the prompt's title)."""

    start: int
    end: int
    text: str
    title: str

    def answer_columns(self, length: int) -> dict:
        """The row's ``answer_start``, ``answer_end`` and ``answer_depth`` (start / length of the document)."""
        return {"answer_start": self.start, "answer_end": self.end,
                "answer_depth": round(self.start / length, 6) if length else 0.0}


#: the columns of a row whose prompt held the whole passage
NO_SECTION = {"answer_start": None, "answer_end": None, "answer_depth": None}


def section_ranges(passage: Passage, max_tokens: int, spans: Callable[[str], Spans]) -> list[tuple[int, int]]:
    """The candidate sections of ``passage`` as character ranges (module doc); one range when it fits."""
    text = passage.text
    parts = getattr(passage, "parts", ()) or ()
    pieces = [(a, b) for _pid, a, b in parts] if parts else [(0, len(text))]
    out: list[tuple[int, int]] = []
    for a, b in pieces:
        piece = text[a:b]
        out += [(a + x, a + y) for x, y in chunk_spans(piece, spans(piece), max_tokens)]
    return out


def choose_section(passage: Passage, index: int, seed: int, max_tokens: int | None,
                   spans: Callable[[str], Spans]) -> Section | None:
    """The section the ``index``-th query of ``passage`` is asked about, or ``None`` when the passage fits."""
    if not max_tokens or len(spans(passage.text)) <= max_tokens:
        return None
    ranges = section_ranges(passage, max_tokens, spans)
    if len(ranges) < 2:
        return None
    a, b = ranges[(derive_seed(seed, "section", passage.id) + index) % len(ranges)]
    packed = bool(getattr(passage, "parts", ()))
    return Section(start=a, end=b, text=passage.text[a:b], title="" if packed else passage.title)
