"""The ``evaluate`` stage: BM25, every train stage's starting model (untrained) and every trained model on the
run's collection(s) (:func:`drama_models.evaluation.evaluate`; qrels ``<split>.tsv``, default ``test``: these
queries are used only here, never for training or tuning). Writes ``results.json`` and ``results.md``
(nDCG@10, Recall@100, MRR@10 per collection and system) in the stage folder and at the top of the run folder,
and a model card (``README.md`` with the metrics against the baselines, the training data and the loss curve)
into every trained model folder.
"""
from __future__ import annotations

import json
import shutil
from typing import Any

from drama_models.recipes.schema import RecipeError, StageSpec, opt
from drama_models.recipes.stages.base import RunContext, Stage, check_bf16, flags, join_command


class EvaluateStage(Stage):
    kind = "evaluate"
    PATH_OPTIONS = {"collections": "data", "models": "model", "teacher": "model"}
    OPTIONS = {
        "collections": opt(list, help="BEIR folders to evaluate on (default: the run's collection)."),
        "split": opt(str, default="test", nullable=False, help="qrels/<split>.tsv."),
        "bm25": opt(bool, default=True, nullable=False, help="Add the BM25 baseline."),
        "untrained": opt(bool, default=True, nullable=False, help="Add each train stage's starting model."),
        "models": opt(list, default=[], nullable=False, help="More models to compare (paths or short names)."),
        "batch_size": opt(int, default=64, nullable=False), "max_length": opt(int), "dim": opt(int),
        "k": opt(int, default=100, nullable=False), "search": opt(str, default="auto", nullable=False),
        "dtype": opt(str),
        "bf16": opt(str, bool, default="auto", nullable=False,
                    help="bf16 autocast encoding: auto (CUDA with bf16, CPUs with native bf16), true, false."),
        "model_cards": opt(bool, default=True, nullable=False),
        "teacher": opt(str, help="Add BM25 fused with this untrained model's run (the hybrid miner's teacher, "
                                 "e.g. minilm): what distillation aims at."),
        "teacher_weight": opt(float, default=0.5, nullable=False, help="Dense weight of that fusion."),
    }

    @classmethod
    def validate(cls, spec: StageSpec, where: str, base) -> None:
        check_bf16(spec, where)

    def collections(self, ctx: RunContext) -> list[str]:
        from drama_models.recipes.schema import resolve_path

        given = self.options.get("collections")
        if given:
            return [resolve_path(str(c), ctx.recipe.path.parent) for c in given]
        return [ctx.require_corpus(self)]

    def upstream(self, ctx: RunContext) -> list[Stage]:
        return ctx.earlier(self, ("train",))

    def systems(self, ctx: RunContext) -> list[tuple[str, str, str | None]]:
        """``(system name, model path, train stage or None)`` in table order: untrained, then trained."""
        from drama_models.zoo import resolve_model

        out: list[tuple[str, str, str | None]] = []
        seen = set()
        trains = self.upstream(ctx)
        if self.options["untrained"]:
            for t in trains:
                path = t.start_model(ctx)
                if path in seen:
                    continue
                seen.add(path)
                out.append((f"{t.start_model_label()} (untrained)", path, None))
        for m in self.options["models"]:
            out.append((str(m), resolve_model(str(m)), None))
        for t in trains:
            out.append((f"{t.name} (trained)", str(ctx.stage_dir(t.name)), t.name))
        return out

    def inputs(self, ctx: RunContext) -> dict[str, Any]:
        return {"collections": self.collections(ctx) if (ctx.corpus or self.options.get("collections")) else [],
                "models": {name: path for name, path, _ in self.systems(ctx)}}

    def outputs(self, ctx: RunContext) -> dict[str, Any]:
        d = ctx.stage_dir(self.name)
        return {"results_md": str(d / "results.md"), "results_json": str(d / "results.json")}

    def gpus(self) -> int:
        return 1

    def _kwargs(self) -> dict[str, Any]:
        o = self.options
        enc = {k: o[k] for k in ("max_length", "dtype", "bf16") if o[k] is not None}
        return {"split": o["split"], "dim": o["dim"], "k": o["k"], "batch_size": o["batch_size"],
                "search_method": o["search"], "encoder_kwargs": enc, "show_progress": False}

    def command(self, ctx: RunContext) -> str:
        o = self.options
        data = self.collections(ctx) if (ctx.corpus or o.get("collections")) else ["CORPUS"]
        lines = []
        common = flags({"--split": o["split"], "--dim": o["dim"], "--batch-size": o["batch_size"],
                        "--max-length": o["max_length"], "--dtype": o["dtype"],
                        "--bf16": str(o["bf16"]).lower() if o["bf16"] != "auto" else None})
        if o["bm25"]:
            lines.append(join_command(["drama-models", "evaluate", "--bm25", "--data", *data, *common, "--output",
                                       ctx.stage_dir(self.name) / "systems" / "BM25"]))
        for name, path, _ in self.systems(ctx):
            lines.append(join_command(["drama-models", "evaluate", "--model", path, "--name", name, "--data", *data,
                                       *common, "--output", ctx.stage_dir(self.name) / "systems" / _safe(name)]))
        return "\n".join(lines)

    def preflight(self, ctx: RunContext) -> None:
        """Every collection must have ``qrels/<split>.tsv``: found out before hours of generation, not after."""
        from pathlib import Path

        for folder in self.collections(ctx):
            qrels = Path(folder) / "qrels" / f"{self.options['split']}.tsv"
            if not qrels.is_file():
                raise RecipeError(f"stages.{self.name}: {qrels} not found: the evaluate stage needs a BEIR folder "
                                  f"with qrels/{self.options['split']}.tsv (set `split:`, `collections:`, or "
                                  f"`enabled: false`)")

    def run(self, ctx: RunContext) -> dict[str, Any]:
        from drama_models.beir import BeirFormatError

        try:
            return self._run(ctx)
        except (BeirFormatError, ValueError) as exc:
            raise RecipeError(f"stages.{self.name}: {exc}") from None

    def _run(self, ctx: RunContext) -> dict[str, Any]:
        from drama_models.evaluation import evaluate, format_table

        out = ctx.stage_dir(self.name)
        folders = self.collections(ctx)
        rows: list[dict] = []
        if self.options["bm25"]:
            rows += evaluate(None, folders, bm25=True, output_dir=out / "systems" / "BM25", **self._kwargs())
        for name, path, _ in self.systems(ctx):
            ctx.echo(f"evaluate {name} ...")
            rows += evaluate(path, folders, name=name, output_dir=out / "systems" / _safe(name), **self._kwargs())
        if self.options["teacher"]:
            rows += self._teacher_rows(ctx, rows, out)
        (out / "results.json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
        table = format_table(rows)
        (out / "results.md").write_text(table + "\n", encoding="utf-8")
        for name in ("results.json", "results.md"):
            shutil.copyfile(out / name, ctx.run_dir / name)
        ctx.echo(table)
        if self.options["model_cards"]:
            self._cards(ctx, rows)
        return {"results": [{k: r[k] for k in ("dataset", "system", "ndcg@10", "recall@100")} for r in rows]}

    def _teacher_rows(self, ctx: RunContext, rows: list[dict], out) -> list[dict]:
        """``BM25 + <teacher>``: the BM25 and the teacher model's runs (already written) fused, per collection."""
        from drama_models.beir import load_beir
        from drama_models.evaluation import compute_metrics, fused_run, read_trec_run, result_row
        from drama_models.zoo import resolve_model

        path = resolve_model(self.options["teacher"])
        names = [name for name, p, stage in self.systems(ctx) if p == path and stage is None]
        if not names or not self.options["bm25"]:
            raise RecipeError(f"stages.{self.name}.teacher: {self.options['teacher']!r} needs `bm25: true` and that "
                              "model among the untrained systems (a train stage starting from it, or `models:`)")
        label = f"BM25 + {self.options['teacher']} (teacher)"
        added = []
        for folder in self.collections(ctx):
            collection = load_beir(folder, self.options["split"])
            runs = {r["system"]: r["run_file"] for r in rows if r["dataset"] == collection.name}
            run = fused_run(read_trec_run(runs["BM25"]), read_trec_run(runs[names[0]]), self.options["teacher_weight"])
            added.append(result_row(collection, label, self.options["split"],
                                    compute_metrics(collection.qrels, run), 0.0))
        return added

    def _cards(self, ctx: RunContext, rows: list[dict]) -> None:
        from cards.model_card import write_model_card

        for t in self.upstream(ctx):
            baselines = [r for r in rows if "(trained)" not in r["system"]]
            mine = [r for r in rows if r["system"] == f"{t.name} (trained)"]
            write_model_card(ctx.stage_dir(t.name), results=mine + baselines, system=f"{t.name} (trained)",
                             train_config=t.config(ctx), recipe=ctx.recipe.name, run_dir=ctx.run_dir)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip("_")
