"""What a stage adapter is, and what it sees of the run (:class:`RunContext`).

An adapter turns one recipe stage into one call of the toolkit's Python API. It declares its ``OPTIONS``
(:class:`~drama_models.recipes.schema.Opt`), names the earlier stages it reads (``upstream``), its inputs and
outputs as paths, the options that name input paths (``PATH_OPTIONS``), the equivalent command line, and what
``--dry-run`` should say (``estimate``: GPUs, LLM requests, tokens). ``run`` does the work and returns the key counts for the manifest.
"""
from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from drama_models.recipes.schema import Opt, Recipe, RecipeError, StageSpec


@dataclass
class RunContext:
    """The run as a stage sees it: the run folder, the collection, the other stages, a printer."""

    recipe: Recipe
    run_dir: Path
    corpus: str | None
    stages: list[Stage] = field(default_factory=list)
    echo: Callable[[str], None] = print

    def stage_dir(self, name: str) -> Path:
        return self.run_dir / name

    def config_path(self, name: str, suffix: str = ".yaml") -> Path:
        """Where a stage writes the config file its equivalent command reads (``<run>/configs/<stage>.yaml``)."""
        return self.run_dir / "configs" / f"{name}{suffix}"

    def earlier(self, stage: Stage, kinds: tuple[str, ...]) -> list[Stage]:
        """Enabled stages of ``kinds`` that come before ``stage``, in recipe order."""
        out = []
        for s in self.stages:
            if s is stage:
                break
            if s.spec.enabled and s.kind in kinds:
                out.append(s)
        return out

    def by_name(self, name: str) -> Stage:
        for s in self.stages:
            if s.name == name:
                return s
        raise RecipeError(f"no stage named {name!r}")

    def seed(self, stage: Stage) -> int:
        value = stage.options.get("seed")
        return self.recipe.seed if value is None else value

    def require_corpus(self, stage: Stage) -> str:
        if not self.corpus:
            raise RecipeError(f"stages.{stage.name}: no corpus; set `corpus:` in the recipe or pass --corpus PATH")
        return self.corpus


class Stage:
    """Base adapter. Subclasses set ``kind``, ``OPTIONS`` and implement ``run`` (and usually ``command``)."""

    kind: ClassVar[str] = ""
    OPTIONS: ClassVar[dict[str, Opt]] = {}
    #: options that name input paths: key -> "data" (a corpus, text, dataset or collection) or "model" (a model
    #: folder, or a Hub id); checked by :mod:`drama_models.recipes.inputs` (validate and --dry-run warn)
    PATH_OPTIONS: ClassVar[dict[str, str]] = {}
    #: True when an interrupted run continues in place (training checkpoints); False: the stage folder is
    #: cleared and the stage reruns (generate/mine keep their progress in their own caches).
    RESUMES_IN_PLACE: ClassVar[bool] = False

    def __init__(self, spec: StageSpec):
        self.spec = spec
        self.name = spec.name
        self.options = spec.options

    # ---- checks at load time
    @classmethod
    def validate(cls, spec: StageSpec, where: str, base: Path) -> None:
        """Extra checks of the options (nested mappings, choices); raise RecipeError naming the key."""

    @classmethod
    def check_references(cls, spec: StageSpec, recipe: Recipe, where: str) -> None:
        """Checks that need the other stages (e.g. ``model: "@prune"``)."""

    # ---- the data flow
    def upstream(self, ctx: RunContext) -> list[Stage]:
        return []

    def inputs(self, ctx: RunContext) -> dict[str, Any]:
        return {}

    def outputs(self, ctx: RunContext) -> dict[str, Any]:
        return {"output": str(ctx.stage_dir(self.name))}

    def fingerprint_options(self, ctx: RunContext) -> dict[str, Any]:
        """What, besides the inputs, decides this stage's output (default: :meth:`changed_options`)."""
        return self.changed_options()

    def changed_options(self, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
        """The options that differ from their declared defaults (minus ``exclude``): an option a newer toolkit
        adds, left at its default, keeps a finished stage complete, as other code changes do; setting an
        option, or leaving out one set before, changes the fingerprint."""
        declared = getattr(self, "OPTIONS", {})
        return {k: v for k, v in self.options.items()
                if k not in exclude and (k not in declared or v != declared[k].default)}

    def command(self, ctx: RunContext) -> str:
        return f"# {self.kind}: no single equivalent command"

    def gpus(self) -> int:
        return 0

    def estimate(self, ctx: RunContext) -> dict[str, Any]:
        """``--dry-run`` extras (LLM requests, tokens, notes)."""
        return {}

    def preflight(self, ctx: RunContext) -> None:
        """Cheap checks run for every selected stage before the first one starts (raise RecipeError)."""

    def prepare(self, ctx: RunContext) -> None:
        """Write the config files the equivalent command reads (also done by ``--dry-run``)."""

    def run(self, ctx: RunContext) -> dict[str, Any]:
        raise NotImplementedError


def join_command(parts: list[Any]) -> str:
    """A shell-quoted command line from ``parts`` (paths and numbers become strings)."""
    return " ".join(shlex.quote(str(part)) for part in parts)


def check_bf16(spec: StageSpec, where: str) -> None:
    """The stage's ``bf16`` option (auto, true or false), checked when the recipe is loaded."""
    from drama_models.precision import is_choice

    if not is_choice(spec.options.get("bf16", "auto")):
        raise RecipeError(f"{where}.bf16: {spec.options.get('bf16')!r} is not one of auto, true, false")


def flags(pairs: dict[str, Any]) -> list[str]:
    """``{"--limit": 5, "--no-progress": True, "--model": None}`` -> ``["--limit", "5", "--no-progress"]``."""
    out: list[str] = []
    for flag, value in pairs.items():
        if value is None or value is False:
            continue
        if value is True:
            out.append(flag)
        else:
            out += [flag, str(value)]
    return out


def run_torchrun(argv: list[str], stage_name: str) -> None:
    """Run a ``python -m torch.distributed.run ...`` command line (multi-GPU stages); a non-zero exit becomes one
    :class:`RecipeError` naming the stage."""
    rc = subprocess.run(argv, check=False, env=dict(os.environ)).returncode
    if rc != 0:
        raise RecipeError(f"stages.{stage_name}: torchrun exited with status {rc} ({' '.join(argv[:8])} ...)")
