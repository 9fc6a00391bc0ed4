"""The input paths a recipe names that are not on this machine: warnings for ``recipe validate``, ``recipe run
--dry-run`` and the start of ``recipe run``, before hours of generation end at a missing folder.

In: a :class:`~drama_models.recipes.runner.RecipeRun` (the recipe, its run folder and collection) and the stages
to look at. Out: :class:`MissingInput` items, one per stage, key and path, each printed as one line
``WARNING: stages.<stage>.<key>: <value> (<where it was looked for>): no such file or folder``.

What is checked: the recipe's collection (``corpus:`` or ``--corpus``) and every option a stage lists in its
``PATH_OPTIONS`` (``key -> "data" | "model"``: a corpus, calibration text, training datasets, evaluation
collections, a model folder), list entries one by one (``datasets[1]``). A value is a path to check when it
looks like one: data values by the rule of :func:`drama_data.sources.looks_like_path` (``/``, ``.``, ``~``, two
or more ``/``, a file suffix, a first folder that exists or is ``data/``, ``runs/``, ...), model values by
:func:`drama_models.model_source.looks_like_path` (``meta-llama/Llama-3.2-1B`` is a Hub id, not a path). Not
paths: the word ``corpus`` (the run's collection), ``@STAGE`` references, Hub ids and short model names. Paths
inside the folder of a stage of the same recipe are made by that stage and are not reported.

Relative values (options the recipe loader did not resolve against the recipe's folder) are looked for in the
recipe's folder and in the current folder; found in either, they are not reported.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class MissingInput:
    """An input path of ``stage`` (``None``: the recipe's collection) under option ``key`` that does not exist."""

    stage: str | None
    key: str
    value: str
    looked: tuple[Path, ...]

    @property
    def where(self) -> str:
        return f"stages.{self.stage}.{self.key}" if self.stage else self.key

    def line(self) -> str:
        shown = [str(p) for p in self.looked if str(p) != self.value]
        at = f" ({' or '.join(shown)})" if shown else ""
        return f"{self.where}: {self.value}{at}: no such file or folder"


def _is_path(value: str, kind: str, base: Path) -> bool:
    if kind == "model":
        from drama_models.model_source import looks_like_path

        first = value.split("/", 1)[0]
        return looks_like_path(value) or ("/" in value and ((base / first).exists() or Path(first).exists()))
    from drama_data.sources import looks_like_path

    return looks_like_path(value, cwd=base) or looks_like_path(value)


def _candidates(value: str, base: Path) -> tuple[Path, ...]:
    p = Path(value).expanduser()
    if p.is_absolute():
        return (p,)
    return tuple(dict.fromkeys([(base / p).resolve(), (Path.cwd() / p).resolve()]))


def _entries(stage, key: str) -> Iterator[tuple[str, str]]:
    """``(label, value)`` for an option: itself, or each entry of a list (``datasets`` entries without their
    ``:WEIGHT``)."""
    value = stage.options.get(key)
    if isinstance(value, list):
        for i, item in enumerate(value):
            if key == "datasets":
                from drama_models.training.config import DatasetSpec

                try:
                    item = DatasetSpec.parse(item).path
                except ValueError:
                    continue
            yield f"{key}[{i}]", item
    elif value is not None:
        yield key, value


def missing_inputs(run, stages: Iterable | None = None) -> list[MissingInput]:
    """Input paths of ``stages`` (default: every enabled stage of ``run``) and of the run's collection that do
    not exist (see the module doc)."""
    base = run.recipe.path.parent
    made = [run.ctx.stage_dir(s.name).resolve() for s in run.stages if s.spec.enabled]
    out: list[MissingInput] = []

    def check(stage_name: str | None, key: str, value, kind: str) -> None:
        if not isinstance(value, str) or not value.strip() or value == "corpus" or value.startswith("@"):
            return
        if value.startswith("embedded:") or not _is_path(value, kind, base):
            return
        looked = _candidates(value, base)
        if any(p.exists() for p in looked):
            return
        if any(p == m or m in p.parents for p in looked for m in made):
            return  # the output of a stage of this recipe
        out.append(MissingInput(stage_name, key, value, looked))

    if run.corpus:
        check(None, "corpus", run.corpus, "data")
    for stage in (s for s in (stages if stages is not None else run.stages) if s.spec.enabled):
        for key, kind in stage.PATH_OPTIONS.items():
            for label, value in _entries(stage, key):
                check(stage.name, label, value, kind)
    return out


def warning_lines(run, stages: Iterable | None = None) -> list[str]:
    """:func:`missing_inputs` as ``WARNING: <recipe file>: ...`` lines."""
    return [f"WARNING: {run.recipe.path}: {m.line()}" for m in missing_inputs(run, stages)]
