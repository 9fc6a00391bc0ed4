"""A flow recipe file: read it, check every key, fill defaults.

Layout (YAML)::

    name: cpu-demo                 # optional; default: the file name
    description: ...               # optional
    corpus: ../../shared/data/scifact   # the collection (relative paths: against the recipe's folder);
                                   #   `--corpus PATH` overrides it
    output: runs/cpu-demo          # the run folder (relative: against the current directory); `--output`
    seed: 0                        # default seed of every stage that takes one
    plan: {passages: 1000000}      # optional: corpus size for --dry-run when the corpus is not on this machine
    stages:                        # in order; each key is a stage name, its kind the name or `kind:`
      queries: {passages: 600}
      crop: {passages: 2000}
      mine: {k: 50}
      train-minilm: {kind: train, model: minilm, max_steps: 60}
      evaluate: {}

Stage kinds, in the order they may appear: ``queries``, ``crop``, ``crosslingual`` (generate), ``mine``,
``rerank``, ``build``, ``prune``, ``pretrain``, ``train``, ``evaluate``. Every stage takes ``enabled``
(default true). A bad file raises :class:`RecipeError` naming the key (``stages.mine.k: expected an integer``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from drama_data.errors import ConfigError
from drama_models.recipes.stage_registry import stage_types as registered_stage_types

KINDS = ("queries", "crop", "crosslingual", "mine", "rerank", "build", "prune", "pretrain", "train", "evaluate",
         "long-context")
TOP_KEYS = ("name", "description", "corpus", "output", "seed", "plan", "stages")
PLAN_KEYS = ("passages", "mean_passage_tokens")


class RecipeError(ConfigError):
    """A recipe file that cannot run; the message names the file and the key."""


@dataclass(frozen=True)
class Opt:
    """One stage option: accepted types (``int`` also accepts nothing else; ``float`` accepts ints),
    default, whether ``null`` is allowed, and help text."""

    types: tuple
    default: Any = None
    nullable: bool = True
    help: str = ""

    def check(self, value: Any, where: str) -> Any:
        if value is None:
            if not self.nullable:
                raise RecipeError(f"{where}: must not be null")
            return None
        if float in self.types and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and float in self.types and str not in self.types:
            try:
                return float(value)  # YAML 1.1 reads 1e-4 as a string
            except ValueError:
                pass
        ok = isinstance(value, self.types) and not (isinstance(value, bool) and bool not in self.types)
        if not ok:
            names = " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in self.types)
            raise RecipeError(f"{where}: expected {names}, got {type(value).__name__} {value!r}")
        return value


_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true/false", list: "a list",
               dict: "a mapping"}


def opt(*types, default=None, nullable=True, help=""):
    return Opt(tuple(types), default, nullable, help)


@dataclass
class StageSpec:
    """One stage as written in the recipe, defaults filled in."""

    name: str
    kind: str
    options: dict[str, Any]
    enabled: bool = True


@dataclass
class Recipe:
    path: Path
    name: str
    description: str
    corpus: str | None
    output: str
    seed: int
    stages: list[StageSpec]
    plan: dict = field(default_factory=dict)

    def stage(self, name: str) -> StageSpec:
        for s in self.stages:
            if s.name == name:
                return s
        raise RecipeError(f"{self.path}: no stage named {name!r} (stages: {', '.join(s.name for s in self.stages)})")


def is_flow_recipe(path: str | Path) -> bool:
    """True when the YAML file has a ``stages:`` key (a training config has none)."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(raw, dict) and "stages" in raw


def resolve_path(value: str | None, base: Path) -> str | None:
    """``value`` as an absolute path when it is relative and exists relative to ``base`` (the recipe's folder);
    otherwise unchanged (a Hub id, a short model name, or an absolute path)."""
    if not value:
        return value
    p = Path(value).expanduser()
    if p.is_absolute():
        return str(p)
    candidate = (base / p)
    if value.startswith(("./", "../")) or candidate.exists():
        return str(candidate.resolve())
    return value


def load_recipe(path: str | Path, stage_types: dict | None = None) -> Recipe:
    """Read and check ``path``; raise :class:`RecipeError` naming the first bad key. ``stage_types`` (kind ->
    adapter class) defaults to the registered stages (:mod:`drama_models.recipes.stage_registry`: the built-in
    ones of :mod:`drama_models.recipes.stages`; tests pass fake stages)."""
    STAGE_TYPES = stage_types if stage_types is not None else registered_stage_types()

    p = Path(path)
    if not p.is_file():
        raise RecipeError(f"{p}: no such recipe file")
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RecipeError(f"{p}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise RecipeError(f"{p}: expected a mapping at the top level")
    if "stages" not in raw:
        raise RecipeError(f"{p}: no `stages:` key; this looks like a training config: "
                          f"use `drama-models train --config {p}`")
    for key in raw:
        if key not in TOP_KEYS:
            raise RecipeError(f"{p}: {key}: unknown key (allowed: {', '.join(TOP_KEYS)})")
    base = p.resolve().parent
    seed = raw.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise RecipeError(f"{p}: seed: expected an integer, got {seed!r}")
    for key in ("name", "description", "corpus", "output"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise RecipeError(f"{p}: {key}: expected a string, got {raw[key]!r}")
    plan = raw.get("plan") or {}
    if not isinstance(plan, dict):
        raise RecipeError(f"{p}: plan: expected a mapping ({', '.join(PLAN_KEYS)})")
    for key, value in plan.items():
        if key not in PLAN_KEYS:
            raise RecipeError(f"{p}: plan.{key}: unknown key (allowed: {', '.join(PLAN_KEYS)})")
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            raise RecipeError(f"{p}: plan.{key}: expected a positive number, got {value!r}")
    stages_raw = raw["stages"]
    if not isinstance(stages_raw, dict) or not stages_raw:
        raise RecipeError(f"{p}: stages: expected a mapping of stage name -> options")
    name = raw.get("name") or p.stem
    stages: list[StageSpec] = []
    last_kind = -1
    for sname, values in stages_raw.items():
        where = f"{p}: stages.{sname}"
        if not isinstance(sname, str) or not sname.replace("-", "").replace("_", "").isalnum():
            raise RecipeError(f"{where}: stage names use letters, digits, - and _")
        values = {} if values is None else values
        if not isinstance(values, dict):
            raise RecipeError(f"{where}: expected a mapping of options")
        kind = values.get("kind", sname)
        if kind not in STAGE_TYPES:
            raise RecipeError(f"{where}: unknown stage {kind!r} (kinds: {', '.join(STAGE_TYPES)}; "
                              f"name a stage freely and set `kind:`)")
        stage_type = STAGE_TYPES[kind]
        options: dict[str, Any] = {}
        enabled = values.get("enabled", True)
        if not isinstance(enabled, bool):
            raise RecipeError(f"{where}.enabled: expected true/false, got {enabled!r}")
        for key, value in values.items():
            if key in ("kind", "enabled"):
                continue
            if key not in stage_type.OPTIONS:
                raise RecipeError(f"{where}.{key}: unknown option for a {kind} stage "
                                  f"(options: {', '.join(sorted(stage_type.OPTIONS))})")
            options[key] = stage_type.OPTIONS[key].check(value, f"{where}.{key}")
        for key, o in stage_type.OPTIONS.items():
            options.setdefault(key, o.default)
        spec = StageSpec(name=sname, kind=kind, options=options, enabled=enabled)
        stage_type.validate(spec, where, base)
        order = KINDS.index(kind) if kind in KINDS else last_kind
        if order < last_kind:
            raise RecipeError(f"{where}: a {kind} stage must come before {KINDS[last_kind]} stages "
                              f"(order: {', '.join(KINDS)})")
        last_kind = order
        stages.append(spec)
    recipe = Recipe(path=p.resolve(), name=name, description=raw.get("description") or "",
                    corpus=resolve_path(raw.get("corpus"), base),
                    output=raw.get("output") or str(Path("runs") / name), seed=seed, stages=stages, plan=plan)
    for spec in stages:  # references between stages (e.g. model: "@prune") once all names are known
        STAGE_TYPES[spec.kind].check_references(spec, recipe, f"{p}: stages.{spec.name}")
    return recipe
