"""``drama-data``: the command line, one module per command, each a thin layer over the Python API."""
from __future__ import annotations

import importlib
import logging

import click

from drama_data.cli.options import FlowGroup

DISTRIBUTION = "drama-toolkit"  # the installed distribution whose version ``--version`` prints
COMMANDS = ("generate", "mine", "build", "report", "merge", "publish")  # flow order, as --help lists them


@click.group(cls=FlowGroup, flow=COMMANDS,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name=DISTRIBUTION, prog_name="drama-data", message="%(prog)s %(version)s")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
def main(verbose: int) -> None:
    """DRAMA data: LLM-augmented retrieval training data, published as Hugging Face datasets."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


for _name in COMMANDS:
    try:
        _module = importlib.import_module(f"drama_data.cli.{_name}")
    except ModuleNotFoundError as exc:  # a command whose module is not there yet
        if exc.name != f"drama_data.cli.{_name}":
            raise
        continue
    main.add_command(_module.command, name=_name)
