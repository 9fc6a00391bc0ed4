"""Run a flow recipe: stages in order inside one run folder, skipping what is complete, resuming what was cut.

Run folder (``--output``, default the recipe's ``output:``, else ``runs/<recipe name>``)::

    <run>/<stage>/            each stage's output (a dataset folder, a model folder, the evaluation)
    <run>/configs/<stage>.yaml  the config files the equivalent commands read (build, train)
    <run>/state/<stage>.json  the stage's marker: ``running`` while it runs, ``done`` written last
    <run>/logs/<stage>.error.txt  the traceback of a stage that failed (the run raises :class:`StageFailed`)
    <run>/manifest.json, summary.md, results.md, results.json

A stage is *complete* when its marker says ``done`` with the same fingerprint: a sha256 of its kind, resolved
options, inputs (paths, plus size/mtime signatures of the collection) and the completion stamps of the stages
it reads. A changed option, a changed collection, or a rerun upstream stage changes the fingerprint, and the
stage runs again. An interrupted stage (marker ``running``) runs again: training continues from its newest
checkpoint (``resume: auto``); generate reuses its request cache; mine its finished chunks; other stages
restart from a cleared folder.

``only`` runs just the named stages (their inputs must be complete); ``from_stage`` runs that stage and every
later one; both rerun the stages they name even when complete. ``dry_run`` returns the plan without running.
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from drama_data.errors import DramaError
from drama_models.recipes.manifest import Manifest, utc
from drama_models.recipes.schema import Recipe, RecipeError, load_recipe
from drama_models.recipes.stages.base import RunContext, Stage


class StageFailed(RecipeError):
    """A stage raised: the message names the stage, its error in one line and the file with the traceback
    (the original exception is the ``__cause__``). A rerun of the same command resumes at that stage."""


def path_signature(path: str | None) -> Any:
    """Size and mtime of a file, or of the files of a folder (two levels deep): cheap change detection."""
    if not path:
        return None
    p = Path(path)
    if p.is_file():
        st = p.stat()
        return [st.st_size, st.st_mtime_ns]
    if p.is_dir():
        sig = []
        for child in sorted(p.glob("*")) + sorted(p.glob("*/*")):
            if child.is_file():
                st = child.stat()
                sig.append([str(child.relative_to(p)), st.st_size, st.st_mtime_ns])
        return sig
    return path  # a Hub id or a name


class RecipeRun:
    """One run of a recipe in a run folder (see the module docstring)."""

    def __init__(self, recipe: Recipe, *, corpus: str | None = None, output: str | None = None,
                 echo: Callable[[str], None] = print, stage_types: dict | None = None,
                 argv: list[str] | None = None):
        if stage_types is None:
            from drama_models.recipes.stage_registry import stage_types as registered

            stage_types = registered()
        self.recipe = recipe
        if corpus is not None:
            p = Path(corpus).expanduser()
            corpus = str(p.resolve()) if p.exists() else corpus
        self.corpus = corpus if corpus is not None else recipe.corpus
        self.run_dir = Path(output or recipe.output).expanduser().resolve()
        self.ctx = RunContext(recipe=recipe, run_dir=self.run_dir, corpus=self.corpus, echo=echo)
        self.ctx.stages = [stage_types[s.kind](s) for s in recipe.stages]
        self.stages: list[Stage] = self.ctx.stages
        self.echo = echo
        self.argv = argv

    # ------------------------------------------------------------------ markers and fingerprints

    def marker_path(self, stage: Stage) -> Path:
        return self.run_dir / "state" / f"{stage.name}.json"

    def marker(self, stage: Stage) -> dict | None:
        p = self.marker_path(stage)
        if not p.is_file():
            return None
        try:
            return json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            return None

    def _write_marker(self, stage: Stage, data: dict) -> None:
        p = self.marker_path(stage)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
        tmp.replace(p)

    def is_complete(self, stage: Stage, fingerprint: str) -> bool:
        m = self.marker(stage)
        return bool(m and m.get("status") == "done" and m.get("fingerprint") == fingerprint)

    def fingerprint(self, stage: Stage) -> str:
        inputs = stage.inputs(self.ctx)
        upstream = {}
        for u in stage.upstream(self.ctx):
            m = self.marker(u)
            upstream[u.name] = m.get("stamp") if m and m.get("status") == "done" else None
        data = {
            "kind": stage.kind, "options": stage.fingerprint_options(self.ctx), "inputs": inputs,
            "upstream": upstream, "seed": self.ctx.seed(stage) if "seed" in stage.options else None,
            "corpus": path_signature(self.corpus) if self.corpus and self.corpus in json.dumps(inputs, default=str)
            else None,
        }
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()

    # ------------------------------------------------------------------ selection

    def select(self, only: Iterable[str] | None = None, from_stage: str | None = None) -> list[Stage]:
        """The stages this invocation may run (``only`` / ``from_stage`` checked against the recipe)."""
        names = {s.name: s for s in self.stages}
        only = list(only or [])
        if only and from_stage:
            raise RecipeError("give --only or --from, not both")
        for n in only + ([from_stage] if from_stage else []):
            if n not in names:
                raise RecipeError(f"{self.recipe.path}: no stage named {n!r} "
                                  f"(stages: {', '.join(names)})")
            if not names[n].spec.enabled:
                raise RecipeError(f"{self.recipe.path}: stage {n!r} is disabled (enabled: false)")
        enabled = [s for s in self.stages if s.spec.enabled]
        if only:
            return [s for s in enabled if s.name in only]
        if from_stage:
            start = [s.name for s in enabled].index(from_stage)
            return enabled[start:]
        return enabled

    def entry(self, stage: Stage, status: str, **extra: Any) -> dict[str, Any]:
        try:
            command = stage.command(self.ctx)
        except RecipeError as exc:
            command = f"# {exc}"
        return {"name": stage.name, "kind": stage.kind, "status": status, "command": command,
                "inputs": _safe(lambda: stage.inputs(self.ctx)), "outputs": _safe(lambda: stage.outputs(self.ctx)),
                "options": stage.options, "seed": self.ctx.seed(stage) if "seed" in stage.options else None,
                "gpus": stage.gpus(), **extra}

    # ------------------------------------------------------------------ run

    def run(self, only: Iterable[str] | None = None, from_stage: str | None = None) -> dict[str, Any]:
        selected = self.select(only, from_stage)
        forced = {s.name for s in selected} if (only or from_stage) else set()
        chosen = {s.name for s in selected}
        for stage in selected:
            stage.preflight(self.ctx)
        from drama_models.recipes.inputs import warning_lines

        for line in warning_lines(self, selected):  # a later stage's input may still appear: warn, do not stop
            self.echo(line)
        manifest = Manifest(self.run_dir, self.recipe, self.corpus, self.argv)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        for stage in self.stages:
            if not stage.spec.enabled:
                manifest.stage(self.entry(stage, "disabled"))
                continue
            if stage.name not in chosen:
                m = self.marker(stage)
                manifest.stage(self.entry(stage, "not selected", previous=m.get("status") if m else None,
                                          counts=(m or {}).get("counts"), seconds=(m or {}).get("seconds")))
                continue
            for u in stage.upstream(self.ctx):
                m = self.marker(u)
                if u.name not in chosen and not (m and m.get("status") == "done"):
                    raise RecipeError(f"stage {stage.name!r} needs the output of {u.name!r}, which is not complete; "
                                      f"run it first (e.g. --from {u.name})")
            fp = self.fingerprint(stage)
            if stage.name not in forced and self.is_complete(stage, fp):
                m = self.marker(stage)
                self.echo(f"[{stage.name}] complete, skipped ({self.ctx.stage_dir(stage.name)})")
                manifest.stage(self.entry(stage, "skipped", fingerprint=fp, counts=m.get("counts"),
                                          seconds=m.get("seconds"), completed=m.get("finished")))
                continue
            self._run_stage(stage, fp, forced=stage.name in forced, manifest=manifest)
        manifest.finish("complete")
        self.echo(f"run folder: {self.run_dir} (manifest.json, summary.md)")
        return manifest.data

    def _run_stage(self, stage: Stage, fp: str, *, forced: bool, manifest: Manifest) -> None:
        out = self.ctx.stage_dir(stage.name)
        old = self.marker(stage)
        resume = (stage.RESUMES_IN_PLACE and not forced and old is not None and old.get("status") == "running"
                  and old.get("fingerprint") == fp)
        if out.exists() and not resume:
            shutil.rmtree(out)
        self.echo(f"[{stage.name}] {'resuming' if resume else 'running'}: {stage.command(self.ctx).splitlines()[0]}")
        started = time.time()
        self._write_marker(stage, {"status": "running", "fingerprint": fp, "started": utc(started)})
        manifest.stage(self.entry(stage, "running", fingerprint=fp, resumed=resume))
        try:
            stage.prepare(self.ctx)
            counts = stage.run(self.ctx)
        except BaseException as exc:
            status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
            seconds = round(time.time() - started, 2)
            manifest.stage(self.entry(stage, status, fingerprint=fp, error=f"{type(exc).__name__}: {exc}",
                                      seconds=seconds))
            manifest.finish(status)
            if not isinstance(exc, Exception) or logging.getLogger("drama_models").isEnabledFor(logging.DEBUG):
                raise  # Ctrl-C, SystemExit, and everything under -vv: as they are
            raise self._failure(stage, exc, seconds) from exc
        seconds = round(time.time() - started, 2)
        self._write_marker(stage, {"status": "done", "fingerprint": fp, "stamp": uuid.uuid4().hex,
                                   "started": utc(started), "finished": utc(), "seconds": seconds,
                                   "counts": counts})
        manifest.stage(self.entry(stage, "ran", fingerprint=fp, resumed=resume, counts=counts, seconds=seconds))
        self.echo(f"[{stage.name}] done in {seconds:.1f} s")

    def _failure(self, stage: Stage, exc: Exception, seconds: float) -> StageFailed:
        """The one-line error for a stage that raised; its traceback goes to ``<run>/logs/<stage>.error.txt``."""
        log = self.run_dir / "logs" / f"{stage.name}.error.txt"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
        what = " ".join(str(exc).split())
        if not what or not isinstance(exc, (DramaError, ValueError)):  # input errors say what is wrong already
            what = f"{type(exc).__name__}: {what}".rstrip(": ")
        return StageFailed(f"stage {stage.name!r} failed after {seconds:.0f} s: {what} (traceback: {log}; "
                           "the same command again resumes from this stage)")


def _safe(fn):
    try:
        return fn()
    except RecipeError as exc:
        return {"error": str(exc)}


def run_recipe(path: str | Path, *, corpus: str | None = None, output: str | None = None,
               only: Iterable[str] | None = None, from_stage: str | None = None, dry_run: bool = False,
               echo: Callable[[str], None] = print, stage_types: dict | None = None,
               argv: list[str] | None = None):
    """Load ``path`` and run it (see the module docstring). Returns the manifest dict, or with ``dry_run`` the
    plan (:func:`drama_models.recipes.plan.make_plan`)."""
    recipe = load_recipe(path, stage_types)
    run = RecipeRun(recipe, corpus=corpus, output=output, echo=echo, stage_types=stage_types, argv=argv)
    if dry_run:
        from drama_models.recipes.plan import make_plan

        return make_plan(run, only=only, from_stage=from_stage)
    return run.run(only=only, from_stage=from_stage)
