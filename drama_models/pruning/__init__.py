"""Prune a decoder LLM into a small encoder backbone (DRAMA, Ma et al. 2025).

One-shot structured pruning with activation (Minitron) or retrieval (contrastive Taylor) importance, or
Sheared-LLaMA's learned hard-concrete masks; vocabulary pruning; continued pretraining; reports.
The CLI (``drama-models prune`` / ``drama-models pretrain``) is a thin layer over :func:`prune` and
:func:`pretrain`. Submodules are imported lazily so ``import drama_models.pruning`` stays cheap.
"""
from __future__ import annotations

__all__ = ["prune", "PruneSettings", "pretrain", "PretrainSettings", "parse_target", "NAMED_TARGETS", "PruningError"]


def __getattr__(name):
    if name in ("prune", "PruneSettings"):
        from drama_models.pruning import pipeline

        return getattr(pipeline, name)
    if name in ("pretrain", "PretrainSettings"):
        from drama_models.pruning import pretrain as _pretrain

        return getattr(_pretrain, name)
    if name in ("parse_target", "NAMED_TARGETS"):
        from drama_models.pruning import targets

        return getattr(targets, name)
    if name == "PruningError":
        from drama_models.pruning.errors import PruningError

        return PruningError
    raise AttributeError(name)
