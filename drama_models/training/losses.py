"""Contrastive losses: InfoNCE over in-batch + hard negatives, its Matryoshka form, teacher distillation.

Shapes: ``q`` ``[B, d]`` query embeddings, ``p`` ``[B * G, d]`` passage embeddings laid out query by query
(rows ``i*G .. i*G+G-1`` belong to query ``i``; the first of them is its positive, the rest its hard negatives).
Every query is scored against all ``B * G`` passages (the other queries' positives and negatives are in-batch
negatives), as in DPR/Tevatron and DRAMA (Ma et al. 2025, section 4.1: "InfoNCE ... in-batch and hard negatives").

Under ``torch.distributed``, :func:`~drama_models.training.distributed.gather_across_devices` concatenates every
rank's ``q`` and ``p`` so each query meets the passages of all devices; the local shard keeps its autograd graph,
the others are constants. The loss is then the global loss (identical on every rank). Gradient reaches each rank only through its own
shard, and DDP averages gradients over ranks, so the caller multiplies the loss by the world size before
``backward`` to get the gradient of the global loss (Tevatron does the same);
:func:`~drama_models.training.distributed.backward_scale` says by how much. (Both live in ``distributed.py`` with
the rest of the multi-process code; importing them from here still works.)
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from drama_models.training.distributed import (  # noqa: F401  (backward_scale, distributed_ready: re-exported)
    backward_scale,
    distributed_ready,
    gather_across_devices,
)


def info_nce(q: torch.Tensor, p: torch.Tensor, temperature: float) -> torch.Tensor:
    """Mean cross-entropy of ``softmax(q @ p.T / temperature)`` against each query's positive (row ``i * G``)."""
    if p.shape[0] % q.shape[0]:
        raise ValueError(f"{p.shape[0]} passages for {q.shape[0]} queries: not a whole group per query")
    group = p.shape[0] // q.shape[0]
    scores = (q.float() @ p.float().T) / temperature
    target = torch.arange(q.shape[0], device=q.device) * group
    return F.cross_entropy(scores, target)


def group_distillation(q: torch.Tensor, p: torch.Tensor, teacher: torch.Tensor, temperature: float,
                       teacher_temperature: float = 1.0) -> torch.Tensor:
    """Mean KL(teacher || student) over each query's own group (its positive and hard negatives).

    ``teacher`` is ``[B, G]`` (row ``i`` scores passages ``i*G .. i*G+G-1``; NaN marks a group without teacher
    scores, left out of the mean). Student logits are ``q_i . p_j / temperature``, teacher logits
    ``teacher / teacher_temperature``. This is listwise distillation from a stronger ranker, as GPL (Wang et al.
    2022) distils a cross-encoder into a dense retriever, here over the group ``build`` wrote.
    """
    b = q.shape[0]
    if p.shape[0] % b or teacher.shape != (b, p.shape[0] // b):
        raise ValueError(f"teacher scores of shape {tuple(teacher.shape)} for {b} queries and {p.shape[0]} passages")
    group = p.shape[0] // b
    student = torch.einsum("bd,bgd->bg", q.float(), p.float().view(b, group, -1)) / temperature
    known = ~torch.isnan(teacher).any(dim=1)
    if not known.any():
        return student.new_zeros(())
    t = F.log_softmax(teacher[known].float() / teacher_temperature, dim=-1)
    s = F.log_softmax(student[known], dim=-1)
    return F.kl_div(s, t, log_target=True, reduction="batchmean")


class InfoNCELoss(torch.nn.Module):
    """``info_nce`` with a fixed temperature; ``cross_device=True`` gathers ``q`` and ``p`` over ranks first."""

    def __init__(self, temperature: float = 0.01, cross_device: bool = False):
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"option `temperature`={temperature} must be > 0")
        self.temperature = temperature
        self.cross_device = cross_device

    def forward(self, q: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        if self.cross_device:
            q, p = gather_across_devices(q), gather_across_devices(p)
        return info_nce(q, p, self.temperature)


class MatryoshkaLoss(torch.nn.Module):
    """Weighted sum over ``dims`` of ``base`` on embeddings cut to each dim (re-normalised when ``normalize``).

    Gathering across devices (when ``base.cross_device``) is done once, on the full embeddings. A dim larger than
    the embedding raises ``ValueError`` naming ``matryoshka_dims``.
    """

    def __init__(self, base: InfoNCELoss, dims: list[int], weights: list[float] | None = None, normalize: bool = True):
        super().__init__()
        if not dims:
            raise ValueError("option `matryoshka_dims` is empty")
        weights = list(weights) if weights is not None else [1.0] * len(dims)
        if len(weights) != len(dims):
            raise ValueError(f"option `matryoshka_weights` needs {len(dims)} values, got {len(weights)}")
        self.base = base
        self.dims = list(dims)
        self.weights = weights
        self.normalize = normalize

    def forward(self, q: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        full = q.shape[-1]
        too_big = [d for d in self.dims if d > full]
        if too_big:
            raise ValueError(f"option `matryoshka_dims` has {too_big}, larger than the embedding size {full}")
        if self.base.cross_device:
            q, p = gather_across_devices(q), gather_across_devices(p)
        total = q.new_zeros((), dtype=torch.float32)
        for dim, weight in zip(self.dims, self.weights):
            qd, pd = q[:, :dim], p[:, :dim]
            if self.normalize:
                qd, pd = F.normalize(qd, dim=-1), F.normalize(pd, dim=-1)
            total = total + weight * info_nce(qd, pd, self.base.temperature)
        return total

    @property
    def cross_device(self) -> bool:
        return self.base.cross_device


def build_loss(
    temperature: float,
    cross_device: bool = False,
    matryoshka_dims: list[int] | None = None,
    matryoshka_weights: list[float] | None = None,
    normalize: bool = True,
) -> torch.nn.Module:
    """InfoNCE, wrapped in Matryoshka when ``matryoshka_dims`` is given."""
    base = InfoNCELoss(temperature, cross_device)
    if matryoshka_dims:
        return MatryoshkaLoss(base, matryoshka_dims, matryoshka_weights, normalize)
    return base
