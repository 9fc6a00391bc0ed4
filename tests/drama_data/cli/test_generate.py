"""The generate command end to end: a real HTTP server, a real kill -9, a rerun, and what lands on disk."""
import hashlib
import os
import signal
import subprocess
import sys
import time

import datasets
import pytest
from conftest import SMALL_DOCS, write_jsonl
from fake_backend import fake_query
from fake_openai_server import FakeOpenAIServer

from drama_data.datasets.folder import read_table
from drama_data.generate.runner import FAILURE_SCHEMA

SECRET = "sk-test-" + "q" * 32


def answer(prompt: str) -> str:
    h = hashlib.sha256(prompt.encode()).hexdigest()[:10]
    return f"Task: find facts\nQuery: {fake_query(prompt, h)}\nLanguage: English"


def cli(args, env, **kw):
    return subprocess.Popen([sys.executable, "-m", "drama_data.cli.__main__", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


@pytest.fixture()
def corpus(tmp_path):
    docs = [{"_id": f"p{i}", "title": "", "text": f"{d['text']} Item {i}."} for i, d in enumerate(SMALL_DOCS * 10)]
    return write_jsonl(tmp_path / "corpus.jsonl", docs)


@pytest.fixture()
def env(tmp_path):
    e = dict(os.environ, DRAMA_CACHE=str(tmp_path / "cache"), MY_KEY=SECRET)
    return e


def args_for(server, corpus, out):
    return ["generate", "--task", "queries", "--backend", "openai", "--model", "fake-model", "--base-url",
            server.base_url, "--api-key-env", "MY_KEY", "--corpus", str(corpus), "--output", str(out),
            "--concurrency", "4", "--no-progress"]


def test_kill_9_then_rerun_equals_uninterrupted_run(tmp_path, corpus, env):
    with FakeOpenAIServer(responder=answer, delay=0.05, max_lifetime=110) as server:
        # uninterrupted reference run with its own cache
        ref_env = dict(env, DRAMA_CACHE=str(tmp_path / "ref-cache"))
        ref = cli(args_for(server, corpus, tmp_path / "ref"), ref_env)
        out, err = ref.communicate(timeout=60)
        assert ref.returncode == 0, err
        assert "rows written     60" in out
        n_ref = len(server.completion_records())

        proc = cli(args_for(server, corpus, tmp_path / "out"), env)
        deadline = time.time() + 30
        while len(server.completion_records()) < n_ref + 25 and time.time() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert not (tmp_path / "out").exists()
        before = len(server.completion_records())
        again = cli(args_for(server, corpus, tmp_path / "out"), env)
        out, err = again.communicate(timeout=60)
        assert again.returncode == 0, err
        sent_on_rerun = len(server.completion_records()) - before
        assert 0 < sent_on_rerun < 60 - 20  # only what was missing (at most the in-flight ones redone)
    for config in ("queries", "failures"):
        assert read_table(tmp_path / "out", config, FAILURE_SCHEMA).equals(
            read_table(tmp_path / "ref", config, FAILURE_SCHEMA))
    ds = datasets.load_dataset(str(tmp_path / "out"), split="train")
    assert ds.num_rows == 60 and len(set(ds["query_id"])) == 60
    # the key reached the server, and nothing on disk
    assert server.records[-1].headers.get("authorization") == f"Bearer {SECRET}"
    for path in list((tmp_path / "out").rglob("*")) + list((tmp_path / "cache").rglob("*")):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path


@pytest.mark.slow
def test_ray_run_killed_then_rerun_equals_local_run(tmp_path, corpus, env):
    """--ray (a local Ray, 2 workers): killed with -9 mid-run, rerun, the rows of a local run."""
    pytest.importorskip("ray")
    import sqlite3

    ray_args = ["--ray", "--ray-workers", "2", "--concurrency", "1"]  # ~7 answers/s: time to kill mid-run

    def cached():
        try:
            with sqlite3.connect(tmp_path / "cache" / "requests.sqlite", timeout=1) as con:
                return con.execute("SELECT COUNT(*) FROM completions").fetchone()[0]
        except sqlite3.Error:
            return 0

    with FakeOpenAIServer(responder=answer, delay=0.3, max_lifetime=600) as server:
        ref = cli(args_for(server, corpus, tmp_path / "ref"), dict(env, DRAMA_CACHE=str(tmp_path / "ref-cache")))
        out, err = ref.communicate(timeout=120)
        assert ref.returncode == 0, err

        proc = cli(args_for(server, corpus, tmp_path / "out") + ray_args, env)
        deadline = time.time() + 240
        while cached() < 20 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert not (tmp_path / "out").exists()
        # the workers die with their driver (Ray's fate sharing), within seconds; what they sent meanwhile was
        # answered to no one (not cached), like requests in flight
        t_kill, seen, quiet = time.time(), -1, 0
        while quiet < 30 and time.time() < t_kill + 90:
            now = len(server.completion_records())
            quiet, seen = (quiet + 1, now) if now == seen else (0, now)
            time.sleep(0.1)
        assert quiet >= 30, "Ray workers kept sending requests 90 s after their driver was killed"
        before = len(server.completion_records())
        again = cli(args_for(server, corpus, tmp_path / "out") + ray_args, env)
        out, err = again.communicate(timeout=300)
        assert again.returncode == 0, err[-3000:]
        sent_on_rerun = len(server.completion_records()) - before
        assert 0 < sent_on_rerun <= 60 - 20, sent_on_rerun  # only what was missing: 20+ were cached at the kill
        assert "rows written     60" in out
    for config in ("queries", "failures"):
        assert read_table(tmp_path / "out", config, FAILURE_SCHEMA).equals(
            read_table(tmp_path / "ref", config, FAILURE_SCHEMA))


def test_bad_input_is_one_clear_line(tmp_path, env):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"_id": "a", "text": "ok"}\n{"_id": "b", "text": "\xff"}\n')
    p = cli(["generate", "--task", "crop", "--corpus", str(bad), "--output", str(tmp_path / "o")], env)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 2
    assert err.strip() == f"Error: {bad}:2: not valid UTF-8 (byte 0xff at column 23)"
    assert not (tmp_path / "o").exists()


def test_output_folder_that_is_not_ours_is_refused(tmp_path, env, corpus):
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "notes.txt").write_text("mine")
    p = cli(["generate", "--task", "crop", "--corpus", str(corpus), "--output", str(tmp_path / "o")], env)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 2 and "not a drama-toolkit dataset" in err
    assert (tmp_path / "o" / "notes.txt").read_text() == "mine"


def test_summary_is_readable_and_json_on_request(tmp_path, corpus):
    import json

    from click.testing import CliRunner

    from drama_data.cli import main

    base = ["generate", "--task", "crop", "--corpus", str(corpus), "--no-progress", "--no-cache"]
    res = CliRunner().invoke(main, [*base, "--output", str(tmp_path / "a")])
    assert res.exit_code == 0 and "drama-data generate --task crop: done" in res.output and "{" not in res.output
    res = CliRunner().invoke(main, [*base, "--output", str(tmp_path / "b"), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout[res.stdout.index("{"):])["rows"] == len(SMALL_DOCS) * 10
