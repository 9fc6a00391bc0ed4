"""The Python API: one call per stage, each taking the stage's config object (what ``drama-data`` and the recipe
stages build) or the same options as keywords; just as usable from a notebook.

>>> from drama_data.api import run_build, run_generate, run_mine
>>> summary = run_generate(task_name="queries", corpus="data/scifact", output="out/qgen", limit=100)
>>> report = run_mine(queries="out/qgen", output="out/mined", retriever="bm25s", k=50)
>>> report = run_build(inputs=["out/mined"], output="out/train")

or with the config objects:

>>> from drama_data.generate.config import GenerateConfig
>>> summary = run_generate(GenerateConfig(corpus="data/scifact", output="out/qgen", limit=100))
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from drama_data.generate.config import GenerateConfig
from drama_data.generate.runner import RunSummary


def with_report(result, config: GenerateConfig):
    """A finished run's summary, after its quality report (``drama-data report``) has been written (unless
    ``config.report`` is off: ``--no-report``)."""
    if config.report and isinstance(result, RunSummary):
        from drama_data.report.render import report_after_run

        result.reported = report_after_run(config.output, config.contamination, echo=None)
    return result


def run_generate(config: GenerateConfig | None = None, *, echo: Callable[[str], None] | None = print,
                 **options: Any):
    """Run ``drama-data generate`` from Python.

    Give a [`GenerateConfig`][drama_data.generate.config.GenerateConfig], or the same options as keywords (named
    as ``drama-data generate --help`` names them, with ``task_name`` for ``--task`` and ``backend_name`` for
    ``--backend``); keywords given with a config override its fields. ``task_name="rerank"`` reads a ``mine``
    output (`drama_data.rerank.stage.run_rerank`); the other tasks read a corpus
    (`drama_data.generate.stage.run_task`). Unless ``report`` is off (``--no-report``), the quality report is
    written into the output folder afterwards.

    Args:
        config: The run's settings; ``None`` to build them from ``options``.
        echo: Where progress lines go (``print`` by default); ``None`` for silence.
        **options: ``drama-data generate`` options as keywords (``corpus``, ``output``, ``task_name``,
            ``backend_name``, ``model``, ``limit``, ...).

    Returns:
        (RunSummary | Plan): The run's summary (counts of rows written and failures, timings), or with
            ``dry_run`` the plan (requests, tokens, cost, time; ``.render()``).

    Raises:
        ConfigError: An unknown option, a missing ``output``/``corpus`` or a bad combination of options,
            named as the CLI flag (before any work).
        InputError: The corpus or queries folder cannot be read.
        BackendError: The backend cannot start or its API rejects the requests (`AuthError`,
            `ModelNotFoundError`, ...).
    """
    if config is None:
        config = GenerateConfig.from_options(**options)
    elif options:
        config = GenerateConfig.from_options(**{**config.as_options(), **options})
    config.validate()
    if config.task_name == "rerank":
        from drama_data.rerank.stage import run_rerank

        o = config.as_options()
        for key in ("corpus", "output", "backend_name", "model", "contamination", "report", "task_name"):
            o.pop(key)
        result = run_rerank(corpus=config.corpus, output=config.output, backend_name=config.backend_name,
                            model=config.model, echo=echo, **o)
    else:
        from drama_data.generate.stage import run_task

        result = run_task(config, echo)
    return with_report(result, config)


def run_mine(config=None, **options: Any):
    """Run ``drama-data mine`` from Python: top-k candidate passages for every generated query.

    Args:
        config (MineConfig | None): A [`MineConfig`][drama_data.mining.config.MineConfig]; ``None`` to build one
            from ``options``.
        **options: The config's fields as keywords (``queries``, ``output``, ``retriever``, ``k``, ``corpus``,
            ...).

    Returns:
        (MineReport): The run's report (counts, source-passage retrieval rate, timings; ``.render()``,
            ``.as_dict()``).

    Raises:
        ConfigError: A bad value or combination of fields, named as the CLI flag.
        InputError: The queries folder or the corpus is missing, empty or does not match the queries.
    """
    from drama_data.mining.config import MineConfig
    from drama_data.mining.mine import mine

    return mine(config if config is not None else MineConfig(**options))


def run_build(config=None, output=None, *, overwrite: bool = False, progress: bool = True, **options: Any):
    """Run ``drama-data build`` from Python: training rows from one or more ``mine`` (or rerank) outputs.

    Args:
        config (BuildConfig | str | Path | None): A [`BuildConfig`][drama_data.build.config.BuildConfig], the path
            of a ``build.yaml``, or ``None`` to use the defaults with ``options`` as overrides.
        output (str | Path | None): The output folder; ``None`` for the config's.
        overwrite: Replace an existing output folder.
        progress: Show progress bars.
        **options: Overrides, as [`load_config`][drama_data.build.config.load_config] takes them: ``inputs``
            (candidates folder paths or [`InputSpec`][drama_data.build.config.InputSpec]s), ``seed``, ``rules``,
            ``filters``, ``miner``, ...

    Returns:
        (BuildReport): Row counts per input, rule and filter, timings (``.render()``, ``.as_dict()``).

    Raises:
        ConfigError: A bad ``build.yaml`` key or override, named with its file and key.
        InputError: An input folder is missing or is not a ``mine`` output; the output folder exists without
            ``overwrite``.
    """
    from drama_data.build import build
    from drama_data.build.config import InputSpec, load_config

    if config is None or isinstance(config, (str, Path)):
        if "inputs" in options:
            options["inputs"] = [InputSpec(candidates=str(i)) if isinstance(i, (str, Path)) else i
                                 for i in options["inputs"]]
        config = load_config(config, **options)
    return build(config, output, overwrite=overwrite, progress=progress)
