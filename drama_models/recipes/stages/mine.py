"""The ``mine`` stage: top-k candidates for every query dataset written by earlier generate stages
(:func:`drama_data.mining.mine.mine`, once per input), into ``<run>/<stage>/<generate stage>/``.

Resuming: mine keeps finished query chunks and the index in its work folder; a rerun reuses them.
"""
from __future__ import annotations

from typing import Any, ClassVar

from drama_models.recipes.schema import Opt, Recipe, RecipeError, StageSpec, opt
from drama_models.recipes.stages.base import (
    RunContext,
    Stage,
    check_bf16,
    flags,
    join_command,
)

GENERATE_KINDS = ("queries", "crop", "crosslingual")
#: MineConfig field -> this stage's key, where they differ
RECIPE_KEYS = {"include_title": "no_title"}


class MineStage(Stage):
    kind = "mine"
    PATH_OPTIONS: ClassVar[dict[str, str]] = {"model": "model"}
    OPTIONS: ClassVar[dict[str, Opt]] = {
        "inputs": opt(list, help="Generate stages to mine for (default: every earlier one)."),
        "retriever": opt(str, default="bm25s", nullable=False,
                         help="bm25s, rank-bm25, pyserini, dense or hybrid (BM25 + dense, z-score fusion)."),
        "k": opt(int, default=50, nullable=False, help="Candidates per query (paper: 50)."),
        "language": opt(str, help="BM25 analyzer language (default en)."),
        "k1": opt(float), "b": opt(float), "method": opt(str),
        "model": opt(str, help="dense, hybrid: encoder (path or short name, e.g. minilm)."),
        "weight": opt(float, help="hybrid: weight of the dense z-score (default 0.5)."),
        "depth": opt(int, help="hybrid: hits taken from each retriever before fusing (default 100)."),
        "dim": opt(int), "threads": opt(int),
        "bf16": opt(str, bool, default="auto", nullable=False,
                    help="dense, hybrid: bf16 autocast encoding: auto (CUDA with bf16, CPUs with native bf16), "
                         "true, false."),
        "no_title": opt(bool, default=False, nullable=False),
        "cross_lingual": opt(str, default="auto", nullable=False,
                             help="How cross-lingual rows are searched: auto, query, source-query or passage "
                                  "(drama-data mine --cross-lingual)."),
        "chunk_size": opt(int, default=10_000, nullable=False), "batch_size": opt(int, default=1_000, nullable=False),
    }

    @classmethod
    def validate(cls, spec: StageSpec, where: str, base) -> None:
        check_bf16(spec, where)

    @classmethod
    def check_references(cls, spec: StageSpec, recipe: Recipe, where: str) -> None:
        names = {s.name: s for s in recipe.stages}
        for name in spec.options.get("inputs") or []:
            if name not in names or names[name].kind not in GENERATE_KINDS:
                raise RecipeError(f"{where}.inputs: {name!r} is not a generate stage of this recipe")
        from drama_data.errors import ConfigError

        try:  # the same checks as drama-data mine's, naming this stage's keys
            cls.mine_config(spec.options, "QUERIES", None, "OUTPUT").validate(name=lambda f: RECIPE_KEYS.get(f, f))
        except ConfigError as exc:  # "retriever rank-bm25 does not take option(s) threads" -> stages.mine.retriever ...
            raise RecipeError(f"{where}.{exc}") from None

    def upstream(self, ctx: RunContext) -> list[Stage]:
        earlier = ctx.earlier(self, GENERATE_KINDS)
        wanted = self.options.get("inputs")
        return [s for s in earlier if wanted is None or s.name in wanted]

    def inputs(self, ctx: RunContext) -> dict[str, Any]:
        return {s.name: {"queries": str(ctx.stage_dir(s.name)), "corpus": s.corpus(ctx)} for s in self.upstream(ctx)}

    def outputs(self, ctx: RunContext) -> dict[str, Any]:
        return {s.name: str(ctx.stage_dir(self.name) / s.name) for s in self.upstream(ctx)}

    @staticmethod
    def mine_config(o: dict[str, Any], queries: str, corpus: str | None, output: str):
        """The :class:`~drama_data.mining.config.MineConfig` of this stage's options for one query dataset."""
        from drama_data.mining.config import DENSE, MineConfig

        model = o["model"]
        if model and queries != "QUERIES":  # a zoo or short name, resolved when running (not when validating)
            from drama_models.zoo import resolve_model

            model = resolve_model(model)
        return MineConfig(queries=queries, corpus=corpus, output=output, retriever=o["retriever"], k=o["k"],
                          language=o["language"], k1=o["k1"], b=o["b"], method=o["method"], model=model,
                          weight=o["weight"], depth=o["depth"], dim=o["dim"], threads=o["threads"],
                          include_title=False if o["no_title"] else None,
                          bf16=o["bf16"] if o["retriever"] in DENSE else None, chunk_size=o["chunk_size"],
                          batch_size=o["batch_size"], cross_lingual=o["cross_lingual"], progress=False)

    def command(self, ctx: RunContext) -> str:
        o = self.options
        lines = []
        for s in self.upstream(ctx):
            parts: list[Any] = ["drama-data", "mine", "--queries", ctx.stage_dir(s.name), "--corpus",
                                s.corpus(ctx) or "CORPUS", "--output", ctx.stage_dir(self.name) / s.name,
                                "--retriever", o["retriever"], "-k", o["k"]]
            parts += flags({"--" + k.replace("_", "-"): o[k] for k in ("language", "k1", "b", "method", "model",
                                                                      "weight", "depth", "dim", "threads")})
            if o["retriever"] in ("dense", "hybrid") and o["bf16"] != "auto":
                parts += ["--bf16", str(o["bf16"]).lower()]
            parts += flags({"--no-title": o["no_title"],
                            "--cross-lingual": o["cross_lingual"] if o["cross_lingual"] != "auto" else None})
            lines.append(join_command(parts))
        return "\n".join(lines) or "# mine: no generate stage before it"

    def gpus(self) -> int:
        return 1 if self.options["retriever"] in ("dense", "hybrid") else 0

    def run(self, ctx: RunContext) -> dict[str, Any]:
        from drama_data.mining.mine import mine

        ups = self.upstream(ctx)
        if not ups:
            raise RecipeError(f"stages.{self.name}: no generate stage (queries, crop, crosslingual) before it")
        o = self.options
        counts: dict[str, Any] = {}
        for s in ups:
            report = mine(self.mine_config(o, str(ctx.stage_dir(s.name)), s.corpus(ctx) or ctx.require_corpus(self),
                                           str(ctx.stage_dir(self.name) / s.name)))
            counts[s.name] = {"queries": report.queries, "passages": report.passages,
                              "no_candidates": report.no_candidates, "with_source": report.with_source,
                              "source_retrieved": report.source_retrieved, "source_rank_1": report.source_rank_1}
            ctx.echo(f"mine {s.name}: {report.queries} queries over {report.passages} passages; source passage "
                     f"retrieved for {report.source_retrieved}/{report.with_source}")
        return counts
