"""build.yaml is read by the generic loader derived from the config's dataclasses: an unknown or misplaced key is
one line naming the file and the key (the hand-written loader named the key only); the flags' combinations are
checked by drama_data.build.flags, one line each."""
import pytest
import yaml
from click.testing import CliRunner

from drama_data.build.config import config_from_mapping, load_config
from drama_data.errors import ConfigError


@pytest.mark.parametrize("conf, message", [
    ({"inputs": [{"candidates": "c"}], "colour": 1}, "colour: unknown option (allowed: false_negatives, filters"),
    ({"inputs": [{"candidates": "c", "ratioo": 1}]}, "inputs[0].ratioo: unknown option"),
    ({"inputs": [{"candidates": "c"}], "rules": {"qgen": {"bogus": 1}}}, "rules.qgen.bogus: unknown option"),
    ({"inputs": [{"candidates": "c"}], "filters": {"max_copy": 1}}, "filters.max_copy: unknown option"),
    ({"inputs": [{"candidates": "c"}], "mix": {"ratio": {"a": 1}}}, "mix.ratio: unknown option"),
    ({"inputs": [{"candidates": "c"}], "false_negatives": {"mod": "x"}}, "false_negatives.mod: unknown option"),
    ({"inputs": [{"group": "g"}]}, "inputs[0].candidates: missing"),
    ({"inputs": ["c"]}, "inputs[0]: expected a mapping"),
    ({"inputs": {"candidates": "c"}}, "inputs: expected a list"),
    ({"inputs": [{"candidates": "c"}], "filters": [1]}, "filters: expected a mapping"),
    ({"inputs": [{"candidates": "c"}], "mix": {"ratios": [1]}}, "mix.ratios: expected a mapping"),
])
def test_layout_errors_name_the_file_and_the_key(tmp_path, conf, message):
    path = tmp_path / "build.yaml"
    path.write_text(yaml.safe_dump(conf))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).startswith(f"--config {path}: ") and message in str(err.value)
    assert "\n" not in str(err.value)


def test_the_mapping_form_is_the_file_form(tmp_path):
    """A recipe's build options are read by the same loader, without a file (errors start with the key)."""
    conf = {"inputs": [{"candidates": "c", "group": "g"}], "miner": "strong", "rules": {"qgen": {"negatives": "20-30"}},
            "filters": {"max_copy_rate": None}, "mix": {"by": "group", "ratios": {"g": 1}}}
    path = tmp_path / "b.yaml"
    path.write_text(yaml.safe_dump(conf))
    a, b = load_config(path), config_from_mapping(conf, base=tmp_path)
    assert a.as_dict() == b.as_dict() and a.rules["qgen"].negatives == (20, 30) and a.filters["max_copy_rate"] is None
    assert a.inputs[0].candidates == str(tmp_path / "c")
    with pytest.raises(ConfigError, match=r"^filters.max_copy: unknown option"):
        config_from_mapping({"filters": {"max_copy": 1}}, inputs=[{"candidates": "c"}])


@pytest.mark.parametrize("args, message", [
    ([], "give --input candidates=DIR,... (repeatable), --candidates DIR or --config FILE.yaml"),
    (["--config", "b.yaml", "--queries", "Q"], "--rerank/--queries go with --candidates"),
])
def test_cli_missing_inputs_is_one_line(tmp_path, args, message):
    """Was click's usage block (several lines); now one line like every other build error."""
    from drama_data.cli import main

    res = CliRunner().invoke(main, ["build", *args, "--output", str(tmp_path / "o")])
    assert res.exit_code == 2 and message in res.output, res.output
    assert len(res.output.strip().splitlines()) == 1
