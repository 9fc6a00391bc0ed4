"""evaluate_long_context and `drama-models evaluate --long-context`: rows per length, truncation stated, paper rows."""
import json

import pytest
from click.testing import CliRunner
from tiny_models import one_torch_thread, tiny_model_dir, tiny_tokenizer  # noqa: F401

from drama_models.cli import main
from drama_models.long_context.evaluate import evaluate_long_context, format_long_context_table, parse_lengths

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory.mktemp("lc") / "llama", "llama", tokenizer=tiny_tokenizer())


def test_parse_lengths():
    assert parse_lengths("512,2k, 4096") == [512, 2048, 4096]
    with pytest.raises(ValueError, match="lengths"):
        parse_lengths("12x")


def test_model_and_bm25_rows_truncation_stated(tiny_llama, tmp_path):
    result = evaluate_long_context(tiny_llama, tasks=["passkey"], lengths=[256, 1024], num_queries=3,
                                   name="tiny", output_dir=tmp_path)
    rows = {(r["system"], r["length"]): r for r in result["rows"]}
    assert set(rows) == {("tiny", 256), ("tiny", 1024), ("BM25", 256), ("BM25", 1024)}
    assert rows[("tiny", 256)]["read_tokens"] == 256 and not rows[("tiny", 256)]["truncated"]
    assert rows[("tiny", 1024)]["read_tokens"] == 512 and rows[("tiny", 1024)]["truncated"]  # its 512 positions
    assert all(0.0 <= r["ndcg@1"] <= 1.0 and r["num_docs"] == 6 for r in result["rows"])
    assert rows[("BM25", 1024)]["ndcg@1"] == 1.0  # the name is a lexical key
    table = format_long_context_table(result)
    assert "| tiny |" in table and "*" in table and "tiny reads at most 512 tokens" in table
    assert "Drama-1B (paper)" in table and "attention sdpa" in table
    saved = json.loads((tmp_path / "long_context.json").read_text())
    assert saved["rows"] == result["rows"] and (tmp_path / "long_context.md").is_file()


def test_cli_bm25_only_and_errors(tmp_path):
    runner = CliRunner()
    res = runner.invoke(main, ["evaluate", "--long-context", "passkey,needle", "--lengths", "256",
                               "--long-queries", "2", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert {(r["task"], r["system"]) for r in summary["rows"]} == {("passkey", "BM25"), ("needle", "BM25")}
    res = runner.invoke(main, ["evaluate"])
    assert res.exit_code != 0 and "give --data DIR" in res.output
    res = runner.invoke(main, ["evaluate", "--long-context", "haystack"])
    assert res.exit_code != 0 and "--long-context='haystack': choose from passkey, needle" in res.output
    res = runner.invoke(main, ["evaluate", "--data", str(tmp_path), "--rope-scaling", "linear:2"])
    assert res.exit_code != 0 and "--rope-scaling goes with --long-context" in res.output


def test_whole_documents_states_truncation(tiny_llama):
    from drama_models.long_context.evaluate import DEFAULT_HAYSTACK

    res = CliRunner().invoke(main, ["evaluate", "--model", str(tiny_llama), "--data", str(DEFAULT_HAYSTACK),
                                    "--whole-documents", "--json"])
    assert res.exit_code == 0, res.output
    line = next(x for x in res.stderr.splitlines() if x.startswith("whole documents: scifact-sample: "))
    assert "documents are longer than 512 tokens and are truncated there (model limit 512;" in line
    assert json.loads(res.stdout)["results"][0]["dataset"] == "scifact-sample"
