"""Pack consecutive short passages into long documents (``--pack-tokens N``): long-context training data made
locally, as BGE-M3's MultiLongDoc joins passages into long documents (Chen et al. 2024, Sec. 3.2).

In: passages in corpus order (after chunking, see :mod:`drama_data.chunking`) and a token budget ``N``. Out:
:class:`PackedPassage` records, each the longest run of consecutive passages whose tokens sum to at most ``N``
(a passage that alone exceeds ``N`` becomes a document of its own). A packed document:

- has the stable id ``pack-<first part id>-<number of parts>`` (``doc_id`` the same, ``chunk`` 0);
- has no title: its text is the parts joined by a blank line, each part written as ``title\\ntext`` when the
  part has a title (so no title is lost) and as ``text`` otherwise;
- records its parts in ``parts``: ``(part id, start, end)`` with ``text[start:end]`` the part's block exactly.

Tokens are counted with the chunking span function on each part's block (the blank line between parts counts no
token), so the same options always give the same documents and ids. (This module imports nothing from
:mod:`drama_data.chunking`, which calls it: a packed document has a passage's fields, and ``parts``.)
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from drama_data.errors import ConfigError

SEPARATOR = "\n\n"


@dataclass(frozen=True)
class PackedPassage:
    """A packed document: the fields of a :class:`~drama_data.chunking.Passage`, and ``parts``, its passages
    as ``(id, start, end)`` with ``text[start:end]`` the part's block."""

    id: str
    doc_id: str
    chunk: int
    title: str
    text: str
    parts: tuple[tuple[str, int, int], ...] = ()


def part_block(passage) -> str:
    """How a part is written in a packed document: ``title\\ntext``, or ``text`` without a title."""
    return f"{passage.title}\n{passage.text}" if passage.title else passage.text


def _packed(group: list[tuple]) -> PackedPassage:
    parts, pieces, at = [], [], 0
    for p, block in group:
        if pieces:
            at += len(SEPARATOR)
        parts.append((p.id, at, at + len(block)))
        pieces.append(block)
        at += len(block)
    pid = f"pack-{group[0][0].id}-{len(group)}"
    return PackedPassage(id=pid, doc_id=pid, chunk=0, title="", text=SEPARATOR.join(pieces), parts=tuple(parts))


def pack_passages(passages: Iterable, max_tokens: int,
                  spans: Callable[[str], list[tuple[int, int]]]) -> Iterator[PackedPassage]:
    """Consecutive ``passages`` (:class:`~drama_data.chunking.Passage`) packed greedily into documents of at most
    ``max_tokens`` tokens counted by ``spans`` (a chunking span function; module doc)."""
    if max_tokens < 1:
        raise ConfigError(f"--pack-tokens must be at least 1, got {max_tokens}")
    group: list[tuple] = []
    used = 0
    for p in passages:
        block = part_block(p)
        n = len(spans(block))
        if group and used + n > max_tokens:
            yield _packed(group)
            group, used = [], 0
        group.append((p, block))
        used += n
    if group:
        yield _packed(group)
