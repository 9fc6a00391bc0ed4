"""``--dry-run``: what a recipe run would do, without doing it.

First, a WARNING line for every input path of the selected stages that is not on this machine (and that no
stage of the recipe makes; :mod:`drama_models.recipes.inputs`). Per stage: whether it would run or is complete
(skipped), the equivalent command, the GPUs it expects, and for LLM stages the expected requests and tokens:

- queries / crosslingual: requests = passages x ``queries_per_doc``; prompt tokens per request = the prompt
  template's size + the mean passage length (both in tokens estimated as words x 1.3); completion tokens at
  most ``max_tokens`` (paper: 256) per request.
- rerank: requests = queries x windows per query (``depth``/``window``/``stride``) x ``passes``; prompt tokens
  per request = the template + ``window`` passages of min(``passage_tokens``, mean passage length).

Passage counts and lengths come from the collection when it is on this machine (read and chunked as generate
does), else from the recipe's ``plan: {passages, mean_passage_tokens}``.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

TOKENS_PER_WORD = 1.3


def _tokens(text: str) -> int:
    """Tokens of ``text``, estimated as words x 1.3 (no tokenizer download for a plan)."""
    return int(len(text.split()) * TOKENS_PER_WORD)


@functools.lru_cache(maxsize=8)
def _corpus_stats(corpus: str, chunk_tokens: int, pack_tokens: int | None = None) -> tuple[int, float] | None:
    from drama_data.chunking import load_passages
    from drama_data.errors import DramaError

    if not Path(corpus).exists():
        return None
    try:
        passages, _ = load_passages(corpus, max_tokens=chunk_tokens, pack_tokens=pack_tokens)
    except DramaError:
        return None
    if not passages:
        return None
    words = sum(len(p.text.split()) + len((p.title or "").split()) for p in passages)
    return len(passages), words / len(passages) * TOKENS_PER_WORD


def passage_stats(ctx, chunk_tokens: int = 256, corpus: str | None = None,
                  pack_tokens: int | None = None) -> tuple[int | None, float | None, str]:
    """``(passages, mean tokens per passage, where the numbers come from)`` of ``corpus`` (default: the run's),
    chunked at ``chunk_tokens`` and packed into documents of ``pack_tokens`` when set (``generate --pack-tokens``)."""
    corpus = corpus or ctx.corpus
    if corpus:
        stats = _corpus_stats(str(corpus), chunk_tokens, pack_tokens)
        if stats:
            return stats[0], stats[1], "collection"
    plan = ctx.recipe.plan
    if plan.get("passages"):
        return int(plan["passages"]), float(plan.get("mean_passage_tokens", chunk_tokens * 0.8)), "the recipe's plan"
    return None, None, "unknown (collection not found and no plan: in the recipe)"


def _prompt_tokens(task: str, stage) -> int:
    from drama_data.errors import DramaError
    from drama_data.tasks.prompting import load_prompt

    o = stage.options
    form = o.get("prompt_format") or ("completion" if not o.get("model") else "chat")
    try:
        prompt = load_prompt(task, form, o.get("prompt"))
    except DramaError:
        return 0
    text = re.sub(r"\{[%#].*?[%#]\}", "", prompt.source, flags=re.S)
    text = re.sub(r"\{\{.*?\}\}", "", text, flags=re.S)
    return _tokens(text)


def generate_estimate(stage, ctx) -> dict[str, Any]:
    o = stage.options
    n, mean, source = passage_stats(ctx, o["chunk_tokens"], stage.corpus(ctx), o.get("pack_tokens"))
    if n is not None and o["passages"] is not None:
        n = min(n, o["passages"])
    elif n is None and o["passages"] is not None:
        n, source = o["passages"], source + " (count from passages:)"
    out: dict[str, Any] = {"passages": n, "numbers_from": source}
    if stage.task == "crop":
        out["requests"] = 0
        out["rows"] = n * o["queries_per_doc"] if n is not None else None
        return out
    if n is None:
        return out
    requests = n * o["queries_per_doc"]
    if mean and o.get("section_tokens"):  # a longer passage's prompt holds one section of it (--section-tokens)
        mean = min(mean, o["section_tokens"])
    per_prompt = _prompt_tokens(stage.task, stage) + (mean or 0)
    out.update(requests=requests, prompt_tokens=int(requests * per_prompt),
               completion_tokens_max=requests * (o["max_tokens"] or 256))
    return out


def rerank_estimate(stage, ctx) -> dict[str, Any]:
    from drama_data.rerank.windows import window_spans

    o = stage.options
    queries = 0
    for name in stage.sources(ctx):
        est = ctx.by_name(name).estimate(ctx)
        queries += est.get("requests") or est.get("rows") or 0
    if o["queries"] is not None:
        queries = min(queries, o["queries"] * max(1, len(stage.sources(ctx))))
    windows = len(window_spans(o["depth"], o["window"], o["stride"]))
    _, mean, source = passage_stats(ctx)
    per_passage = min(o["passage_tokens"], mean or o["passage_tokens"])
    requests = queries * windows * o["passes"]
    per_prompt = _prompt_tokens("rerank", stage) + min(o["window"], o["depth"]) * (per_passage + 4) + 20
    return {"queries": queries, "windows_per_query": windows, "requests": requests,
            "prompt_tokens": int(requests * per_prompt), "completion_tokens_max": requests * (6 * o["window"] + 20),
            "numbers_from": source}


def make_plan(run, only=None, from_stage=None) -> dict[str, Any]:
    """The plan of ``run`` (a :class:`~drama_models.recipes.runner.RecipeRun`) as a dict with ``text``."""
    selected = {s.name for s in run.select(only, from_stage)}
    forced = selected if (only or from_stage) else set()
    ctx = run.ctx
    stages = []
    will_run: set[str] = set()
    for s in run.stages:
        if not s.spec.enabled:
            status = "disabled"
        elif s.name not in selected:
            status = "not selected"
        elif s.name in forced:
            status = "run"
        elif any(u.name in will_run for u in s.upstream(ctx)):
            status = "run"  # an input will be rewritten
        else:
            status = "complete: skip" if run.is_complete(s, run.fingerprint(s)) else "run"
        if status == "run":
            will_run.add(s.name)
        entry = {"name": s.name, "kind": s.kind, "status": status, "gpus": s.gpus(), "command": s.command(ctx),
                 "estimate": s.estimate(ctx) if s.spec.enabled else {}}
        if hasattr(s, "config") and s.spec.enabled:
            entry["config"] = s.config(ctx)
        stages.append(entry)
    totals = {k: sum((st["estimate"].get(k) or 0) for st in stages if st["status"] != "disabled")
              for k in ("requests", "prompt_tokens", "completion_tokens_max")}
    from drama_models.recipes.inputs import missing_inputs

    warnings = [m.line() for m in missing_inputs(run, [s for s in run.stages if s.name in selected])]
    plan = {"recipe": run.recipe.name, "recipe_file": str(run.recipe.path), "corpus": run.corpus,
            "run_dir": str(run.run_dir), "stages": stages, "totals": totals, "warnings": warnings}
    plan["text"] = render_plan(plan)
    return plan


def _n(v) -> str:
    if v is None:
        return "?"
    return f"{v:,}" if isinstance(v, int) else str(v)


def render_plan(plan: dict[str, Any]) -> str:
    lines = [f"Plan of recipe {plan['recipe']} ({plan['recipe_file']})",
             f"  collection: {plan['corpus'] or '(none: set corpus: or --corpus)'}",
             f"  run folder: {plan['run_dir']}", ""]
    if plan.get("warnings"):
        lines += [f"WARNING: {w}" for w in plan["warnings"]]
        lines += [f"({len(plan['warnings'])} input paths missing here: put them in place, or edit the recipe)", ""]
    for i, s in enumerate(plan["stages"], 1):
        gpus = {0: "no GPU", 1: "1 GPU (CPU without one)"}.get(s["gpus"], f"{s['gpus']} GPUs")
        lines.append(f"{i}. {s['name']} [{s['kind']}] {s['status']}; {gpus}")
        est = s["estimate"]
        if est.get("requests"):
            lines.append(f"   LLM requests: {_n(est['requests'])}; prompt tokens ~{_n(est.get('prompt_tokens'))}; "
                         f"completion tokens <= {_n(est.get('completion_tokens_max'))} "
                         f"({', '.join(f'{k} {_n(v)}' for k, v in est.items() if k in ('passages', 'queries', 'windows_per_query'))}; "
                         f"numbers from {est.get('numbers_from')})")
        elif "rows" in est:
            lines.append(f"   no LLM; rows ~{_n(est['rows'])} (passages {_n(est.get('passages'))}, {est.get('numbers_from')})")
        elif s["kind"] in ("queries", "crosslingual") and est:
            lines.append(f"   LLM requests: ? ({est.get('numbers_from')})")
        for line in s["command"].splitlines():
            lines.append(f"   $ {line}")
    t = plan["totals"]
    lines += ["", f"Total LLM requests ~{_n(t['requests'])}, prompt tokens ~{_n(t['prompt_tokens'])}, "
                  f"completion tokens <= {_n(t['completion_tokens_max'])}."]
    return "\n".join(lines)
