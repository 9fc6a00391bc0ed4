"""``prune`` and ``pretrain`` stages: an LLM pruned to a small encoder backbone
(:func:`drama_models.pruning.pipeline.prune`), then continued pretraining with the LM loss
(:func:`drama_models.pruning.pretrain.pretrain`; under ``torchrun`` when ``nproc_per_node > 1``).

Text options (``calibration``, ``vocab_from``, ``heldout``, pretrain's ``corpus``) take a path or the word
``corpus`` (the run's collection; the default for calibration and pretraining text). ``model`` takes a Hub id,
a folder or a short name (``gemma`` / ``embedded:gemma-3-270m``: the embedded Gemma-3-270M, see
:func:`drama_models.zoo.resolve_model`); pretrain's ``model`` defaults to the prune stage before it.
"""
from __future__ import annotations

import sys
from typing import Any

from drama_models.recipes.schema import Recipe, RecipeError, StageSpec, opt
from drama_models.recipes.stages.base import RunContext, Stage, flags, join_command, run_torchrun


def text_source(value: str | None, ctx: RunContext, stage: Stage) -> str | None:
    if value == "corpus":
        return ctx.require_corpus(stage)
    return value


def _resolve_texts(spec: StageSpec, keys: tuple[str, ...], base) -> None:
    """Relative paths in ``keys`` resolve against the recipe's folder (``corpus`` and names stay as they are)."""
    from drama_models.recipes.schema import resolve_path

    for key in keys:
        value = spec.options.get(key)
        if value and value != "corpus":
            spec.options[key] = resolve_path(value, base)


class PruneStage(Stage):
    kind = "prune"
    PATH_OPTIONS = {"model": "model", "calibration": "data", "vocab_from": "data", "heldout": "data"}
    OPTIONS = {
        "model": opt(str, nullable=False, default="meta-llama/Llama-3.2-1B", help="Source LLM (paper: Llama-3.2-1B)."),
        "gguf_file": opt(str),
        "target": opt(str, nullable=False, default="drama-0.1b", help="Named target or hidden=..,ffn=..,heads=..,layers=.."),
        "calibration": opt(str, default="corpus", nullable=False),
        "method": opt(str, default="oneshot", nullable=False, help="oneshot or sheared."),
        "importance": opt(str, default="activation", nullable=False),
        "layer_metric": opt(str, default="bi", nullable=False),
        "seq_len": opt(int, default=256, nullable=False),
        "calibration_blocks": opt(int, default=128, nullable=False),
        "calibration_docs": opt(int), "min_calibration_blocks": opt(int, default=8, nullable=False),
        "batch_size": opt(int, default=4, nullable=False),
        "sheared_steps": opt(int, default=100, nullable=False), "sheared_lr": opt(float, default=0.05, nullable=False),
        "sheared_weight_lr": opt(float, default=1e-4, nullable=False),
        "sheared_train_weights": opt(str, default="all", nullable=False),
        "sheared_droprate_init": opt(float, default=0.5, nullable=False),
        "sheared_fold_scales": opt(bool, default=False, nullable=False),
        "sheared_init": opt(str, default="uniform", nullable=False),
        "vocab_from": opt(str, help="Keep only the tokens this text uses (`corpus`: the collection)."),
        "vocab_docs": opt(int), "heldout": opt(str), "heldout_skip_docs": opt(int, default=0, nullable=False),
        "heldout_blocks": opt(int, default=32, nullable=False),
        "dtype": opt(str, default="float32", nullable=False), "device": opt(str),
        "seed": opt(int), "trust_remote_code": opt(bool, default=False, nullable=False),
    }

    @classmethod
    def validate(cls, spec: StageSpec, where: str, base) -> None:
        _resolve_texts(spec, ("model", "calibration", "vocab_from", "heldout"), base)

    def inputs(self, ctx: RunContext) -> dict[str, Any]:
        o = self.options
        return {"model": o["model"], "calibration": text_source(o["calibration"], ctx, self) if ctx.corpus or
                o["calibration"] != "corpus" else "corpus"}

    def gpus(self) -> int:
        return 0 if self.options["device"] == "cpu" else 1

    def command(self, ctx: RunContext) -> str:
        o = self.options
        parts: list[Any] = ["drama-models", "prune", "--model", o["model"], "--target", o["target"],
                            "--calibration", ctx.corpus if o["calibration"] == "corpus" else o["calibration"],
                            "--output", ctx.stage_dir(self.name), "--method", o["method"]]
        skip = {"model", "target", "calibration", "method", "trust_remote_code", "seed"}
        for key, value in o.items():
            if key in skip or value is None or value == self.OPTIONS[key].default:
                continue
            if key in ("vocab_from", "heldout") and value == "corpus":
                value = ctx.corpus
            flag = {"sheared_lr": "--sheared-lr"}.get(key, "--" + key.replace("_", "-"))
            parts += flags({flag: value})
        parts += flags({"--seed": ctx.seed(self), "--overwrite": True})
        return join_command(parts)

    def run(self, ctx: RunContext) -> dict[str, Any]:
        from drama_models.pruning.errors import PruningError
        from drama_models.pruning.pipeline import PruneSettings, prune
        from drama_models.pruning.sheared import ShearedSettings
        from drama_models.zoo import resolve_model

        o = self.options
        seed = ctx.seed(self)
        settings = PruneSettings(
            method=o["method"], importance=o["importance"], layer_metric=o["layer_metric"], seq_len=o["seq_len"],
            calibration_blocks=o["calibration_blocks"], calibration_docs=o["calibration_docs"],
            min_calibration_blocks=o["min_calibration_blocks"], batch_size=o["batch_size"],
            sheared=ShearedSettings(steps=o["sheared_steps"], batch_size=o["batch_size"], mask_lr=o["sheared_lr"],
                                    lambda_lr=o["sheared_lr"], weight_lr=o["sheared_weight_lr"],
                                    train_weights=o["sheared_train_weights"],
                                    droprate_init=o["sheared_droprate_init"], fold_scales=o["sheared_fold_scales"],
                                    seed=seed),
            sheared_init=o["sheared_init"], vocab_from=text_source(o["vocab_from"], ctx, self),
            vocab_docs=o["vocab_docs"], heldout=text_source(o["heldout"], ctx, self),
            heldout_skip_docs=o["heldout_skip_docs"], heldout_blocks=o["heldout_blocks"], dtype=o["dtype"],
            device=o["device"], overwrite=True, seed=seed, progress=False,
        )
        try:
            report = prune(resolve_model(o["model"]), o["target"], text_source(o["calibration"], ctx, self),
                           ctx.stage_dir(self.name), settings, gguf_file=o["gguf_file"],
                           trust_remote_code=o["trust_remote_code"])
        except PruningError as exc:
            raise RecipeError(f"stages.{self.name}: {exc}") from None
        ctx.echo(report.get("summary", "pruned"))
        keep = ("perplexity_before", "perplexity_after", "parameters_before", "parameters_after_pruning",
                "parameters_after_vocabulary")
        return {k: report[k] for k in keep if k in report}


class PretrainStage(Stage):
    kind = "pretrain"
    RESUMES_IN_PLACE = True
    PATH_OPTIONS = {"model": "model", "corpus": "data"}
    OPTIONS = {
        "model": opt(str, help="Default: the prune stage before this one."),
        "corpus": opt(str, default="corpus", nullable=False, help="Training text (`corpus`: the collection)."),
        "steps": opt(int, default=1000, nullable=False), "batch_size": opt(int, default=8, nullable=False),
        "grad_accum": opt(int, default=1, nullable=False), "seq_len": opt(int, default=256, nullable=False),
        "lr": opt(float, default=1e-4, nullable=False), "min_lr_ratio": opt(float, default=0.1, nullable=False),
        "warmup_steps": opt(int, default=0, nullable=False), "weight_decay": opt(float, default=0.0, nullable=False),
        "save_every": opt(int, default=200, nullable=False), "keep_checkpoints": opt(int, default=2, nullable=False),
        "max_docs": opt(int), "heldout_docs": opt(int, default=0, nullable=False), "heldout": opt(str),
        "heldout_skip_docs": opt(int, default=0, nullable=False), "heldout_blocks": opt(int, default=32, nullable=False),
        "dtype": opt(str, default="float32", nullable=False), "seed": opt(int),
        "nproc_per_node": opt(int, default=1, nullable=False, help="> 1: run under torchrun (DDP)."),
        "nnodes": opt(int, default=1, nullable=False, help="Nodes (documentation for --dry-run; launch per node)."),
    }

    @classmethod
    def validate(cls, spec: StageSpec, where: str, base) -> None:
        _resolve_texts(spec, ("model", "corpus", "heldout"), base)

    @classmethod
    def check_references(cls, spec: StageSpec, recipe: Recipe, where: str) -> None:
        if spec.options["model"] is None and not any(s.kind == "prune" for s in recipe.stages
                                                     if recipe.stages.index(s) < recipe.stages.index(spec)):
            raise RecipeError(f"{where}.model: no prune stage before it; set `model:`")

    def _model(self, ctx: RunContext) -> str:
        if self.options["model"]:
            from drama_models.zoo import resolve_model

            return resolve_model(self.options["model"])
        return str(ctx.stage_dir(ctx.earlier(self, ("prune",))[-1].name))

    def upstream(self, ctx: RunContext) -> list[Stage]:
        return [] if self.options["model"] else ctx.earlier(self, ("prune",))[-1:]

    def inputs(self, ctx: RunContext) -> dict[str, Any]:
        return {"model": self._model(ctx), "corpus": ctx.corpus if self.options["corpus"] == "corpus"
                else self.options["corpus"]}

    def gpus(self) -> int:
        return self.options["nproc_per_node"] * self.options["nnodes"]

    def _argv(self, ctx: RunContext) -> list[Any]:
        o = self.options
        parts: list[Any] = ["--model", self._model(ctx), "--corpus", self.inputs(ctx)["corpus"] or "CORPUS",
                            "--output", ctx.stage_dir(self.name)]
        for key, value in o.items():
            if key in ("model", "corpus", "nproc_per_node", "nnodes", "seed") or value is None:
                continue
            if value == self.OPTIONS[key].default:
                continue
            parts += flags({"--" + key.replace("_", "-"): value})
        parts += flags({"--seed": ctx.seed(self), "--no-progress": True})
        return parts

    def command(self, ctx: RunContext) -> str:
        n = self.options["nproc_per_node"]
        head = (["torchrun", "--nnodes", self.options["nnodes"], "--nproc-per-node", n, "-m", "drama_models.cli"]
                if n > 1 or self.options["nnodes"] > 1 else ["drama-models"])
        return join_command(head + ["pretrain"] + self._argv(ctx))

    def run(self, ctx: RunContext) -> dict[str, Any]:
        if self.options["nnodes"] > 1:
            raise RecipeError(f"stages.{self.name}: nnodes {self.options['nnodes']}: a multi-node job is launched on "
                              f"every node by your scheduler; run this on each node (with torchrun's --node-rank "
                              f"and --rdzv-endpoint): {self.command(ctx)}")
        o = self.options
        if o["nproc_per_node"] > 1:
            argv = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(o["nproc_per_node"]),
                    "-m", "drama_models.cli", "pretrain"] + [str(x) for x in self._argv(ctx)]
            run_torchrun(argv, self.name)
            return {"steps": o["steps"]}
        from drama_models.pruning.errors import PruningError
        from drama_models.pruning.pretrain import PretrainSettings, pretrain

        keys = [k for k in PretrainSettings.__dataclass_fields__ if k in o and k != "seed"]
        settings = PretrainSettings(**{k: o[k] for k in keys}, seed=ctx.seed(self), progress=False)
        try:
            summary = pretrain(self._model(ctx), self.inputs(ctx)["corpus"], ctx.stage_dir(self.name), settings,
                               resume=True, dtype=o["dtype"])
        except PruningError as exc:
            raise RecipeError(f"stages.{self.name}: {exc}") from None
        return {k: v for k, v in summary.items() if k not in ("history", "settings")}
