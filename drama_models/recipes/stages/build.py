"""The ``build`` stage: the candidates of every earlier ``mine`` output (with the ``rerank`` rankings of the same
queries when there are any) -> one Tevatron-format training set (:func:`drama_data.build.build`).

The stage writes the build config it runs (``<run>/configs/<stage>.yaml``, the equivalent of
``drama-data build --config``): inputs named after their generate stage, mixing group per input
(``groups: {queries: qgen}``; default: the generate stage's name), only the generate stages named in ``inputs``
when it is set (``inputs: [queries]``: the LLM queries alone, though the recipe also crops; as the mine stage's
``inputs``), and the recipe's ``miner``, ``rules``,
``filters``, ``mix``, ``source_rules``, ``false_negatives``, ``swap_negatives``, ``swap_keep_mined`` as the build config takes them (see
``drama_data.build.config``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import yaml

from drama_data.errors import ConfigError
from drama_models.recipes.schema import Opt, Recipe, RecipeError, StageSpec, opt
from drama_models.recipes.stages.base import RunContext, Stage, join_command

CONFIG_KEYS = ("miner", "rules", "source_rules", "false_negatives", "filters", "mix", "swap_negatives",
               "swap_keep_mined")



def _given(key: str, value: Any) -> bool:
    """Whether a build option is passed on (``swap_keep_mined: 0`` is a value; other falsy ones are defaults)."""
    return value is not None if key == "swap_keep_mined" else bool(value)


class BuildStage(Stage):
    kind = "build"
    OPTIONS: ClassVar[dict[str, Opt]] = {
        "inputs": opt(list, help="Generate stages whose mined candidates this build reads, e.g. [queries] "
                                 "(default: every earlier one)."),
        "groups": opt(dict, default={}, nullable=False, help="Mixing group per generate stage name."),
        "miner": opt(str, help="weak (BM25, small encoders; build's default) or strong (LLM-based retriever): "
                               "picks the default labelling rules."),
        "rules": opt(dict, default={}, nullable=False, help="Labelling rules (drama-data build config `rules`)."),
        "source_rules": opt(dict, default={}, nullable=False),
        "false_negatives": opt(dict, default={}, nullable=False),
        "filters": opt(dict, default={}, nullable=False, help="Filters (drama-data build config `filters`)."),
        "mix": opt(dict, default={}, nullable=False, help="Mixing {by, ratios, total, shuffle}."),
        "swap_negatives": opt(int, default=0, nullable=False,
                              help="Long rows: N negatives = the positive document with its answer section swapped "
                                   "for another document's (drama-data build --swap-negatives; 0: none)."),
        "swap_keep_mined": opt(int, help="Mined negatives a row with swap negatives keeps after them (default: all; "
                                         "0: the swap negative is the only one, what a group of 2 takes)."),
        "seed": opt(int),
    }

    @classmethod
    def validate(cls, spec: StageSpec, where: str, base: Path) -> None:
        """Check the nested build options with the build config's own reader (so errors name the key)."""
        from drama_data.build.config import InputSpec, config_from_mapping

        raw = {k: spec.options[k] for k in CONFIG_KEYS if _given(k, spec.options[k])}
        mix = dict(raw.get("mix") or {})
        mix.pop("ratios", None)  # ratios are checked against the inputs' groups at run time
        if mix:
            raw["mix"] = mix
        else:
            raw.pop("mix", None)
        try:  # the build config's own reader, on the options as written (errors name the key)
            config_from_mapping(raw, inputs=[InputSpec(candidates="candidates", name="x")])
        except ConfigError as exc:
            raise RecipeError(f"{where}.{exc}") from None
        ratios = (spec.options["mix"] or {}).get("ratios")
        if ratios is not None and not isinstance(ratios, dict):
            raise RecipeError(f"{where}.mix.ratios: expected a mapping KEY: RATIO")

    @classmethod
    def check_references(cls, spec: StageSpec, recipe: Recipe, where: str) -> None:
        from drama_models.recipes.stages.mine import GENERATE_KINDS

        kinds = {s.name: s.kind for s in recipe.stages}
        for name in spec.options.get("inputs") or []:
            if kinds.get(name) not in GENERATE_KINDS:
                raise RecipeError(f"{where}.inputs: {name!r} is not a generate stage of this recipe")

    def upstream(self, ctx: RunContext) -> list[Stage]:
        return ctx.earlier(self, ("mine", "rerank"))

    def _inputs(self, ctx: RunContext) -> list[dict[str, Any]]:
        reranked: dict[str, str] = {}
        for r in ctx.earlier(self, ("rerank",)):
            reranked.update(r.outputs(ctx))
        out = []
        wanted = self.options["inputs"]
        mined = [(s, p) for mine in ctx.earlier(self, ("mine",)) for s, p in mine.outputs(ctx).items()]
        if wanted is not None:
            names = [name for name, _ in mined]
            unknown = [str(s) for s in wanted if s not in names]
            if unknown:
                raise RecipeError(
                    f"stages.{self.name}.inputs: {', '.join(unknown)} is not a generate stage mined before it "
                    f"(mined: {', '.join(names) or 'none'})"
                )
            mined = [(s, p) for s, p in mined if s in wanted]
        for source, path in mined:
            item = {"candidates": path, "name": source,
                    "group": str(self.options["groups"].get(source, source)),
                    "queries": str(ctx.stage_dir(source))}
            if source in reranked:
                item["rerank"] = reranked[source]
            out.append(item)
        return out

    def inputs(self, ctx: RunContext) -> dict[str, Any]:
        return {i["name"]: {k: v for k, v in i.items() if k != "name"} for i in self._inputs(ctx)}

    def config(self, ctx: RunContext) -> dict[str, Any]:
        cfg: dict[str, Any] = {"inputs": self._inputs(ctx), "output": str(ctx.stage_dir(self.name)),
                               "seed": ctx.seed(self)}
        cfg.update({k: self.options[k] for k in CONFIG_KEYS if _given(k, self.options[k])})
        mix = dict(cfg.get("mix") or {})
        if mix.get("ratios") and mix.get("by", "group") == "group":
            # a generate stage that is disabled (e.g. no LLM queries) takes its group's ratio with it
            groups = {i["group"] for i in cfg["inputs"]}
            mix["ratios"] = {g: r for g, r in mix["ratios"].items() if g in groups}
            if len(mix["ratios"]) < 2:
                mix.pop("ratios")
            cfg["mix"] = mix
            if not mix or set(mix) <= {"by", "shuffle"}:
                cfg.pop("mix")
        return cfg

    def prepare(self, ctx: RunContext) -> None:
        path = ctx.config_path(self.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.config(ctx), sort_keys=False), encoding="utf-8")

    def command(self, ctx: RunContext) -> str:
        return join_command(["drama-data", "build", "--config", ctx.config_path(self.name)])

    def run(self, ctx: RunContext) -> dict[str, Any]:
        from drama_data.build import build
        from drama_data.build.config import load_config

        if not self._inputs(ctx):
            raise RecipeError(f"stages.{self.name}: needs a mine stage before it")
        self.prepare(ctx)
        try:
            cfg = load_config(ctx.config_path(self.name))
        except ConfigError as exc:
            raise RecipeError(f"stages.{self.name}: {exc}") from None
        report = build(cfg, overwrite=True, progress=False)
        from drama_data.report.render import report_after_run

        report_after_run(ctx.stage_dir(self.name), echo=None)  # as `drama-data build` does: quality section + PNGs
        ctx.echo(f"build: {report.rows} rows; removed {report.removed}")
        return {"rows": report.rows, "removed": report.removed, "counts": report.counts}
