"""Haystack negatives for long rows (``swap_negatives: N``, CLI ``--swap-negatives N``; issue 30): the row's own
document with its answer section swapped for a section of another document.

A long row (``generate --pack-tokens ... --section-tokens M``) has a query asked about ONE section of a packed
document, ``text[answer_start:answer_end]``, and the whole document as its positive. BM25 negatives are other
documents, which the model tells apart by topic without reading the section; a negative that is the same
document with only that section replaced, ``text[:answer_start] + other + text[answer_end:]``, differs from the
positive only where the answer is, so the model must read it (a prototype raised Needle with it).

In: the answer sections of one input's queries (:class:`SectionPool`, from the queries dataset's
``answer_start``/``answer_end`` columns), a row's document text, span, query and query id, the seed.
Out: up to N ``(docid, text)`` negatives, docid ``<docid>#swap<k>``. ``other`` is another document's answer
section of the nearest length (picked by a generator seeded with ``(seed, query_id)`` among the ``NEAREST``
nearest in length), never one that contains the query or equals the row's own section. Rows without a span are
not touched (:func:`swap_texts` is not called for them).
"""
from __future__ import annotations

import bisect
import hashlib
import random
import re
from dataclasses import dataclass, field

#: how many sections nearest in length the pick is drawn from
NEAREST = 8
_SPACE_RE = re.compile(r"\s+")


def _norm(text: str) -> str:
    return _SPACE_RE.sub(" ", text).strip().casefold()


def _seed(seed: int, query_id: str) -> int:
    """A 31-bit seed from the build seed and the query id: the same row gets the same swaps in every run."""
    h = hashlib.sha256(repr((seed, "swap", query_id)).encode("utf-8")).digest()
    return int.from_bytes(h[:4], "big") & 0x7FFFFFFF


@dataclass
class SectionPool:
    """The answer sections of one input: ``(docid, section text)``, sorted by length (ties by docid, text)."""

    items: list[tuple[int, str, str]] = field(default_factory=list)  # (length, docid, text)

    @classmethod
    def from_spans(cls, spans: dict[str, tuple[str, int, int]], passages: dict[str, tuple[str, str]]
                   ) -> SectionPool:
        """``spans``: query id -> ``(docid, answer_start, answer_end)``; ``passages``: docid -> (title, text).
        A section is listed once however many queries ask about it; spans outside their text are skipped here
        (the row that carries one is an error when it is labelled, :func:`check_span`)."""
        seen = set()
        for docid, a, b in spans.values():
            text = (passages.get(docid) or ("", ""))[1]
            if 0 <= a < b <= len(text):
                seen.add((b - a, docid, text[a:b]))
        return cls(sorted(seen))

    def pick(self, n: int, length: int, docid: str, own: str, query: str, rng: random.Random) -> list[str]:
        """Up to ``n`` distinct sections of other documents, nearest to ``length`` characters, not containing
        ``query`` nor equal to ``own`` (whitespace and case ignored)."""
        lengths = [x[0] for x in self.items]
        i = bisect.bisect_left(lengths, length)
        lo, hi = i - 1, i
        q, own_n = _norm(query), _norm(own)
        chosen: list[str] = []
        taken: set[str] = set()
        while len(chosen) < n and (lo >= 0 or hi < len(self.items)):
            near: list[str] = []  # the next NEAREST eligible sections outwards from `length`
            while len(near) < NEAREST and (lo >= 0 or hi < len(self.items)):
                if hi >= len(self.items) or (lo >= 0 and length - self.items[lo][0] <= self.items[hi][0] - length):
                    _, d, text = self.items[lo]
                    lo -= 1
                else:
                    _, d, text = self.items[hi]
                    hi += 1
                t = _norm(text)
                if d == docid or t in taken or t == own_n or (q and q in t):
                    continue
                near.append(text)
                taken.add(t)
            rng.shuffle(near)
            chosen += near[:n - len(chosen)]
        return chosen


def check_span(text: str, start, end, where: str) -> tuple[int, int] | None:
    """``(start, end)`` as ints when both are given, ``None`` when either is null; a span outside ``text`` is
    ``ValueError`` with ``where`` (the caller names the input and query)."""
    if start is None or end is None:
        return None
    start, end = int(start), int(end)
    if not 0 <= start < end <= len(text):
        raise ValueError(f"{where}: answer_start/answer_end {start}/{end} are not a span of its source passage "
                         f"({len(text)} characters)")
    return start, end


def swap_texts(pool: SectionPool, n: int, seed: int, query_id: str, query: str, docid: str, text: str,
               span: tuple[int, int]) -> list[tuple[str, str]]:
    """Up to ``n`` negatives ``(f"{docid}#swap{k}", text[:start] + other + text[end:])`` for one row (module doc)."""
    start, end = span
    others = pool.pick(n, end - start, docid, text[start:end], query, random.Random(_seed(seed, query_id)))
    return [(f"{docid}#swap{k}", text[:start] + other + text[end:]) for k, other in enumerate(others)]
