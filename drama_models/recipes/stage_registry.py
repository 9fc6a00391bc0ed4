"""The stage kinds a recipe may name: ``kind`` -> the adapter class that runs it (`drama_models.recipes.stages.base.Stage`).

In: `register_stage` (a class with ``kind`` and ``OPTIONS``); the built-in stages register themselves in
`drama_models.recipes.stages`, in the order of the data flow, and ``import drama_models.recipes`` imports
them. Out: `stage_types` (the mapping `drama_models.recipes.schema.load_recipe` and the runner read).
It sits below the schema and the stages so that neither imports the other's side: the stages use the schema's
option types, the schema looks kinds up here.
"""
from __future__ import annotations

from typing import Any

#: kind -> stage adapter class, in registration order (the order error messages list the kinds in)
STAGE_TYPES: dict[str, Any] = {}


def register_stage(cls):
    """Register a recipe stage kind, so that recipes may name it in ``stages:`` (usable as a class decorator).

    A stage adapter subclasses `drama_models.recipes.stages.base.Stage`: it sets ``kind`` (the name recipes use)
    and ``OPTIONS`` (its recipe keys, made with `drama_models.recipes.schema.opt`, which the recipe schema
    validates), and implements ``run(ctx)`` (the work, through the Python API; returns the key counts for the
    run's manifest) and usually ``command(ctx)`` (the equivalent command line) and ``outputs(ctx)``:

    ```python
    from drama_models.recipes.schema import opt
    from drama_models.recipes.stage_registry import register_stage
    from drama_models.recipes.stages.base import Stage


    @register_stage
    class CountStage(Stage):
        kind = "count"
        OPTIONS = {"field": opt(str, default="text", nullable=False, help="Field to count.")}

        def run(self, ctx):
            ...
            return {"rows": 123}
    ```

    Args:
        cls (type[Stage]): The stage adapter class; a later class of the same ``kind`` replaces an earlier one.

    Returns:
        (type[Stage]): ``cls`` itself.

    Raises:
        TypeError: The class has no ``kind``.
    """
    if not getattr(cls, "kind", ""):
        raise TypeError(f"{cls.__name__}: a stage class needs a `kind`")
    STAGE_TYPES[cls.kind] = cls
    return cls


def stage_types() -> dict[str, Any]:
    """The registered stage kinds (read at call time, so a test may replace ``STAGE_TYPES``).

    Returns:
        Stage kind -> adapter class, in registration order.
    """
    return STAGE_TYPES
