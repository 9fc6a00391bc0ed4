"""One command-line language for ``drama-data`` and ``drama-models`` (issue 27, item 5), in plain click.

What a command gets from here, one line per use:

- ``@click.command(cls=Command, groups={...}, examples=[...])``: ``--help`` in sections (Input, Model/backend,
  Task, Sampling, a command's own section names in the order they first appear, Output, Scale, Other options:
  :data:`GROUP_ORDER`), defaults shown, and an Examples section
  written as given. An option's section is its ``group=`` (options made by :func:`option`), else the command's
  ``groups`` mapping ``{"Input": ["corpus", "split"], ...}`` (parameter names, so a long list of existing
  ``@click.option`` lines needs no edit), else "Other options". Errors the command raises as
  :class:`click.ClickException` (``clean_errors`` turns our errors into one) name the flag, not the Python
  name: :func:`name_flags`.
- ``@click.group(cls=FlowGroup, flow=("generate", "mine", ...))``: subcommands listed in flow order (the rest after,
  alphabetically); ``@group.command()`` makes a :class:`Command`.
- ``@option("--corpus", group="Input", ...)``: ``click.option`` with a ``group``.
- ``@output_option("--out", required=True, help=...)``: ``--output`` (group Output); each older spelling given
  still works, is hidden from ``--help`` and prints one warning line on stderr. ``name=`` keeps the Python
  parameter name (``name="output_dir"`` for a command whose function takes ``output_dir``). :func:`renamed_option`
  is the same for any flag.
- ``@json_option`` adds ``--json`` (parameter ``as_json``); :func:`print_summary` prints the summary as one JSON
  object on stdout (``json.dumps(..., indent=2)``, the shape generate, mine and build print) or the text;
  :func:`echo_info` sends a message line to stderr under ``--json`` (stdout holds only the object) and to stdout
  otherwise.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import click
from click.core import ParameterSource

GROUP_ORDER = ("Input", "Model/backend", "Task", "Sampling", "Output", "Scale", "Other options")
OTHER = "Other options"
TYPED = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT, ParameterSource.PROMPT)


class Option(click.Option):
    """A ``click.Option`` with ``group``: the ``--help`` section it is listed in (see :class:`Command`)."""

    def __init__(self, *args, group: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.group = group


def option(*param_decls: str, group: str | None = None, **kwargs) -> Callable:
    """``click.option`` with ``group=`` (a section of ``--help``: "Input", "Output", ...)."""
    return click.option(*param_decls, cls=kwargs.pop("cls", Option), group=group, **kwargs)


# ---------------------------------------------------------------------- flag names in errors

_OPTION_RE = re.compile(r"option `([A-Za-z_][A-Za-z0-9_]*)`")


def _flag_of(param: click.Parameter) -> str | None:
    """The flag a user types for ``param`` (its first long visible spelling), None for an argument."""
    if not isinstance(param, click.Option):
        return None
    longs = [o for o in param.opts if o.startswith("--")]
    return (longs or param.opts or [None])[0]


def name_flags(message: str, ctx: click.Context) -> str:
    """``message`` with the Python names of ``ctx.command``'s options replaced by their flags.

    ``option `datasets``` (the name a config object or function uses) becomes ``--dataset`` when the value came
    from the command line (the option was typed, or the message's source is ``flags:``, which is dropped); when it
    may come from a file (a recipe's key of the same name), the flag is added: ``option `output_dir` (--output-dir)``.
    Names that are not options of the command are left as they are.
    """
    flags = {p.name: _flag_of(p) for p in ctx.command.params if p.name and _flag_of(p)}
    from_flags = message.startswith("flags: ")
    if from_flags:
        message = message[len("flags: "):]

    def swap(match: re.Match) -> str:
        name = match.group(1)
        flag = flags.get(name)
        if flag is None:
            return match.group(0)
        typed = ctx.get_parameter_source(name) in TYPED
        return flag if from_flags or typed else f"{match.group(0)} ({flag})"

    return _OPTION_RE.sub(swap, message)


# ---------------------------------------------------------------------- commands and groups


def _order(name: str, order: Sequence[str]) -> tuple[int, str]:
    return (order.index(name) if name in order else len(order), name)


class Command(click.Command):
    """A click command whose ``--help`` lists options in sections, shows defaults and ends with examples.

    In: click's arguments, plus ``groups`` (``{section: [parameter name, ...]}``, for options without their own
    ``group``) and ``examples`` (command lines, printed as written under "Examples"). Defaults are shown
    (``show_default``) unless ``context_settings`` says otherwise.
    """

    def __init__(self, *args, groups: Mapping[str, Iterable[str]] | None = None,
                 examples: Sequence[str] = (), **kwargs):
        settings = dict(kwargs.pop("context_settings", None) or {})
        settings.setdefault("show_default", True)
        super().__init__(*args, context_settings=settings, **kwargs)
        self.groups = {name: group for group, names in (groups or {}).items() for name in names}
        self.examples = tuple(examples)

    def group_of(self, param: click.Parameter) -> str:
        return getattr(param, "group", None) or self.groups.get(param.name or "") or OTHER

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        sections: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = None if isinstance(param, click.Argument) else param.get_help_record(ctx)
            if record is not None:
                sections.setdefault(self.group_of(param), []).append(record)
        own = [g for g in sections if g not in GROUP_ORDER]
        at = GROUP_ORDER.index("Output")
        order = [*GROUP_ORDER[:at], *own, *GROUP_ORDER[at:]]  # a command's own sections (Pruning...) before Output
        for name in sorted(sections, key=order.index):
            with formatter.section(name):
                formatter.write_dl(sections[name])

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        if self.examples:
            with formatter.section("Examples"):
                for line in self.examples:  # as written: command lines are not re-wrapped
                    formatter.write(f"{'':>{formatter.current_indent}}{line}\n")
        super().format_epilog(ctx, formatter)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.ClickException as exc:
            exc.message = name_flags(exc.message, ctx)
            raise


class FlowGroup(click.Group):
    """A click group that lists its commands in ``flow`` order (the rest after, alphabetically) and makes
    :class:`Command` subcommands; its own help shows defaults."""

    command_class = Command

    def __init__(self, *args, flow: Sequence[str] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.flow = tuple(flow)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self.commands, key=lambda n: _order(n, self.flow))


FlowGroup.group_class = FlowGroup


# ---------------------------------------------------------------------- renamed flags


def _alias_key(name: str) -> str:
    return f"drama.cli.alias.{name}"


class _RenamedOption(Option):
    """The current spelling of a renamed option: takes the value an older spelling brought (see
    :func:`renamed_option`)."""

    def process_value(self, ctx: click.Context, value: Any) -> Any:
        given = ctx.meta.get(_alias_key(self.name))
        if given is None:
            return super().process_value(ctx, value)
        spelling, aliased = given
        if ctx.get_parameter_source(self.name) in TYPED:
            raise click.UsageError(f"{spelling} and {_flag_of(self)} are the same option; give only {_flag_of(self)}",
                                   ctx)
        ctx.set_parameter_source(self.name, ParameterSource.COMMANDLINE)
        return aliased if self.callback is None else self.callback(ctx, self, aliased)


def _alias_callback(name: str, spelling: str, current: str) -> Callable:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if value is None or value == () or ctx.resilient_parsing:
            return
        if ctx.get_parameter_source(name) in TYPED and ctx.params.get(name) not in (None, ()):
            raise click.UsageError(f"{spelling} and {current} are the same option; give only {current}", ctx)
        click.echo(f"warning: {spelling} is deprecated; use {current} (the old spelling still works for now)",
                   err=True)
        ctx.meta[_alias_key(name)] = (spelling, value)

    return callback


def renamed_option(flag: str, *old: str, name: str | None = None, **kwargs) -> Callable:
    """``flag`` (e.g. ``--output``) with older spellings ``old`` (``--out``) that still work, hidden from ``--help``,
    each printing one warning line on stderr when used. ``name``: the Python parameter (default: from ``flag``);
    ``kwargs``: as :func:`option` (type, required, help, group, ...). Giving both spellings is a usage error."""
    name = name or flag.lstrip("-").replace("-", "_")
    alias_kwargs = {k: kwargs[k] for k in ("type", "multiple", "nargs") if k in kwargs}

    def decorator(f: Callable) -> Callable:
        f = option(flag, name, cls=_RenamedOption, **kwargs)(f)
        for spelling in old:
            f = click.option(spelling, f"_{name}_as_{spelling.lstrip('-').replace('-', '_')}", hidden=True,
                             expose_value=False, callback=_alias_callback(name, spelling, flag),
                             **alias_kwargs)(f)
        return f

    return decorator


def output_option(*old: str, name: str = "output", required: bool = False,
                  help: str = "Folder to write.", **kwargs) -> Callable:
    """``--output FOLDER`` (section Output) with older spellings ``old`` (``"--out"``, ``"--output-dir"``) kept as
    hidden aliases that warn; see :func:`renamed_option`."""
    kwargs.setdefault("type", click.Path(file_okay=False))
    kwargs.setdefault("group", "Output")
    return renamed_option("--output", *old, name=name, required=required, help=help, **kwargs)


# ---------------------------------------------------------------------- --json


JSON_HELP = "Print the summary as one JSON object on stdout (for scripts); other lines go to stderr."


def json_option(f: Callable | None = None, *, help: str = JSON_HELP) -> Callable:
    """``--json`` (parameter ``as_json``, section Output). Use as ``@json_option`` or ``@json_option(help=...)``."""
    decorator = option("--json", "as_json", is_flag=True, group="Output", help=help)
    return decorator(f) if f is not None else decorator


def print_summary(summary: Mapping[str, Any], text: str | None = None, *, as_json: bool) -> None:
    """Under ``--json``: ``summary`` as one JSON object on stdout (indent 2; values JSON lacks as ``str``);
    otherwise ``text`` (nothing when None)."""
    if as_json:
        click.echo(json.dumps(dict(summary), indent=2, default=str))
    elif text is not None:
        click.echo(text)


def echo_info(message: str, *, as_json: bool) -> None:
    """A message line: on stderr under ``--json`` (stdout holds only the JSON object), else on stdout."""
    click.echo(message, err=as_json)


__all__ = [
    "GROUP_ORDER",
    "Command",
    "FlowGroup",
    "Option",
    "echo_info",
    "json_option",
    "name_flags",
    "option",
    "output_option",
    "print_summary",
    "renamed_option",
]
