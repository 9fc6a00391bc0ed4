"""Tasks: what to ask of the LLM for a row, and how to read its answer back into rows.

``get_task(name, **options)`` builds one by name: ``queries`` (QGen), ``crop`` (Sent, no LLM),
``crosslingual`` (queries in another language). Listwise reranking runs in rounds and lives in
:mod:`drama_data.rerank`. The prompt templates tasks render (Jinja2, chat or completion form) are read by
:mod:`drama_data.tasks.prompting`; :class:`ParseFailure` (:mod:`drama_data.tasks.parse_failure`) is what a task
raises for an answer that makes no row.
"""
from __future__ import annotations

from drama_data.errors import ConfigError
from drama_data.tasks.base import ParseFailure, Task

TASKS = ("queries", "crop", "crosslingual")


def get_task(name: str, **options) -> Task:
    if name == "queries":
        from drama_data.tasks.queries import QueriesTask

        return QueriesTask(**options)
    if name == "crop":
        from drama_data.tasks.crop import CropTask

        return CropTask(**options)
    if name == "crosslingual":
        from drama_data.tasks.crosslingual import CrossLingualTask

        return CrossLingualTask(**options)
    raise ConfigError(f"--task {name!r}: unknown (choose from {', '.join(TASKS + ('rerank',))})")


__all__ = ["Task", "ParseFailure", "get_task", "TASKS"]
