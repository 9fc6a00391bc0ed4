"""The shared command-line machinery (drama_data.cli.options): --help in sections with defaults and examples,
commands in flow order, renamed flags that still work and warn, --json as one object, errors naming flags."""
from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner

from drama_data.cli import main
from drama_data.cli.common import clean_errors
from drama_data.cli.options import (
    FlowGroup,
    json_option,
    option,
    output_option,
    print_summary,
    renamed_option,
)
from drama_data.errors import ConfigError


def toy_group():
    @click.group(cls=FlowGroup, flow=("second", "first"))
    def group():
        """Toy."""

    @group.command("first", groups={"Input": ["corpus"]}, examples=["toy first --corpus C --output O"])
    @click.option("--corpus", default="c0", help="The corpus.")
    @option("--seed", default=7, group="Sampling", help="Seed.")
    @click.option("--shards", default=1, help="Shards.")
    @output_option("--out", "--output-dir", required=True, help="Where.")
    @renamed_option("--data", "--calibration", help="Data file.", group="Input")
    @json_option
    @clean_errors
    def first(corpus, seed, shards, output, data, as_json):
        """Do the first thing."""
        if corpus == "bad":
            raise ConfigError("flags: option `corpus` is bad; option `seed` too")
        if corpus == "file":
            raise ConfigError("recipe.yaml: option `seed` must be a number; option `nothing` stays")
        if corpus == "typed":
            raise ConfigError("option `shards`=3 must divide the rows")
        print_summary({"output": output, "data": data, "seed": seed}, f"wrote {output}", as_json=as_json)

    @group.command("second")
    def second():
        """Do the second thing."""

    return group


def run(args):
    return CliRunner().invoke(toy_group(), args)


def test_help_has_sections_defaults_and_examples():
    out = run(["first", "--help"]).output
    sections = [line for line in out.splitlines() if line.endswith(":") and not line.startswith(" ")]
    assert sections == ["Input:", "Sampling:", "Output:", "Other options:", "Examples:"]
    assert "[default: 7]" in out and "[default: c0]" in out and "[required]" in out
    assert "  toy first --corpus C --output O" in out
    assert "--out " not in out and "--output-dir" not in out and "--calibration" not in out  # old spellings hidden
    assert run(["--help"]).output.index("second") < run(["--help"]).output.index("first")  # flow order


def test_old_spellings_work_and_warn_once():
    res = run(["first", "--output", "o"])
    assert res.exit_code == 0 and res.stdout == "wrote o\n" and res.stderr == ""
    for old in ("--out", "--output-dir"):
        res = run(["first", old, "o", "--calibration", "d"])
        assert res.exit_code == 0, res.output
        assert res.stdout == "wrote o\n"
        assert res.stderr.splitlines() == [
            f"warning: {old} is deprecated; use --output (the old spelling still works for now)",
            "warning: --calibration is deprecated; use --data (the old spelling still works for now)"]


@pytest.mark.parametrize("args", [["--out", "a", "--output", "b"], ["--output", "b", "--out", "a"]])
def test_both_spellings_are_a_usage_error(args):
    res = run(["first", *args])
    assert res.exit_code == 2 and "Error: --out and --output are the same option; give only --output" in res.stderr


def test_a_required_renamed_option_is_still_required():
    res = run(["first"])
    assert res.exit_code == 2 and "Missing option '--output'" in res.stderr


def test_json_prints_one_object_and_nothing_else_on_stdout():
    res = run(["first", "--out", "o", "--json"])
    assert res.exit_code == 0
    assert json.loads(res.stdout) == {"output": "o", "data": None, "seed": 7}
    assert "deprecated" in res.stderr


def test_errors_name_the_flags_not_the_python_names():
    res = run(["first", "--corpus", "bad", "--output", "o"])
    assert res.exit_code == 2 and res.stderr.strip() == "Error: --corpus is bad; --seed too"
    res = run(["first", "--corpus", "file", "--output", "o"])  # from a file: the key stays, the flag is added
    assert res.stderr.strip() == "Error: recipe.yaml: option `seed` (--seed) must be a number; option `nothing` stays"
    res = run(["first", "--corpus", "typed", "--shards", "3", "--output", "o"])
    assert res.stderr.strip() == "Error: --shards=3 must divide the rows"


def test_drama_data_lists_its_commands_in_flow_order():
    out = CliRunner().invoke(main, ["--help"]).output
    listed = [line.split()[0] for line in out.split("Commands:")[1].splitlines() if line.strip()]
    assert listed == ["generate", "mine", "build", "report", "merge", "publish"]


@pytest.mark.parametrize("command", ["report", "merge", "publish"])
def test_drama_data_commands_have_grouped_help_with_an_example(command):
    res = CliRunner().invoke(main, [command, "--help"])
    assert res.exit_code == 0
    assert "Output:" in res.output and "Examples:" in res.output and f"drama-data {command} " in res.output
    assert "--json" in res.output
