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
    """Run ``drama-data generate`` for ``config`` (a :class:`~drama_data.generate.config.GenerateConfig`), or for
    the same options as keywords (named as ``drama-data generate --help`` names them; ``task_name``,
    ``backend_name``); keywords given with a config override it. Returns the run's summary (or a dry run's plan).
    ``--task rerank`` reads a mine output (:func:`drama_data.rerank.stage.run_rerank`); the others a corpus
    (:func:`drama_data.generate.stage.run_task`)."""
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
    """Run ``drama-data mine``: ``config`` is a :class:`~drama_data.mining.config.MineConfig`, or give its fields
    as keywords (``queries``, ``output``, ``retriever``, ``k``, ...). Returns the
    :class:`~drama_data.mining.mine_report.MineReport` (``.render()``, ``.as_dict()``)."""
    from drama_data.mining.config import MineConfig
    from drama_data.mining.mine import mine

    return mine(config if config is not None else MineConfig(**options))


def run_build(config=None, output=None, *, overwrite: bool = False, progress: bool = True, **options: Any):
    """Run ``drama-data build``: ``config`` is a :class:`~drama_data.build.config.BuildConfig`, a build.yaml path,
    or None with the options as keywords (:func:`~drama_data.build.config.load_config`'s overrides: ``inputs``
    - candidates folder paths or :class:`~drama_data.build.config.InputSpec` -, ``seed``, ``rules``, ``filters``,
    ``miner``, ...; the defaults otherwise), written to ``output`` (default: the config's). Returns the build
    report (``.render()``, ``.as_dict()``)."""
    from drama_data.build import build
    from drama_data.build.config import InputSpec, load_config

    if config is None or isinstance(config, (str, Path)):
        if "inputs" in options:
            options["inputs"] = [InputSpec(candidates=str(i)) if isinstance(i, (str, Path)) else i
                                 for i in options["inputs"]]
        config = load_config(config, **options)
    return build(config, output, overwrite=overwrite, progress=progress)
