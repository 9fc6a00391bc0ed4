"""mkdocs hook for the generated reference pages (mkdocs.yml ``hooks:``).

- docs/reference/recipe-schema.md: ``<!-- recipe-schema -->`` becomes tables generated from the code that
  validates recipes (``drama_models.recipes.schema``: the top-level keys; each stage adapter's ``OPTIONS``:
  options, types, defaults, help), so the page cannot drift from ``drama-models recipe validate``.
- docs/reference/cli.md (mkdocs-click): the click commands get their registered names and keep the line
  breaks of their ``\\b`` help blocks; click 8.3's ``Sentinel.UNSET`` (no default) is not shown.

In: the pages' markdown and HTML. Out: the same with the generated parts in place.
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


def _help_as_markdown(text: str) -> str:
    """click's ``\\b`` paragraphs (kept as written by ``--help``) as one fenced block after the first paragraph,
    so the reference shows the examples with their line breaks instead of one re-wrapped paragraph."""
    if "\b" not in text:
        return text
    head, _, rest = text.partition("\b")
    body = "\n".join(line for line in rest.strip("\n").splitlines() if line.strip() != "\b")
    return f"{head.rstrip()}\n\n```text\n{body}\n```\n"


def on_config(config):
    """Prepare the click commands for mkdocs-click: every sub-command gets its registered name
    (``drama_data.cli`` registers modules' ``command`` objects under the command's name; mkdocs-click titles a
    command by its own ``name``), and help with ``\\b`` blocks keeps its line breaks."""
    import click

    from drama_data.cli import main as data_main
    from drama_models.cli import main as models_main

    def rename(group: click.Group) -> None:
        for name, command in group.commands.items():
            command.name = name
            if command.help:
                command.help = _help_as_markdown(command.help)
            if isinstance(command, click.Group):
                rename(command)

    rename(data_main)
    rename(models_main)
    return config


def on_page_content(html, page, config, files):
    """mkdocs-click shows click 8.3's "no default" sentinel as ``Sentinel.UNSET``: show nothing instead."""
    return html.replace("<code>Sentinel.UNSET</code>", "").replace("Sentinel.UNSET", "")


def on_page_markdown(markdown, page, config, files):
    if MARKER in markdown:
        return markdown.replace(MARKER, schema_markdown())
    return markdown
