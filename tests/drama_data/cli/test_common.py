"""drama-data's ``clean_errors``: the one implementation both command lines use (issue 27 item 1)."""
import click
from click.testing import CliRunner

from drama_data.cli.common import clean_errors, one_line
from drama_data.errors import InputError


def _run(decorator, exc):
    @click.command()
    @decorator
    def command():
        raise exc

    return CliRunner().invoke(command, [])


def test_a_drama_error_is_one_error_line_and_exit_2():
    out = _run(clean_errors, InputError("data.jsonl:3: malformed JSON\n  (at column 4)"))
    assert out.exit_code == 2 and out.output == "Error: data.jsonl:3: malformed JSON (at column 4)\n"


def test_other_errors_pass_unless_caught():
    out = _run(clean_errors, ValueError("not ours"))
    assert out.exit_code == 1 and isinstance(out.exception, ValueError)  # drama-data: a bug, with its traceback
    out = _run(clean_errors(catch=(ValueError,)), ValueError("bad\nvalue"))
    assert out.exit_code == 2 and out.output == "Error: bad value\n"


def test_one_line():
    assert one_line(InputError("")) == "InputError"
    assert one_line(FileNotFoundError("x: no such file")) == "x: no such file"
    assert one_line(PermissionError("denied")) == "PermissionError: denied"
