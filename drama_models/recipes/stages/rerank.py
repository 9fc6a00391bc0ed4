"""The ``rerank`` stage: listwise LLM ranking (RankGPT prompt, sliding windows) of the candidates an earlier
``mine`` stage found for LLM queries (``drama_data.api.run_generate``, ``task_name="rerank"``), into
``<run>/<stage>/<generate stage>/``. It reports permutation validity (windows whose answer needed no repair)
and, with ``passes > 1``, agreement over shuffled orders; ``build`` uses the rankings as labels.

A small model (the embedded Gemma-3-270M) cannot rank: on CPU the stage is plumbing, and recipes may leave
it ``enabled: false``.
"""
from __future__ import annotations

from typing import Any

from drama_models.recipes.schema import Recipe, RecipeError, StageSpec, opt
from drama_models.recipes.stages.base import RunContext, Stage, flags, join_command
from drama_models.recipes.stages.generate import (
    BACKEND_OPTIONS,
    backend_flags,
    backend_kwargs,
    backend_settings,
    validate_backend,
)


class RerankStage(Stage):
    kind = "rerank"
    PATH_OPTIONS = {"model": "model", "prompt": "data"}
    OPTIONS = {
        **BACKEND_OPTIONS,
        "inputs": opt(list, help="Generate stages whose candidates to rerank (default: the `queries` stages)."),
        "queries": opt(int, help="Rerank only the first N queries of each input (--limit); null: all."),
        "depth": opt(int, default=20, nullable=False, help="Candidates ranked per query (paper: 20)."),
        "window": opt(int, default=20, nullable=False, help="Passages per window (paper: 20)."),
        "stride": opt(int, default=10, nullable=False),
        "passage_tokens": opt(int, default=256, nullable=False, help="Passages cut to N tokens (paper: 256)."),
        "passes": opt(int, default=1, nullable=False, help="> 1: extra shuffled passes give agreement."),
        "seed": opt(int),
    }

    @classmethod
    def validate(cls, spec: StageSpec, where: str, base) -> None:
        validate_backend(spec, where)

    @classmethod
    def check_references(cls, spec: StageSpec, recipe: Recipe, where: str) -> None:
        kinds = {s.name: s.kind for s in recipe.stages}
        for name in spec.options.get("inputs") or []:
            if kinds.get(name) not in ("queries", "crop", "crosslingual"):
                raise RecipeError(f"{where}.inputs: {name!r} is not a generate stage of this recipe")

    def _mine(self, ctx: RunContext) -> Stage | None:
        mines = ctx.earlier(self, ("mine",))
        return mines[-1] if mines else None

    def sources(self, ctx: RunContext) -> list[str]:
        """The generate stages whose candidates this stage reranks."""
        mine = self._mine(ctx)
        if mine is None:
            return []
        names = [s.name for s in mine.upstream(ctx)]
        wanted = self.options.get("inputs")
        if wanted is None:
            return [n for n in names if ctx.by_name(n).kind == "queries"]
        return [n for n in names if n in wanted]

    def upstream(self, ctx: RunContext) -> list[Stage]:
        mine = self._mine(ctx)
        return [mine] if mine else []

    def inputs(self, ctx: RunContext) -> dict[str, Any]:
        mine = self._mine(ctx)
        return {n: str(ctx.stage_dir(mine.name) / n) for n in self.sources(ctx)} if mine else {}

    def outputs(self, ctx: RunContext) -> dict[str, Any]:
        return {n: str(ctx.stage_dir(self.name) / n) for n in self.sources(ctx)}

    def gpus(self) -> int:
        return backend_settings(self.options).gpus()

    def _settings(self, ctx: RunContext) -> dict[str, Any]:
        o = self.options
        return {"depth": o["depth"], "window": o["window"], "stride": o["stride"],
                "passage_tokens": o["passage_tokens"], "passes": o["passes"], "seed": ctx.seed(self),
                "limit": o["queries"]}

    def command(self, ctx: RunContext) -> str:
        lines = []
        for n, path in self.inputs(ctx).items():
            s = self._settings(ctx)
            parts: list[Any] = ["drama-data", "generate", "--task", "rerank", "--corpus", path, "--output",
                                ctx.stage_dir(self.name) / n]
            parts += flags({"--depth": s["depth"], "--window": s["window"], "--stride": s["stride"],
                            "--passage-tokens": s["passage_tokens"], "--passes": s["passes"], "--seed": s["seed"],
                            "--limit": s["limit"]})
            parts += backend_flags(self.options)
            lines.append(join_command(parts))
        return "\n".join(lines) or "# rerank: no LLM-query candidates to rerank"

    def estimate(self, ctx: RunContext) -> dict[str, Any]:
        from drama_models.recipes.plan import rerank_estimate

        return rerank_estimate(self, ctx)

    def run(self, ctx: RunContext) -> dict[str, Any]:
        from drama_data.api import run_generate
        from drama_data.datasets.folder import read_table
        from drama_data.generate.config import GenerateConfig

        if self._mine(ctx) is None:
            raise RecipeError(f"stages.{self.name}: needs a mine stage before it")
        counts: dict[str, Any] = {}
        o = self.options
        for n, path in self.inputs(ctx).items():
            out = ctx.stage_dir(self.name) / n
            config = GenerateConfig.from_options(task_name="rerank", corpus=path, output=str(out),
                                                 backend_name=o["backend"], model=o.get("model"), progress=True,
                                                 **backend_kwargs(o), **self._settings(ctx))
            summary = run_generate(config, echo=ctx.echo)
            table = read_table(out, "rankings")
            repaired = [r or 0 for r in table.column("repaired").to_pylist()] if table.num_rows else []
            agreement = [a for a in table.column("agreement").to_pylist() if a is not None] if table.num_rows else []
            valid = sum(1 for r in repaired if r == 0)
            counts[n] = {**{k: v for k, v in summary.as_dict().items()
                            if k in ("rows", "requests", "cached", "generated", "failed_slots")},
                         "queries_without_repair": valid,
                         "validity": round(valid / len(repaired), 4) if repaired else None,
                         "mean_agreement": round(sum(agreement) / len(agreement), 4) if agreement else None}
            ctx.echo(f"rerank {n}: {valid}/{len(repaired)} queries ranked without repair"
                     + (f"; mean agreement {counts[n]['mean_agreement']}" if agreement else ""))
        return counts
