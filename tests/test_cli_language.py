"""One command-line language across ``drama-data`` and ``drama-models`` (issue 27 item 5): every command's
``--help`` has sections and an example, every command takes ``--json``, output folders are ``--output``."""
from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from drama_data.cli import main as data_main
from drama_models.cli import main as models_main


def _leaves(group: click.Group, prefix: tuple[str, ...]):
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        if isinstance(cmd, click.Group):
            yield from _leaves(cmd, (*prefix, name))
        else:
            yield (*prefix, name), cmd


COMMANDS = [(main, path, cmd) for main, prog in ((data_main, "drama-data"), (models_main, "drama-models"))
            for path, cmd in _leaves(main, (prog,))]


@pytest.mark.parametrize("main, path, cmd", COMMANDS, ids=[" ".join(p) for _, p, _ in COMMANDS])
def test_every_command_speaks_the_same_language(main, path, cmd):
    out = CliRunner().invoke(main, [*path[1:], "--help"], terminal_width=100)
    assert out.exit_code == 0, out.output
    text = out.output
    assert "Examples:" in text, f"{' '.join(path)} --help has no example"
    flags = {o for p in cmd.params if isinstance(p, click.Option) and not p.hidden for o in p.opts}
    assert "--json" in flags, f"{' '.join(path)} has no --json"
    assert not flags & {"--out", "--output-dir", "--compare-output"}, f"{' '.join(path)}: output folders are --output"
    if len([p for p in cmd.params if isinstance(p, click.Option)]) > 4:
        headers = [line[:-1] for line in text.splitlines() if line.endswith(":") and not line.startswith(" ")]
        assert set(headers) - {"Other options", "Examples", "Usage"}, f"{' '.join(path)} --help has no sections"
