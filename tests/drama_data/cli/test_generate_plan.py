"""``generate --dry-run`` / ``--max-cost`` / ``--contamination`` from the command line (no model, no server)."""
from importlib import resources

from click.testing import CliRunner

from drama_data.cli import main

SAMPLE = str(resources.files("drama_data").joinpath("samples/scifact-sample"))


def test_dry_run_with_an_api_model_prices_it_and_sends_nothing(tmp_path):
    args = ["generate", "--backend", "openai", "--model", "gpt-4o-mini", "--base-url", "http://127.0.0.1:9/v1",
            "--corpus", SAMPLE, "--output", str(tmp_path / "out"), "--limit", "5", "--dry-run",
            "--cache-dir", str(tmp_path / "cache")]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "requests         5 first attempts (0 already in the cache, 5 to send)" in res.output
    assert "approximate: 4 characters per token" in res.output
    assert "$0.15/1M in, $0.6/1M out; built-in price table" in res.output
    assert not (tmp_path / "out").exists()
    prices = tmp_path / "p.yaml"
    prices.write_text("gpt-4o-mini: {input: 100, output: 200}\n")
    res = CliRunner().invoke(main, args + ["--prices", str(prices)])
    assert "$100.0/1M in, $200.0/1M out" in res.output


def test_max_cost_without_a_price_is_a_clean_error(tmp_path):
    res = CliRunner().invoke(main, ["generate", "--backend", "openai", "--model", "my-model", "--corpus", SAMPLE,
                                    "--output", str(tmp_path / "out"), "--max-cost", "1"])
    assert res.exit_code == 2 and "--max-cost needs a price" in res.output and "Traceback" not in res.output


def test_generate_writes_the_quality_report(tmp_path):
    res = CliRunner().invoke(main, ["generate", "--task", "crop", "--corpus", SAMPLE, "--output", str(tmp_path / "o"),
                                    "--limit", "10", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "report           " in res.output and "(Quality report)" in res.output
    assert "## Quality report" in (tmp_path / "o" / "README.md").read_text()
    assert (tmp_path / "o" / "report" / "query_length.png").is_file()


def test_no_report_skips_the_quality_report(tmp_path):
    res = CliRunner().invoke(main, ["generate", "--task", "crop", "--corpus", SAMPLE, "--output", str(tmp_path / "o"),
                                    "--limit", "10", "--no-progress", "--no-report"])
    assert res.exit_code == 0, res.output
    assert "report           " not in res.output
    assert "## Quality report" not in (tmp_path / "o" / "README.md").read_text()
    assert not (tmp_path / "o" / "report").exists()
