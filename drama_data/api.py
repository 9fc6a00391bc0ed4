"""One call per stage with plain keyword options (what the CLI calls; just as usable from a notebook).

>>> from drama_data.api import run_generate
>>> summary = run_generate(task_name="queries", corpus="data/scifact", output="out/qgen", limit=100)
"""
from __future__ import annotations

from typing import Any, Callable

from drama_data.backends import build_backend
from drama_data.backends.base import Sampling
from drama_data.corpus import Fields
from drama_data.errors import ConfigError
from drama_data.generate.cache import open_cache
from drama_data.generate.planning import plan_options
from drama_data.generate.runner import WINDOW_PASSAGES, CorpusOptions, RunSummary, generate
from drama_data.tasks import get_task


def _sampling(default: Sampling, temperature, top_p, max_tokens) -> Sampling:
    return Sampling(
        temperature=default.temperature if temperature is None else temperature,
        top_p=default.top_p if top_p is None else top_p,
        max_tokens=default.max_tokens if max_tokens is None else max_tokens,
    )


def _with_report(result, output: str, contamination: list[str], report: bool = True):
    """A finished run's summary, after its quality report (``drama-data report``) has been written (unless
    ``report`` is False: ``--no-report``)."""
    if report and isinstance(result, RunSummary):
        from drama_data.report.render import report_after_run

        result.reported = report_after_run(output, contamination, echo=None)
    return result


def run_generate(
    *,
    corpus: str | None,
    output: str,
    task_name: str = "queries",
    backend_name: str = "vllm",
    model: str | None = None,
    echo: Callable[[str], None] | None = print,
    **o: Any,
) -> RunSummary:
    """Run ``drama-data generate`` (see ``drama-data generate --help`` for every option)."""
    o.setdefault("progress", not o.pop("no_progress", False))
    contamination = list(o.pop("contamination", None) or [])
    report = not o.pop("no_report", False)
    if not corpus and not (task_name == "crosslingual" and o.get("method") == "translate"):
        raise ConfigError("--corpus is required (except for --task crosslingual --method translate)")
    if task_name == "rerank":
        from drama_data.rerank.stage import run_rerank

        result = run_rerank(corpus=corpus, output=output, backend_name=backend_name, model=model, echo=echo, **o)
        return _with_report(result, output, contamination, report)
    task_opts: dict[str, Any] = {"seed": o.get("seed", 0), "prompt_path": o.get("prompt_path")}
    if task_name in ("queries", "crop", "crosslingual"):
        task_opts["queries_per_doc"] = o.get("queries_per_doc", 1)
    if task_name == "crop":
        task_opts["language"] = o.get("language", "")
    else:
        from drama_data.tasks.queries import PAPER_SAMPLING

        task_opts["sampling"] = _sampling(PAPER_SAMPLING, o.get("temperature"), o.get("top_p"), o.get("max_tokens"))
        if o.get("max_attempts"):
            task_opts["max_attempts"] = o["max_attempts"]
    if task_name in ("queries", "crosslingual"):
        for key in ("per_language", "min_language_confidence", "min_script_share"):
            if o.get(key) is not None:
                task_opts[key] = o[key]
    elif o.get("per_language") is not None:
        raise ConfigError(f"--per-language goes with --task queries or crosslingual, not {task_name}")
    method, queries = o.get("method") or "direct", o.get("queries")
    if task_name == "crosslingual":
        task_opts["target_languages"] = [x.strip() for x in o.get("target_languages", "de,zh").split(",") if x.strip()]
        task_opts.update(method=method, queries=queries)
        if o.get("round_trip") is not None:
            task_opts["round_trip"] = o["round_trip"]
        if method == "translate" and corpus:
            raise ConfigError("--method translate reads its passages from --queries DIR: leave out --corpus")
    elif method != "direct" or queries or o.get("round_trip") is not None:
        raise ConfigError("--method, --queries and --round-trip go with --task crosslingual")
    task = get_task(task_name, **task_opts)
    corpus_opts = CorpusOptions(
        source=corpus or str(queries), split=o.get("split", "train"),
        fields=Fields(id=o.get("id_field"), title=o.get("title_field"), text=o.get("text_field")),
        max_tokens=o.get("chunk_tokens", 256), chunk_tokenizer=o.get("chunk_tokenizer"),
    )
    built: list = []

    def backend_factory():
        built.append(build_backend(backend_name, model, echo=echo, **o))
        return built[0]

    direct = None
    if o.get("ray") and not task.uses_llm:
        from drama_data.generate.ray_direct import RayDirect

        direct = RayDirect(o["ray"], workers=o.get("ray_workers") or 2)
        if echo:
            echo(f"--ray: --task {task_name} runs each window on {direct.workers} Ray workers (Ray Data)")
    price, budget = plan_options(model, backend_name, o)
    cache = open_cache(o.get("cache_dir"), o.get("no_cache", False))
    try:
        result = generate(
            task, corpus_opts, output, backend=backend_factory if task.uses_llm else None, prompt_format=o.get("prompt_format"),
            limit=o.get("limit"), num_shards=o.get("num_shards", 1), shard_index=o.get("shard_index", 0),
            cache=cache, overwrite=o.get("overwrite", False), progress=o.get("progress", True), echo=echo,
            budget=budget, dry_run=o.get("dry_run", False), plan_sample=o.get("plan_sample") or 64, price=price,
            window=o.get("window_passages") or WINDOW_PASSAGES, direct=direct,
        )
        return _with_report(result, output, contamination, report)
    finally:
        if direct is not None:
            direct.close()
        for backend in built:
            backend.close()
        if cache is not None:
            cache.close()
