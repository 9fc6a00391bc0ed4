"""The ``train`` stage: contrastive fine-tuning on the build stage's training set
(:func:`drama_models.training.trainer.train`; under ``torchrun`` when ``nproc_per_node > 1``).

Options are :class:`~drama_models.training.config.TrainConfig`'s (``batch_size``, ``train_group_size``,
``max_steps``, ``learning_rate``, ``temperature``, ``matryoshka_dims``, ...) less ``output_dir`` (the stage
folder) and ``datasets`` (default: every earlier build stage's output; a list of PATH[:WEIGHT] overrides, where
PATH may be ``"@STAGE"``, an earlier build stage's output: two train stages can then learn from different builds).
``model``: a Hub id, a folder, a short name (``minilm``, see :func:`drama_models.zoo.resolve_model`), or
``"@STAGE"`` for the output of an earlier prune/pretrain/train stage; default: the last prune/pretrain stage.
``length_buckets`` (``"256:32,1024:8"`` or ``[[256, 32], [1024, 8]]``; quote the string form: YAML 1.1 reads an
unquoted ``256:32`` as a base-60 number) trains on length-bucketed batches (:mod:`drama_models.training.buckets`);
the stage's counts then give rows and steps per bucket. The stage writes the training config it runs to ``<run>/configs/<stage>.yaml`` (``drama-models train
--config`` reads the same file). Resuming: ``resume: auto`` continues from the newest checkpoint.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from drama_models.recipes.schema import Opt, Recipe, RecipeError, StageSpec, opt
from drama_models.recipes.stages.base import (
    RunContext,
    Stage,
    join_command,
    run_torchrun,
)
from drama_models.training.config import DatasetSpec, TrainConfig
from drama_models.training.options import train_options

MODEL_KINDS = ("prune", "pretrain", "train")


def _train_options() -> dict[str, Opt]:
    """The stage's keys: every :class:`TrainConfig` field but ``output_dir``, read by the same
    :func:`~drama_models.training.options.train_options` as the ``train`` command's flags; plus torchrun's."""
    out: dict[str, Opt] = {}
    for o in train_options(exclude=("output_dir",)):
        if o.kind == "datasets":
            out[o.name] = opt(list, help="PATH[:WEIGHT] list (PATH may be @STAGE, an earlier build stage); "
                                         "default: every earlier build stage's output.")
            continue
        # model: from the recipe; seed: the recipe's unless set; progress bars off inside a recipe run
        default = None if o.name in ("model", "seed") else o.default
        if o.name == "show_progress":
            default = False
        out[o.name] = Opt(o.yaml_types, default, True, o.help)
    out["nproc_per_node"] = opt(int, default=1, nullable=False, help="> 1: torchrun with this many processes.")
    out["nnodes"] = opt(int, default=1, nullable=False, help="Nodes (torchrun --nnodes; launch once per node).")
    return out


def _stage_ref(entry) -> str | None:
    """``"@NAME"`` or ``"@NAME:WEIGHT"`` -> ``NAME``; ``None`` for a path (parsed as the trainer parses entries)."""
    path = DatasetSpec.parse(str(entry)).path
    return path[1:] if path.startswith("@") else None


class TrainStage(Stage):
    kind = "train"
    RESUMES_IN_PLACE = True
    PATH_OPTIONS = {"model": "model", "datasets": "data"}
    OPTIONS = _train_options()

    @classmethod
    def validate(cls, spec: StageSpec, where: str, base: Path) -> None:
        values = {k: v for k, v in spec.options.items()
                  if k not in ("nproc_per_node", "nnodes", "model", "datasets") and v is not None}
        try:
            cfg = TrainConfig.from_dict({**values, "model": "m", "output_dir": "o", "datasets": ["d"]}, where)
            cfg.validate(where)
        except (ValueError, TypeError) as exc:
            raise RecipeError(str(exc).replace(f"{where}: option `", f"{where}.").replace("`", "")) from None

    @classmethod
    def check_references(cls, spec: StageSpec, recipe: Recipe, where: str) -> None:
        model = spec.options.get("model")
        before = recipe.stages[:recipe.stages.index(spec)]
        for i, entry in enumerate(spec.options.get("datasets") or []):
            ref = _stage_ref(entry)
            if ref is not None and not any(s.name == ref and s.kind == "build" and s.enabled for s in before):
                raise RecipeError(f"{where}.datasets[{i}]: {entry!r} names no enabled build stage before it")
        if model and model.startswith("@"):
            ref = model[1:]
            if not any(s.name == ref and s.kind in MODEL_KINDS for s in before):
                raise RecipeError(f"{where}.model: {model!r} names no prune/pretrain/train stage before it")
        elif not model and not any(s.kind in ("prune", "pretrain") for s in before):
            raise RecipeError(f"{where}.model: missing (no prune/pretrain stage before it to take it from)")

    # ---- data flow
    def _model_stage(self, ctx: RunContext) -> Stage | None:
        model = self.options.get("model")
        if model and model.startswith("@"):
            return ctx.by_name(model[1:])
        if not model:
            found = ctx.earlier(self, ("prune", "pretrain"))
            return found[-1] if found else None
        return None

    def start_model(self, ctx: RunContext) -> str:
        """The checkpoint training starts from (a resolved path or Hub id)."""
        stage = self._model_stage(ctx)
        if stage is not None:
            return str(ctx.stage_dir(stage.name))
        from drama_models.zoo import resolve_model

        return resolve_model(self.options["model"])

    def start_model_label(self) -> str:
        model = self.options.get("model") or "pruned"
        return model.lstrip("@")

    def _datasets(self, ctx: RunContext) -> list[str]:
        given = self.options.get("datasets")
        if not given:
            return [str(ctx.stage_dir(s.name)) for s in ctx.earlier(self, ("build",))]
        out = []
        for entry in map(str, given):
            ref = _stage_ref(entry)
            out.append(entry if ref is None else str(ctx.stage_dir(ref)) + entry[1 + len(ref):])
        return out

    def upstream(self, ctx: RunContext) -> list[Stage]:
        given = self.options.get("datasets")
        refs = {_stage_ref(str(d)) for d in given or ()}
        ups = ([s for s in ctx.earlier(self, ("build",)) if s.name in refs] if given
               else ctx.earlier(self, ("build",)))
        stage = self._model_stage(ctx)
        return ups + ([stage] if stage else [])

    def inputs(self, ctx: RunContext) -> dict[str, Any]:
        return {"model": self.start_model(ctx), "datasets": self._datasets(ctx)}

    def gpus(self) -> int:
        return self.options["nproc_per_node"] * self.options["nnodes"]

    def config(self, ctx: RunContext) -> dict[str, Any]:
        values = {k: v for k, v in self.options.items() if k not in ("nproc_per_node", "nnodes") and v is not None}
        values.update(model=self.start_model(ctx), output_dir=str(ctx.stage_dir(self.name)),
                      datasets=self._datasets(ctx), seed=self.options.get("seed") if self.options.get("seed")
                      is not None else ctx.recipe.seed)
        return values

    def fingerprint_options(self, ctx: RunContext) -> dict[str, Any]:
        return self.changed_options(exclude=("show_progress", "logging_steps"))

    def prepare(self, ctx: RunContext) -> None:
        path = ctx.config_path(self.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.config(ctx), sort_keys=False), encoding="utf-8")

    def command(self, ctx: RunContext) -> str:
        n, nodes = self.options["nproc_per_node"], self.options["nnodes"]
        head = (["torchrun", "--nnodes", nodes, "--nproc-per-node", n, "-m", "drama_models.cli"]
                if n > 1 or nodes > 1 else ["drama-models"])
        return join_command(head + ["train", "--config", ctx.config_path(self.name)])

    def run(self, ctx: RunContext) -> dict[str, Any]:
        from drama_models.training.trainer import LOG_FILE, train

        if not self._datasets(ctx):
            raise RecipeError(f"stages.{self.name}: no training data (no build stage before it; or set datasets:)")
        self.prepare(ctx)
        if self.options["nnodes"] > 1:
            raise RecipeError(f"stages.{self.name}: nnodes {self.options['nnodes']}: a multi-node job is launched on "
                              f"every node by your scheduler; run this on each node (with torchrun's --node-rank "
                              f"and --rdzv-endpoint): {self.command(ctx)}")
        path = ctx.config_path(self.name)
        if self.options["nproc_per_node"] > 1:
            run_torchrun([sys.executable, "-m", "torch.distributed.run", "--nproc-per-node",
                          str(self.options["nproc_per_node"]), "-m", "drama_models.cli", "train", "--config",
                          str(path)], self.name)
        else:
            try:
                config = TrainConfig.from_yaml(path)
            except ValueError as exc:
                raise RecipeError(f"stages.{self.name}: {exc}") from None
            train(config)
        return training_counts(ctx.stage_dir(self.name) / LOG_FILE)


def training_counts(log_path: Path) -> dict[str, Any]:
    """First/last logged loss and the step count, from ``train_log.jsonl``; with length buckets, rows and steps
    per bucket (``"256: 900 rows, 40 steps; 4096: 50 rows (3 truncated), 10 steps"``) from the trainer's
    summary in ``training_complete.json``."""
    from cards.model_card import training_summary
    from drama_models.training.trainer import read_train_log

    records = read_train_log(log_path.parent)
    if not records:
        return {}
    out = {"steps": records[-1]["step"], "first_loss": round(records[0]["loss"], 4),
           "last_loss": round(records[-1]["loss"], 4)}
    buckets = training_summary(log_path.parent).get("length_buckets")
    if buckets:
        out["length_buckets"] = "; ".join(
            f"{b['max_len']}: {b['rows']} rows{f' ({t} truncated)' if (t := b['truncated_rows']) else ''}, "
            f"{b['steps']} steps" for b in buckets)
    return out
