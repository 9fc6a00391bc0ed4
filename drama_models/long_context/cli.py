"""``drama-models evaluate --long-context passkey,needle``: the options, added to ``evaluate`` by one decorator.

``@long_context_options`` (placed on ``evaluate_command``) adds ``--long-context``, ``--lengths``,
``--haystack``, ``--long-queries``, ``--rope-scaling`` and ``--whole-documents`` (``--help`` section "Long
context"). ``--whole-documents`` with ``--data`` reads documents whole up to the model's limit and states the
truncation per folder (:mod:`drama_models.long_context.whole_documents`). With
``--long-context`` the command runs :func:`drama_models.long_context.evaluate.evaluate_long_context` with the
model and the shared flags (``--model``, ``--name``, ``--max-length``, ``--dtype``, ``--bf16``,
``--batch-size``, ``--output``, ``--json``) and prints one table per task; without it, ``evaluate`` runs as
before (``--data`` is then required, one line when missing).
"""
from __future__ import annotations

import functools

import click

from drama_models.cli_common import clean_errors

LONG_CONTEXT_OPTIONS = ["long_context", "lengths", "haystack", "long_queries", "rope_scaling", "whole_documents"]


def long_context_options(func):
    """Decorate ``evaluate_command`` (see the module docstring)."""

    @functools.wraps(func)
    def command(*args, long_context=None, lengths=None, haystack=None, long_queries=50, rope_scaling=None,
                whole_documents=False, **kwargs):
        if long_context:
            return _run(kwargs, long_context, lengths, haystack, long_queries, rope_scaling)
        if rope_scaling:
            raise click.UsageError("--rope-scaling goes with --long-context")
        if not kwargs.get("data") and not kwargs.get("more_data"):
            raise click.UsageError("give --data DIR (BEIR folders), or --long-context TASKS")
        if whole_documents:
            _whole_documents(kwargs)
        return func(*args, **kwargs)

    from drama_models.long_context.evaluate import DEFAULT_LENGTHS

    options = [
        click.option("--long-context", "long_context", default=None, metavar="TASKS",
                     help="LongEmbed's synthetic tasks, comma-separated: passkey,needle (built here per length, "
                          "seed 0; documents read whole up to the model's limit, truncation stated; BM25 too)."),
        click.option("--lengths", default=",".join(map(str, DEFAULT_LENGTHS)), show_default=True,
                     help="Document lengths in tokens of the model's tokenizer, e.g. 256,512,1k,2k,4k,8k."),
        click.option("--haystack", type=click.Path(exists=True, file_okay=False), default=None,
                     help="BEIR folder whose documents fill the needle task (default: the bundled SciFact sample)."),
        click.option("--long-queries", type=click.IntRange(1), default=50, show_default=True,
                     help="Queries per length (documents: twice as many; LongEmbed: 50 and 100)."),
        click.option("--rope-scaling", default=None, metavar="TYPE:FACTOR",
                     help="Extend a RoPE model's context: linear:F or yarn:F (Gemma 3: its global layers only)."),
        click.option("--whole-documents", is_flag=True,
                     help="With --data: read each document whole up to the model's limit (--max-length "
                          "defaults to it) and state how many documents are truncated there."),
    ]
    for opt in reversed(options):
        command = opt(command)
    return command


@clean_errors
def _run(flags: dict, tasks, lengths, haystack, num_queries, rope_scaling) -> None:
    from pathlib import Path

    from drama_data.cli.options import echo_info, print_summary
    from drama_models.long_context.evaluate import (
        evaluate_long_context,
        format_long_context_table,
        parse_lengths,
        parse_tasks,
    )
    from drama_models.model_source import resolve_model
    from drama_models.zoo import resolve_model as zoo_model

    try:
        tasks, lengths = parse_tasks(tasks), parse_lengths(lengths)
    except ValueError as err:
        raise click.UsageError(str(err).replace("option `long_context`", "--long-context")
                               .replace("option `lengths`", "--lengths")) from None
    model, name, output, as_json = flags.get("model"), flags.get("name"), flags.get("output"), flags.get("as_json")
    encoder_kwargs = {k: flags.get(k) for k in ("max_length", "dtype", "bf16") if flags.get(k) is not None}
    if rope_scaling:
        encoder_kwargs["rope_scaling"] = rope_scaling
    if model is not None:
        name = name or Path(str(model).rstrip("/")).name
        model = resolve_model(zoo_model(model))
    result = evaluate_long_context(
        model, tasks=tasks, lengths=lengths, haystack=haystack, num_queries=num_queries, bm25=True, name=name,
        batch_size=min(int(flags.get("batch_size") or 8), 8), encoder_kwargs=encoder_kwargs, output_dir=output,
    )
    print_summary({**result, "output": str(output) if output else None}, format_long_context_table(result),
                  as_json=as_json)
    if output:
        echo_info(f"long-context results written to {output}", as_json=as_json)


def _whole_documents(flags: dict) -> None:
    """Set ``max_length`` to the model's limit and state the truncation per ``--data`` folder (stderr)."""
    from drama_models.evaluation import check_data_dirs
    from drama_models.long_context.whole_documents import whole_documents
    from drama_models.model_source import resolve_model
    from drama_models.zoo import resolve_model as zoo_model

    if flags.get("model") is None:
        raise click.UsageError("--whole-documents needs --model (BM25 reads documents whole anyway)")
    folders = list(flags.get("data") or ()) + list(flags.get("more_data") or ())
    check_data_dirs(folders)
    read, lines = whole_documents(resolve_model(zoo_model(flags["model"])), folders, flags.get("max_length"))
    flags["max_length"] = read
    for line in lines:
        click.echo(line, err=True)
