"""Read an LLM's ranking answer (``[3] > [1] > [2]``) into a full permutation, repairing what is wrong.

Identifiers are 1-based positions in the window. Out-of-range ids and repeats are dropped, ids the answer
left out are appended in their input order, and every repair is recorded, so a window always yields a
permutation of its input and nothing is silently changed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

_BRACKETED = re.compile(r"\[\s*(\d+)\s*\]")
_BARE = re.compile(r"(?<![\w.])(\d+)(?![\w.])")


@dataclass
class ParsedPermutation:
    """``order`` is a permutation of ``range(n)`` (0-based); the lists say what was repaired."""

    order: list[int]
    missing: list[int] = field(default_factory=list)       # 1-based ids appended at the end
    duplicates: list[int] = field(default_factory=list)    # 1-based ids seen again and dropped
    out_of_range: list[int] = field(default_factory=list)  # numbers that are no id of this window

    @property
    def repaired(self) -> int:
        return len(self.missing) + len(self.duplicates) + len(self.out_of_range)

    def describe(self) -> str:
        parts = []
        if self.missing:
            parts.append(f"missing {self.missing}")
        if self.duplicates:
            parts.append(f"repeated {self.duplicates}")
        if self.out_of_range:
            parts.append(f"out of range {self.out_of_range}")
        return "; ".join(parts) or "ok"


def parse_permutation(text: str, n: int) -> ParsedPermutation:
    """Parse ``text`` as a ranking of ``n`` items (see module doc). Bracketed ids win over bare numbers."""
    numbers = [int(m) for m in _BRACKETED.findall(text or "")]
    if not numbers:
        numbers = [int(m) for m in _BARE.findall(text or "")]
    seen: set[int] = set()
    result = ParsedPermutation(order=[])
    for k in numbers:
        if not 1 <= k <= n:
            result.out_of_range.append(k)
        elif k in seen:
            result.duplicates.append(k)
        else:
            seen.add(k)
            result.order.append(k - 1)
    for k in range(1, n + 1):
        if k not in seen:
            result.missing.append(k)
            result.order.append(k - 1)
    return result
