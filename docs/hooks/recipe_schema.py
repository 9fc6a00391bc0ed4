"""mkdocs hook: fill ``<!-- recipe-schema -->`` in docs/reference/recipe-schema.md with tables generated from the
code that validates recipes (``drama_models.recipes.schema``: the top-level keys; each stage adapter's
``OPTIONS``: its options, types, defaults and help), so the page cannot drift from ``recipe validate``.

In: the page's markdown. Out: the same markdown with the marker replaced by one table per key group.
"""
from __future__ import annotations

import json

MARKER = "<!-- recipe-schema -->"

TOP_HELP = {
    "name": "the recipe's name (default: the file name)",
    "description": "free text",
    "corpus": "the collection (a BEIR folder; relative to the recipe's folder); `--corpus` overrides it",
    "output": "the run folder (relative to the current directory); `--output` overrides it",
    "seed": "default seed of every stage that takes one (an integer, default 0)",
    "plan": "corpus size for `--dry-run` when the corpus is not on this machine",
    "stages": "a mapping of stage name -> options, in flow order",
}


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _types(opt, type_names: dict) -> str:
    names = [type_names.get(t, getattr(t, "__name__", str(t))) for t in opt.types]
    text = " or ".join(names)
    return text + (" or null" if opt.nullable else "")


def _default(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"`{value}`" if value else '`""`'
    return f"`{json.dumps(value)}`"


def schema_markdown() -> str:
    """The generated part of the page: top-level keys, ``plan`` keys, then one table per stage kind."""
    from drama_models.recipes import schema
    from drama_models.recipes.stages import STAGE_TYPES

    type_names = getattr(schema, "_TYPE_NAMES", {})
    out = ["## Top-level keys", "", "| key | what |", "|---|---|"]
    out += [f"| `{k}` | {_cell(TOP_HELP.get(k, ''))} |" for k in schema.TOP_KEYS]
    out += ["", "`plan:` keys: " + ", ".join(f"`{k}`" for k in schema.PLAN_KEYS) + " (positive numbers).", ""]
    out += ["## Stage kinds", "", "In the order they may appear: " + ", ".join(f"`{k}`" for k in schema.KINDS) + ".", ""]
    for kind, stage_type in STAGE_TYPES.items():
        doc = (stage_type.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        out += [f"### {kind}", ""]
        if doc:
            out += [doc, ""]
        out += ["| option | type | default | what |", "|---|---|---|---|"]
        for key, opt in stage_type.OPTIONS.items():
            out.append(f"| `{key}` | {_types(opt, type_names)} | {_cell(_default(opt.default))} | {_cell(opt.help)} |")
        out.append("")
    return "\n".join(out)


def on_config(config):
    """Give every sub-command its registered name (``drama_data.cli`` registers modules' ``command`` objects
    under the command's name; mkdocs-click titles a command by its own ``name``)."""
    import click

    from drama_data.cli import main as data_main
    from drama_models.cli import main as models_main

    def rename(group: click.Group) -> None:
        for name, command in group.commands.items():
            command.name = name
            if isinstance(command, click.Group):
                rename(command)

    rename(data_main)
    rename(models_main)
    return config


def on_page_markdown(markdown, page, config, files):  # noqa: ARG001 (mkdocs' hook signature)
    if MARKER in markdown:
        return markdown.replace(MARKER, schema_markdown())
    return markdown
