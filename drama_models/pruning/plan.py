"""What to keep: a :class:`PruningPlan` (kept layers, hidden channels, and per kept layer the query heads, the
KV heads they read and the FFN neurons), chosen from importance :class:`Scores` to meet a target exactly.

Selection rules (one-shot, as Minitron: Muralidharan et al. 2024; and the final deterministic step of
Sheared-LLaMA, Xia et al. 2024): keep the top-``L`` layers (original order kept), the top-``D`` hidden channels
(shared by all layers: it is the residual stream), per kept layer the top-``F`` FFN neurons, and per kept layer
the best query heads *by KV group*: each new KV head is one source KV head (a group may be split into several
copies when the target has fewer query heads per KV head; see ``targets.py``) and carries ``heads/kv_heads``
query heads of that same source group, chosen to maximise the summed head score. Ties go to the lower index.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from drama_models.pruning.masked import MaskSet
from drama_models.pruning.targets import Shape


@dataclass
class Scores:
    """Importance per structure: ``layer [L]``, ``hidden [D]``, ``head [L, H]``, ``ffn [L, F]`` (higher = keep)."""

    layer: torch.Tensor
    hidden: torch.Tensor
    head: torch.Tensor
    ffn: torch.Tensor


def _top(scores: torch.Tensor, k: int) -> list[int]:
    order = torch.argsort(-scores.double(), stable=True)[:k]
    return sorted(int(i) for i in order)


def _select_heads(scores: torch.Tensor, source: Shape, target: Shape) -> tuple[list[int], list[int]]:
    """Query heads (new order) and the source KV head of each new KV head, for one layer."""
    g_src, g_tgt = source.group, target.group
    chunks = []  # (score, group, k, heads)
    for group in range(source.kv_heads):
        members = list(range(group * g_src, (group + 1) * g_src))
        ordered = sorted(members, key=lambda h: (-float(scores[h]), h))
        for k in range(g_src // g_tgt):
            part = ordered[k * g_tgt : (k + 1) * g_tgt]
            chunks.append((sum(float(scores[h]) for h in part), group, k, sorted(part)))
    chosen = sorted(chunks, key=lambda c: (-c[0], c[1], c[2]))[: target.kv_heads]
    chosen.sort(key=lambda c: (c[1], c[3][0]))
    heads = [h for c in chosen for h in c[3]]
    kv_heads = [c[1] for c in chosen]
    return heads, kv_heads


@dataclass
class PruningPlan:
    """Kept source indices. ``heads``/``kv_heads``/``ffn`` have one list per entry of ``layers``."""

    source: Shape
    target: Shape
    layers: list[int]
    hidden: list[int]
    heads: list[list[int]]
    kv_heads: list[list[int]]
    ffn: list[list[int]]

    @classmethod
    def from_scores(cls, scores: Scores, source: Shape, target: Shape) -> PruningPlan:
        layers = _top(scores.layer, target.layers)
        heads, kvs = zip(*[_select_heads(scores.head[l], source, target) for l in layers]) if layers else ((), ())
        plan = cls(
            source=source,
            target=target,
            layers=layers,
            hidden=_top(scores.hidden, target.hidden),
            heads=[list(h) for h in heads],
            kv_heads=[list(k) for k in kvs],
            ffn=[_top(scores.ffn[l], target.ffn) for l in layers],
        )
        plan.check()
        return plan

    @classmethod
    def identity(cls, source: Shape) -> PruningPlan:
        """The plan that keeps everything (``--target full``)."""
        return cls(source=source, target=source, layers=list(range(source.layers)), hidden=list(range(source.hidden)),
                   heads=[list(range(source.heads)) for _ in range(source.layers)],
                   kv_heads=[list(range(source.kv_heads)) for _ in range(source.layers)],
                   ffn=[list(range(source.ffn)) for _ in range(source.layers)])

    def check(self) -> None:
        """Raise ``ValueError`` unless the plan yields exactly ``target`` with consistent KV groups."""
        s, t = self.source, self.target
        if len(self.layers) != t.layers or sorted(set(self.layers)) != self.layers:
            raise ValueError(f"plan keeps layers {self.layers}, target has {t.layers} (sorted, distinct)")
        if not all(0 <= l < s.layers for l in self.layers):
            raise ValueError(f"plan keeps layers {self.layers}, source has {s.layers}")
        if (len(self.hidden) != t.hidden or sorted(set(self.hidden)) != self.hidden
                or not all(0 <= d < s.hidden for d in self.hidden)):
            raise ValueError("plan's hidden channels do not match the target")
        for heads, kvs, ffn in zip(self.heads, self.kv_heads, self.ffn, strict=True):
            if len(heads) != t.heads or len(set(heads)) != t.heads or len(kvs) != t.kv_heads or len(ffn) != t.ffn:
                raise ValueError("plan does not match the target shape")
            for i, h in enumerate(heads):
                if h // s.group != kvs[i // t.group]:
                    raise ValueError(f"query head {h} is not in source KV group {kvs[i // t.group]}")

    def to_masks(self, dtype=torch.float32) -> MaskSet:
        """0/1 masks over the *source* model that select exactly this plan."""
        s = self.source
        layer = torch.zeros(s.layers, dtype=dtype)
        head = torch.zeros(s.layers, s.heads, dtype=dtype)
        ffn = torch.zeros(s.layers, s.ffn, dtype=dtype)
        hidden = torch.zeros(s.hidden, dtype=dtype)
        hidden[self.hidden] = 1
        for l, heads, neurons in zip(self.layers, self.heads, self.ffn):
            layer[l] = 1
            head[l, heads] = 1
            ffn[l, neurons] = 1
        return MaskSet(layer=layer, head=head, ffn=ffn, hidden=hidden)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> PruningPlan:
        return cls(**{**data, "source": Shape(**data["source"]), "target": Shape(**data["target"])})
