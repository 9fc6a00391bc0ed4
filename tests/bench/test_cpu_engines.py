"""bench/cpu_engines.py: the engines' commands (same corpus slice, seed, prompt form; own output and cache
folders), the figures read back from a run (parse and rejection rates, generation time apart from start-up),
the verdict line, and ``--smoke`` end to end on stand-in servers."""
from __future__ import annotations

import importlib.util
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "cpu_engines.py"


def _load():
    spec = importlib.util.spec_from_file_location("cpu_engines", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["cpu_engines"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


ce = _load()


def test_commands_share_the_run_and_keep_outputs_and_caches_apart(capsys):
    assert ce.main(["--print-commands", "--n", "40", "--slots", "1,4", "--llama-server", "/opt/llama-server",
                    "--gguf", "m.gguf", "--hf-model", "hf-dir"]) == 0
    out = capsys.readouterr().out
    clients = [line for line in out.splitlines() if line.startswith("client: ")]
    servers = [line for line in out.splitlines() if line.startswith("server: ")]
    assert len(clients) == 5 and len(servers) == 3  # vllm, vllm-inproc, llama-server np=1, np=4, vllm-server
    for line in clients:
        assert "--limit 40 --seed 0 --prompt-format completion" in line
        assert "--no-cache" not in line  # each engine has its own cache folder instead (its timings are read there)
    outputs = [line.split("--output ")[1].split()[0] for line in clients]
    caches = [line.split("--cache-dir ")[1].split()[0] for line in clients]
    assert len(set(outputs)) == len(set(caches)) == 5
    assert "--backend vllm" in clients[0] and clients[1].startswith("client: VLLM_ENABLE_V1_MULTIPROCESSING=0 ")
    assert all("--backend openai" in c for c in clients[2:])
    assert "-np 1 -c 2048" in servers[0] and "-np 4 -c 8192" in servers[1] and "m.gguf" in servers[0]
    vllm_server = servers[2]
    assert vllm_server.startswith("server: VLLM_CPU_NUM_OF_RESERVED_CPU=0 ") or "VLLM_CPU_NUM_OF_RESERVED_CPU" in \
        os.environ
    for flag in (f"--dtype {ce.ours_dtype()}", "--no-enable-chunked-prefill", "--enforce-eager", "--model hf-dir"):
        assert flag in vllm_server


def test_llama_cpp_python_runs_only_when_named(capsys):
    ce.main(["--print-commands", "--engines", "llama-cpp-python,vllm"])
    assert "llama_cpp.server" not in capsys.readouterr().out
    ce.main(["--print-commands", "--engines", "llama-cpp-python", "--llama-python", "/venv/bin/python"])
    out = capsys.readouterr().out
    assert "/venv/bin/python -m llama_cpp.server" in out
    # its default cancels the running request when the next arrives; the client sends two at a time
    assert "--interrupt_requests False" in out


def test_a_segfault_with_amx_in_the_log_points_at_the_build(tmp_path):
    log = tmp_path / "server.log"
    log.write_text("system_info: n_threads = 2 | CPU : SSE3 = 1 | AVX512 = 1 | AMX_INT8 = 1 | REPACK = 1 |\n")
    assert "GGML_NATIVE=OFF" in ce.crash_hint(-11, log) and "GGML_NATIVE=OFF" in ce.crash_hint(139, log)
    assert ce.crash_hint(1, log) == "" and ce.crash_hint(None, log) == ""
    log.write_text("system_info: n_threads = 2 | CPU : SSE3 = 1 | AVX512 = 1 | REPACK = 1 |\n")
    assert ce.crash_hint(-11, log) == ""
    assert ce.crash_hint(-11, tmp_path / "missing.log") == ""


def test_bad_arguments_are_one_line(capsys):
    for argv, expected in ((["--engines", "ollama"], "--engines: unknown ollama"),
                           (["--slots", "two"], "--slots: comma-separated integers")):
        try:
            ce.parse_args(argv)
        except SystemExit as exc:
            assert exc.code == 2
        err = capsys.readouterr().err
        assert expected in err and "Traceback" not in err


def _run_folder(tmp_path: Path, failures: list[dict]) -> tuple[Path, Path]:
    out, cache = tmp_path / "out", tmp_path / "cache"
    (out / "data" / "failures").mkdir(parents=True)
    cache.mkdir()
    pq.write_table(pa.Table.from_pylist(failures, schema=pa.schema([("kind", pa.string()), ("reason", pa.string())])),
                   out / "data" / "failures" / "train-00000-of-00001.parquet")
    db = sqlite3.connect(cache / "requests.sqlite")
    db.execute("CREATE TABLE throughput (seconds REAL, start_seconds REAL)")
    db.executemany("INSERT INTO throughput VALUES (?, ?)", [(30.0, 25.0), (6.0, 0.0)])  # a first pass and a retry
    db.commit()
    db.close()
    return out, cache


def test_measure_separates_unreadable_rejected_and_start_up(tmp_path):
    failures = [{"kind": "parse", "reason": "no 'Query:' line"},
                {"kind": "parse", "reason": "query shares no content word with the passage"},
                {"kind": "parse", "reason": "query copies a prompt example"},
                {"kind": "backend", "reason": "HTTP 500"}]
    out, cache = _run_folder(tmp_path, failures)
    summary = {"generated": 12, "rows": 9, "passages": 10, "prompt_tokens": 6000, "completion_tokens": 360}
    m = ce.measure(summary, out, cache)
    assert m["generate_seconds"] == 36.0 and m["start_seconds"] == 25.0  # start-up apart from generation
    assert m["rows_per_s"] == 9 / 36.0
    assert (m["unreadable"], m["rejected"], m["backend_errors"]) == (1, 2, 1)
    assert m["parse_rate"] == 10 / 12 and m["rejection_rate"] == 2 / 10
    assert m["rows_per_passage"] == 0.9 and m["completion_tokens_per_answer"] == 30.0


def test_verdict_is_ours_over_the_fastest_engine_that_ran():
    rows = [{"engine": "vllm", "rows_per_s": 0.6}, {"engine": "llama-server np=2", "rows_per_s": 1.2},
            {"engine": "vllm-server", "error": "server did not start"}]
    assert ce.verdict(rows, "vllm") == (0.5, "llama-server np=2")
    assert ce.verdict([{"engine": "vllm", "error": "x"}, rows[1]], "vllm") == (None, "")
    table = ce.table([{**rows[0], **{k: 0 for k in ("start_seconds", "generate_seconds", "rows", "answers",
                                                    "parse_rate", "rejection_rate", "rows_per_passage",
                                                    "completion_tokens_per_answer", "peak_rss_engine",
                                                    "peak_rss_client")}, "load_before": "1.00"}, rows[2]])
    assert "| vllm-server | failed: server did not start |" in table


@pytest.mark.slow  # two real generate runs (their imports): 10-25 s on 2 shared cores
def test_smoke_end_to_end(tmp_path):
    """Two stand-in servers through the real ``drama-data generate --backend openai``: the table, the seeds check,
    the last line, one output and one cache folder per engine."""
    proc = subprocess.run([sys.executable, str(SCRIPT), "--smoke", "--work", str(tmp_path)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[-1] == "cpu_engines --smoke (stand-in servers, not a measurement): ours/fastest " \
                        f"{lines[-1].split('ours/fastest ')[1].split()[0]} (goal: >= 0.9)"
    assert any(line.startswith("| stand-in-a | ") and "| 3 | 3 | 1.00 | 0.00 | 1.00 |" in line for line in lines)
    assert any("same seeds, sampling and prompt template across engines: yes (3 rows" in line for line in lines)
    results = json.loads((tmp_path / "results.json").read_text())
    assert [r["engine"] for r in results] == ["stand-in-a", "stand-in-b"]
    for name in ("stand-in-a", "stand-in-b"):
        assert (tmp_path / name / "out" / "README.md").is_file()
        assert (tmp_path / name / "cache" / "requests.sqlite").is_file()
    assert all(r["peak_rss_client"] > 0 and r["peak_rss_engine"] > 0 for r in results)
