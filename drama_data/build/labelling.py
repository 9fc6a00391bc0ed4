"""Apply one labelling rule to one query's ranked candidates: positives, hard negatives, or why there are none.

:func:`label` ``(rule, ranking, scores, source_id, fn_mode) -> Labels``.

- ``ranking``: docids best first: the retriever's candidate order, or the LLM's reranked order for a rule
  with ``ranking: rerank``. Rank r is ``ranking[r - 1]``.
- ``scores``: docid -> retriever score (from the candidates), used by the false-negative guard.
- ``source_id``: the passage the query was made from ("" if none).

Positives are the docids at ranks ``rule.positives`` (plus the source passage first when
``rule.source_positive``); negatives those at ranks ``rule.negatives``, never a positive, never the source
passage (``exclude_source_from_negatives``), and minus the guarded false negatives: with ``ref`` the lowest
retriever score among the scored positives, a negative scoring >= ``ref - margin*|ref|`` (relative) or
``>= ref - margin`` (absolute) is dropped. ``max_positives``/``max_negatives`` keep the best-ranked ones.
``Labels.reason`` is ``"no_positive"`` or ``"too_few_negatives"`` (fewer than ``rule.min_negatives``) when
the row must not be written, else ``None``.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from drama_data.build.config import Rule


@dataclass
class Labels:
    positives: list[str] = field(default_factory=list)
    negatives: list[str] = field(default_factory=list)
    fn_dropped: list[str] = field(default_factory=list)
    reason: str | None = None
    detail: str = ""


def _in(rng: tuple[int, int] | None, rank: int) -> bool:
    return rng is not None and rng[0] <= rank <= rng[1]


def label(rule: Rule, ranking: Sequence[str], scores: Mapping[str, float], source_id: str = "",
          fn_mode: str = "relative") -> Labels:
    """Positives and negatives of one row under ``rule`` (see the module docstring)."""
    out = Labels()
    seen: set[str] = set()
    ranked: list[tuple[int, str]] = []
    for rank, d in enumerate(ranking, start=1):
        if d in seen:  # a repeated id keeps its best rank
            continue
        seen.add(d)
        ranked.append((rank, d))
    rank_pos = [d for r, d in ranked if _in(rule.positives, r)]
    pos = list(rank_pos)
    if rule.source_positive and source_id:
        pos = [source_id] + [d for d in pos if d != source_id]
    if rule.max_positives is not None:
        pos = pos[:rule.max_positives]
    pos_set = set(pos)
    neg = [d for r, d in ranked if _in(rule.negatives, r) and d not in pos_set
           and not (rule.exclude_source_from_negatives and source_id and d == source_id)]
    if rule.fn_margin is not None and neg:
        scored = [scores[d] for d in pos if d in scores]
        if scored:
            ref = min(scored)
            thr = ref - rule.fn_margin * abs(ref) if fn_mode == "relative" else ref - rule.fn_margin
            out.fn_dropped = [d for d in neg if d in scores and scores[d] >= thr]
            if out.fn_dropped:
                dropped = set(out.fn_dropped)
                neg = [d for d in neg if d not in dropped]
    if rule.max_negatives is not None:
        neg = neg[:rule.max_negatives]
    out.positives, out.negatives = pos, neg
    if not pos:
        out.reason = "no_positive"
        out.detail = f"no candidate at ranks {list(rule.positives) if rule.positives else None} " \
                     f"({len(ranked)} ranked){'' if source_id or not rule.source_positive else ', no source passage'}"
    elif len(neg) < rule.min_negatives:
        out.reason = "too_few_negatives"
        out.detail = (f"{len(neg)} negatives < min_negatives {rule.min_negatives} ({len(ranked)} ranked, "
                      f"{len(out.fn_dropped)} dropped as likely false negatives)")
    return out
