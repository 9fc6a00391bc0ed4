"""``drama-data --version``: the installed distribution's version."""
from importlib.metadata import version

from click.testing import CliRunner

from drama_data.cli import main


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"drama-data {version('drama-toolkit')}"
