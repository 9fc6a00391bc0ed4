"""A task over passages from the ``generate`` stage's configuration (:func:`run_task`): the pieces the config
turns into, each a named function (:func:`make_task`, :func:`corpus_options`, :class:`LazyBackend`), then
:func:`drama_data.generate.runner.generate`.

In: a validated :class:`~drama_data.generate.config.GenerateConfig`. Out: the run's
:class:`~drama_data.generate.runner.RunSummary`, or the :class:`~drama_data.generate.planning.Plan` of a dry
run. The one entry point for every task, rerank included, with the quality report after the run, is
:func:`drama_data.api.run_generate` (what ``drama-data generate``, the Python API and the recipe stages
call).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drama_data.backends.base import Backend, Sampling
from drama_data.corpus import Fields
from drama_data.errors import ConfigError
from drama_data.generate.cache import open_cache
from drama_data.generate.config import GenerateConfig
from drama_data.generate.planning import plan_options
from drama_data.generate.runner import (
    WINDOW_PASSAGES,
    CorpusOptions,
    generate,
)
from drama_data.tasks import get_task


def _sampling(default: Sampling, temperature, top_p, max_tokens) -> Sampling:
    return Sampling(
        temperature=default.temperature if temperature is None else temperature,
        top_p=default.top_p if top_p is None else top_p,
        max_tokens=default.max_tokens if max_tokens is None else max_tokens,
    )


def task_options(config: GenerateConfig) -> dict[str, Any]:
    """The options :func:`drama_data.tasks.get_task` takes for ``config.task_name``."""
    c = config
    opts: dict[str, Any] = {"seed": c.seed, "prompt_path": c.prompt_path, "queries_per_doc": c.queries_per_doc}
    if c.task_name == "crop":
        opts["language"] = c.language
    else:
        from drama_data.tasks.queries import PAPER_SAMPLING

        opts["sampling"] = _sampling(PAPER_SAMPLING, c.temperature, c.top_p, c.max_tokens)
        if c.max_attempts:
            opts["max_attempts"] = c.max_attempts
    if c.task_name in ("queries", "crop"):
        opts.update(section_tokens=c.section_tokens, section_tokenizer=c.chunk_tokenizer)
    if c.task_name in ("queries", "crosslingual"):
        for key in ("per_language", "min_language_confidence", "min_script_share"):
            if getattr(c, key) is not None:
                opts[key] = getattr(c, key)
    if c.task_name == "crosslingual":
        opts["target_languages"] = [x.strip() for x in c.target_languages.split(",") if x.strip()]
        opts.update(method=c.method or "direct", queries=c.queries)
        if c.round_trip is not None:
            opts["round_trip"] = c.round_trip
    return opts


def make_task(config: GenerateConfig):
    """The task of ``config`` (queries, crop or crosslingual)."""
    return get_task(config.task_name, **task_options(config))


def corpus_options(config: GenerateConfig) -> CorpusOptions:
    """Where the passages come from (``--queries DIR`` for ``--method translate``) and how they are cut."""
    return CorpusOptions(source=config.corpus or str(config.queries), split=config.split,
                         fields=Fields(id=config.id_field, title=config.title_field, text=config.text_field),
                         max_tokens=config.chunk_tokens, chunk_tokenizer=config.chunk_tokenizer,
                         pack_tokens=config.pack_tokens)


def check_passage_tokens(config: GenerateConfig) -> None:
    """``--chunk-tokens``/``--pack-tokens`` within the limit of the ``--chunk-tokenizer``'s model and, when the
    prompt holds the whole passage, the LLM's context (``--max-model-len``, where given); one-line
    ``ConfigError`` otherwise (`drama_data.token_limit`). Before any model, corpus or output."""
    from drama_data.token_limit import check_token_budget

    flag = "--pack-tokens" if (config.pack_tokens or 0) > config.chunk_tokens else "--chunk-tokens"
    context = config.backend_options.get("max_model_len") if config.prompt_holds_whole_passage else None
    check_token_budget(config.passage_tokens_max, flag, config.chunk_tokenizer, llm_context=context,
                       llm=config.model or "")


class LazyBackend:
    """A zero-argument factory of the config's backend, called by the runner once the first window is read
    (bad input fails before any model is prepared); :meth:`close` releases what it built."""

    def __init__(self, config: GenerateConfig, echo: Callable[[str], None] | None):
        self.config, self.echo = config, echo
        self.built: list[Backend] = []

    def __call__(self) -> Backend:
        from drama_data.backends import build_backend

        self.built.append(build_backend(self.config.backend_name, self.config.model, echo=self.echo,
                                        **self.config.backend_kwargs()))
        return self.built[-1]

    def close(self) -> None:
        for backend in self.built:
            backend.close()


def _direct_runner(config: GenerateConfig, task, echo):
    """For a task without an LLM under ``--ray``: its windows on Ray tasks (Ray Data); else ``None``."""
    if not config.ray or task.uses_llm:
        return None
    from drama_data.generate.ray_direct import RayDirect

    direct = RayDirect(config.ray, workers=config.ray_workers or 2)
    if echo:
        echo(f"--ray: --task {config.task_name} runs each window on {direct.workers} Ray workers (Ray Data)")
    return direct


def run_task(config: GenerateConfig, echo: Callable[[str], None] | None = print):
    """Run a task over passages (``queries``, ``crop``, ``crosslingual``) for a validated ``config``: the task,
    corpus and lazy backend built from it, then :func:`drama_data.generate.runner.generate`. Returns its summary
    or dry-run plan. (``--task rerank`` reads a mine output instead: :func:`drama_data.rerank.stage.run_rerank`;
    :func:`drama_data.api.run_generate` picks.)"""
    if config.task_name == "rerank":
        raise ConfigError("--task rerank runs through drama_data.api.run_generate")
    check_passage_tokens(config)
    task = make_task(config)
    backend = LazyBackend(config, echo)
    direct = _direct_runner(config, task, echo)
    price, budget = plan_options(config.model, config.backend_name, config.as_options())
    cache = open_cache(config.cache_dir, config.no_cache)
    try:
        return generate(
            task, corpus_options(config), config.output, backend=backend if task.uses_llm else None,
            prompt_format=config.prompt_format, limit=config.limit, num_shards=config.num_shards,
            shard_index=config.shard_index, cache=cache, overwrite=config.overwrite, progress=config.progress,
            echo=echo, budget=budget, dry_run=config.dry_run, plan_sample=config.plan_sample or 64, price=price,
            window=config.window_passages or WINDOW_PASSAGES, direct=direct,
        )
    finally:
        if direct is not None:
            direct.close()
        backend.close()
        if cache is not None:
            cache.close()
