"""The stage kinds a recipe may name: ``kind`` -> the adapter class that runs it (:class:`~.stages.base.Stage`).

In: :func:`register_stage` (a class with ``kind`` and ``OPTIONS``); the built-in stages register themselves in
:mod:`drama_models.recipes.stages`, in the order of the data flow, and ``import drama_models.recipes`` imports
them. Out: :func:`stage_types` (the mapping :func:`drama_models.recipes.schema.load_recipe` and the runner read).
It sits below the schema and the stages so that neither imports the other's side: the stages use the schema's
option types, the schema looks kinds up here.
"""
from __future__ import annotations

from typing import Any

#: kind -> stage adapter class, in registration order (the order error messages list the kinds in)
STAGE_TYPES: dict[str, Any] = {}


def register_stage(cls):
    """Add ``cls`` under ``cls.kind`` (a later class of the same kind replaces it); returns ``cls`` (a decorator)."""
    if not getattr(cls, "kind", ""):
        raise TypeError(f"{cls.__name__}: a stage class needs a `kind`")
    STAGE_TYPES[cls.kind] = cls
    return cls


def stage_types() -> dict[str, Any]:
    """The registered stage kinds (read at call time, so a test may replace :data:`STAGE_TYPES`)."""
    return STAGE_TYPES
