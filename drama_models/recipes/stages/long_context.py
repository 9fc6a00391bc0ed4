"""The ``long-context`` stage: LongEmbed's Passkey and Needle (issue 30) for every trained model of the run, and
BM25, per length (:func:`drama_models.long_context.evaluate.evaluate_long_context`, the code behind
``drama-models evaluate --long-context``).

In: the enabled ``train`` stages before it (their output folders), ``tasks`` (passkey, needle), ``lengths`` in
tokens of each model's own tokenizer, ``queries`` per length (documents: twice as many; LongEmbed 50 and 100),
``long_queries`` at 4k and above (8k-token documents cost seconds each on a CPU), the Needle ``haystack`` (a
BEIR folder; default the bundled SciFact sample, which the run's training data must not contain), ``seed``
(0: the reported tables; tune on another), ``models`` (more folders or short names to compare, e.g. ``minilm``),
``checkpoints`` (also score every ``checkpoint-<step>/model`` a train stage kept, ``keep_checkpoints: true``: the
training curve).
Out: ``<stage>/<system>/long_context.{json,md}`` per system and ``<stage>/long_context.md`` (all tables, then the
curve by step when ``checkpoints``; also copied to the run folder); counts ``{system: {"passkey@4096": nDCG@1 x
100, ...}}`` for the manifest.

Registered as the built-in kind ``long-context`` by :mod:`drama_models.recipes.stages` (after ``evaluate``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from drama_models.recipes.schema import RecipeError, opt
from drama_models.recipes.stages.base import RunContext, Stage, check_bf16, join_command


class LongContextStage(Stage):
    kind = "long-context"
    PATH_OPTIONS = {"haystack": "data", "models": "model"}
    OPTIONS = {
        "tasks": opt(list, default=["passkey", "needle"], nullable=False, help="passkey and/or needle."),
        "lengths": opt(list, default=[512, 2048, 4096, 8192], nullable=False,
                       help="Document lengths in tokens of each model's tokenizer."),
        "queries": opt(int, default=5, nullable=False, help="Queries per length below 4k (documents: twice as many)."),
        "long_queries": opt(int, default=3, nullable=False, help="Queries per length at 4k and above."),
        "haystack": opt(str, help="BEIR folder filling the Needle documents (default: the bundled SciFact sample)."),
        "seed": opt(int, default=0, nullable=False, help="Task seed (0: the reported tables; tune on another)."),
        "bm25": opt(bool, default=True, nullable=False, help="Add BM25 over the whole documents."),
        "models": opt(list, default=[], nullable=False, help="More models to compare (paths or short names)."),
        "bf16": opt(str, bool, default="auto", nullable=False,
                    help="bf16 autocast encoding: auto (CUDA with bf16, CPUs with native bf16), true, false."),
        "max_batch_tokens": opt(int, default=16384, nullable=False, help="Padded tokens per encoding batch."),
        "checkpoints": opt(bool, default=False, nullable=False,
                           help="Also score every checkpoint the train stages kept (keep_checkpoints: true): "
                                "the curve by training step."),
    }

    @classmethod
    def validate(cls, spec, where, base) -> None:
        from drama_models.long_context.evaluate import parse_lengths, parse_tasks
        from drama_models.recipes.schema import resolve_path

        check_bf16(spec, where)
        try:
            parse_tasks(spec.options["tasks"])
            parse_lengths(spec.options["lengths"])
        except ValueError as exc:
            raise RecipeError(f"{where}: {exc}") from None
        if spec.options.get("haystack"):
            spec.options["haystack"] = resolve_path(spec.options["haystack"], base)

    def upstream(self, ctx: RunContext) -> list[Stage]:
        return ctx.earlier(self, ("train",))

    def systems(self, ctx: RunContext) -> list[tuple[str, str]]:
        """``(system name, model path)``: the ``models`` given (named by their folder), then every earlier train
        stage's output (``"<stage> (trained)"``), preceded with ``checkpoints`` by its kept checkpoints
        (``"<stage> step <N>"``, oldest first)."""
        from drama_models.zoo import resolve_model

        out = [(Path(str(m).rstrip("/")).name, resolve_model(str(m))) for m in self.options["models"]]
        for t in self.upstream(ctx):
            out += [(f"{t.name} step {step}", str(path)) for step, path in self._checkpoints(ctx, t)]
            out.append((f"{t.name} (trained)", str(ctx.stage_dir(t.name))))
        return out

    def _checkpoints(self, ctx: RunContext, train: Stage) -> list[tuple[int, Path]]:
        """``(step, model folder)`` of the checkpoints ``train`` kept, when ``checkpoints`` asks for them."""
        from drama_models.training.loop import checkpoints

        if not self.options["checkpoints"]:
            return []
        return [(step, folder / "model") for step, folder in checkpoints(ctx.stage_dir(train.name))
                if (folder / "model").is_dir()]

    def curve(self, ctx: RunContext, counts: dict[str, dict[str, float]]) -> str:
        """The training curve as one markdown table per train stage: a row per kept checkpoint and the final
        model (its ``max_steps``), a column per task and length (nDCG@1 x 100)."""
        from drama_models.long_context.evaluate import length_label, parse_lengths

        lengths = parse_lengths(self.options["lengths"])
        head = [f"{task} {length_label(n)}" for task in self.options["tasks"] for n in lengths]
        tables = []
        for t in self.upstream(ctx):
            rows = [(str(step), counts.get(f"{t.name} step {step}", {})) for step, _ in self._checkpoints(ctx, t)]
            rows.append((str(t.options.get("max_steps") or "final"), counts.get(f"{t.name} (trained)", {})))
            lines = [f"### {t.name}: nDCG@1 x 100 by training step", "",
                     "| step | " + " | ".join(head) + " |", "|---|" + "---:|" * len(head)]
            for step, cells in rows:
                vals = [cells.get(f"{task}@{n}") for task in self.options["tasks"] for n in lengths]
                lines.append(f"| {step} | " + " | ".join("-" if v is None else f"{v:.1f}" for v in vals) + " |")
            tables.append("\n".join(lines))
        return "\n\n".join(tables)

    def inputs(self, ctx: RunContext) -> dict[str, Any]:
        return {"models": dict(self.systems(ctx)), "haystack": self.options.get("haystack")}

    def outputs(self, ctx: RunContext) -> dict[str, Any]:
        return {"long_context_md": str(ctx.stage_dir(self.name) / "long_context.md")}

    def _split(self) -> list[tuple[list[int], int]]:
        """The lengths in two groups: below 4k with ``queries``, 4k and above with ``long_queries``."""
        from drama_models.long_context.evaluate import parse_lengths

        lengths = parse_lengths(self.options["lengths"])
        short = [n for n in lengths if n < 4096]
        long = [n for n in lengths if n >= 4096]
        return [(group, q) for group, q in ((short, self.options["queries"]), (long, self.options["long_queries"]))
                if group]

    def command(self, ctx: RunContext) -> str:
        o = self.options
        lines = []
        for name, path in self.systems(ctx):
            for lengths, queries in self._split():
                parts = ["drama-models", "evaluate", "--model", path, "--name", name, "--long-context",
                         ",".join(o["tasks"]), "--lengths", ",".join(map(str, lengths)), "--long-queries", queries]
                if o.get("haystack"):
                    parts += ["--haystack", o["haystack"]]
                if o["bf16"] != "auto":
                    parts += ["--bf16", str(o["bf16"]).lower()]
                lines.append(join_command(parts + ["--output", ctx.stage_dir(self.name) / _safe(name)]))
        if o["checkpoints"]:
            lines += [f"# the same for each checkpoint {t.name} keeps ({ctx.stage_dir(t.name)}/checkpoint-<N>/model, "
                      f"named '{t.name} step <N>'), then the curve by step" for t in self.upstream(ctx)]
        return "\n".join(lines) or f"# {self.kind}: no trained model before this stage"

    def run(self, ctx: RunContext) -> dict[str, Any]:
        from drama_models.long_context.evaluate import evaluate_long_context, format_long_context_table

        systems = self.systems(ctx)
        if not systems and not self.options["bm25"]:
            raise RecipeError(f"stages.{self.name}: nothing to evaluate (no train stage before it, no `models`, "
                              "bm25: false)")
        o = self.options
        out = ctx.stage_dir(self.name)
        tables, counts = [], {}
        # BM25 reads the first model's documents (lengths counted by its tokenizer), or words when alone
        todo = [(name, path, o["bm25"] and i == 0) for i, (name, path) in enumerate(systems)] or [("BM25", None, True)]
        for name, path, bm25 in todo:
            rows = []
            result = None
            for lengths, queries in self._split():
                ctx.echo(f"long-context {name}: {','.join(o['tasks'])} at {lengths} ({queries} queries) ...")
                try:
                    result = evaluate_long_context(
                        path, tasks=o["tasks"], lengths=lengths, haystack=o.get("haystack"), seed=o["seed"],
                        num_queries=queries, bm25=bm25, name=name, max_batch_tokens=o["max_batch_tokens"],
                        encoder_kwargs={"bf16": o["bf16"]} if path is not None else None)
                except ValueError as exc:
                    raise RecipeError(f"stages.{self.name} ({name}): {exc}") from None
                rows += result["rows"]
            result = {**result, "rows": rows}
            folder = out / _safe(name)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "long_context.json").write_text(_json(result), encoding="utf-8")
            table = format_long_context_table(result)
            (folder / "long_context.md").write_text(table + "\n", encoding="utf-8")
            tables.append(f"## {name}\n\n{table}")
            for r in rows:
                counts.setdefault(r["system"], {})[f"{r['task']}@{r['length']}"] = round(100 * r["ndcg@1"], 1)
        if o["checkpoints"]:
            tables.append(self.curve(ctx, counts))
        text = "\n\n".join(tables) + "\n"
        (out / "long_context.md").write_text(text, encoding="utf-8")
        (ctx.run_dir / "long_context.md").write_text(text, encoding="utf-8")
        ctx.echo(text)
        return {"long_context": counts}


def _json(obj) -> str:
    import json

    return json.dumps(obj, indent=2) + "\n"


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip("_")
