"""One error hierarchy and one ``clean_errors`` (issue 27 item 1): the errors of pruning, model sources and BEIR
folders are ``DramaError`` kinds (and still ``ValueError``), and a ``drama-models`` command prints any of them,
or any other ``DramaError``, as one ``Error:`` line with exit code 2 through drama-data's ``clean_errors``."""
import json
import logging
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from drama_data.errors import ConfigError, DramaError, InputError
from drama_models.beir import BeirFormatError, load_beir
from drama_models.cli import main
from drama_models.cli_common import clean_errors
from drama_models.model_source import ModelSourceError, resolve_model_source
from drama_models.pruning.errors import PruningError
from drama_models.pruning.targets import parse_target


def _beir(root: Path, qrels: str = "") -> Path:
    (root / "qrels").mkdir(parents=True, exist_ok=True)
    (root / "corpus.jsonl").write_text(json.dumps({"_id": "d1", "text": "aspirin reduces fever"}) + "\n")
    (root / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "aspirin fever"}) + "\n")
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + qrels)
    return root


def _raises(kind, tmp_path):
    if kind is PruningError:
        return lambda: parse_target("nonsense")
    if kind is ModelSourceError:
        return lambda: resolve_model_source(str(tmp_path / "no" / "such" / "model"))
    return lambda: load_beir(_beir(tmp_path / "empty"))


def _command(body):
    @click.command()
    @clean_errors
    def command():
        body()

    return command


@pytest.mark.parametrize("kind, family", [(PruningError, ConfigError), (ModelSourceError, InputError),
                                          (BeirFormatError, InputError)])
def test_drama_models_errors_are_drama_errors_and_one_line(kind, family, tmp_path):
    assert issubclass(kind, family) and issubclass(kind, DramaError) and issubclass(kind, ValueError)
    with pytest.raises(kind) as err:
        _raises(kind, tmp_path)()
    assert isinstance(err.value, ValueError)  # callers that catch ValueError keep working
    out = CliRunner().invoke(_command(_raises(kind, tmp_path)), [])
    assert out.exit_code == 2, out.output
    lines = out.output.strip().splitlines()
    assert len(lines) == 1 and lines[0] == f"Error: {err.value}"


def test_any_drama_error_in_a_drama_models_command_is_one_line():
    """Before, drama-models' own clean_errors caught only ValueError/OSError: a ConfigError was a traceback."""
    def body():
        raise ConfigError("--mix: two\nlines")

    out = CliRunner().invoke(_command(body), [])
    assert out.exit_code == 2 and out.output == "Error: --mix: two lines\n"


def test_os_errors_and_debug_logging_as_before(tmp_path, caplog):
    def body():
        raise PermissionError(f"[Errno 13] Permission denied: '{tmp_path}'")

    out = CliRunner().invoke(_command(body), [])
    assert out.exit_code == 2 and out.output.startswith("Error: PermissionError: [Errno 13]")
    caplog.set_level(logging.DEBUG, logger="drama_models")  # -vv: the traceback instead of the line
    out = CliRunner().invoke(_command(lambda: parse_target("nonsense")), [])
    assert out.exit_code == 1 and isinstance(out.exception, PruningError)


def test_real_commands_print_one_line(tmp_path):
    empty = _beir(tmp_path / "empty")
    out = CliRunner().invoke(main, ["evaluate", "--data", str(empty), "--bm25"])
    assert out.exit_code == 2 and out.output.count("\n") == 1, out.output
    assert out.output.startswith("Error: ") and "qrels/test.tsv: empty split" in out.output
    out = CliRunner().invoke(main, ["evaluate", "--model", str(tmp_path / "no" / "model"), "--data", str(empty)])
    assert out.exit_code == 2 and out.output.count("\n") == 1, out.output
    assert out.output.startswith("Error: --model ")
