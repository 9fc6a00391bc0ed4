"""Counted nouns for messages and summaries: ``plural(1, "document")`` -> ``"1 document"``, never "1 documents"."""
from __future__ import annotations


def plural(n: int, singular: str, many: str | None = None) -> str:
    """``"<n> <noun>"`` with the noun in the singular when ``n`` is 1 (or -1).

    In: a count and the singular noun (a phrase such as ``"failed attempt"`` works: its last word takes the
    ending); ``many``: the plural when it is not the singular plus ``s`` (``"queries"``, ``"documents or pages"``).
    Out: the count as given and the noun.
    """
    noun = singular if abs(n) == 1 else (many if many is not None else singular + "s")
    return f"{n} {noun}"
