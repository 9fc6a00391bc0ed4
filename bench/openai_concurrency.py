"""Throughput of ``--backend openai`` at high concurrency, against the official SDK and the ideal.

A minimal OpenAI-compatible server (a plain ASGI app under uvicorn with uvloop/httptools, listen backlog
4096) runs in its own process on 127.0.0.1 and answers every chat request after ``--latency`` seconds
(0.5 s by default), so the only limit is how many requests a client keeps in flight. For each level of
concurrency C (16, 64, 256) both clients send ``8 * C`` chat requests (8 per slot):

* ours: ``OpenAIBackend(concurrency=C).generate(requests)``, timed from the call to the last result;
* SDK: ``openai.AsyncOpenAI(max_retries=0)`` with an ``asyncio.Semaphore(C)`` around
  ``client.chat.completions.create``, all requests gathered in one event loop.

The ideal time is ``requests / C * latency`` (8 x latency). The CPU seconds of the client and of the server
process are printed too: on a loaded machine, a client (or server) that needs more CPU than it gets falls
behind the ideal whatever its design.
Each level is run ``--repeats`` times,
alternating ours and the SDK, and the best time of each is kept (the machine may be shared; the best of
a few runs is the least disturbed). Failed requests are counted and reported: a run with failures does
not count as fast.

Per level: ``C=..  ours ..s  sdk ..s  ideal ..s  ours/SDK ..  ours/ideal ..``; last line:
``openai_concurrency: ours/SDK at 256 = X (goal: >= 1.0; ours/ideal >= 0.9)``.

    python bench/openai_concurrency.py [--levels 16,64,256] [--latency 0.5] [--repeats 2]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


# ------------------------------------------------------------------------------------------------ server
def _serve(port_queue, latency: float) -> None:
    """Run the ASGI server on a free port; put the port on ``port_queue`` once it listens."""
    import uvicorn

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        path = scope["path"]
        if path.endswith("/models"):
            payload = {"object": "list", "data": [{"id": "bench-model", "object": "model"}]}
        else:
            await asyncio.sleep(latency)
            req = json.loads(body or b"{}")
            payload = {"id": "cmpl-1", "object": "chat.completion", "created": 0, "model": req.get("model", "m"),
                       "choices": [{"index": 0, "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": "a query"}}],
                       "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}}
        data = json.dumps(payload).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
        await send({"type": "http.response.body", "body": data})

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port_queue.put(sock.getsockname()[1])
    config = uvicorn.Config(app, loop="uvloop", http="httptools", log_level="warning", access_log=False,
                            backlog=4096, timeout_keep_alive=30, lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])


def start_server(latency: float):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    proc = ctx.Process(target=_serve, args=(q, latency), daemon=True)
    proc.start()
    port = q.get(timeout=60)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # wait until it accepts connections
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    return proc, f"http://127.0.0.1:{port}/v1"


# ------------------------------------------------------------------------------------------------ clients
def requests_for(n: int):
    from drama_data.backends.base import Request, Sampling

    s = Sampling(temperature=0.0, top_p=1.0, max_tokens=16)
    return [Request(id=f"r{i}", sampling=s, messages=({"role": "user", "content": f"passage {i}"},))
            for i in range(n)]


def server_cpu(pid: int) -> float:
    """CPU seconds the server process has used so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def timed(server_pid: int, fn, *args) -> tuple[float, int, float, float]:
    """``(wall seconds, errors, client CPU seconds, server CPU seconds)`` of ``fn(*args)``."""
    cpu, srv = time.process_time(), server_cpu(server_pid)
    dt, errors = fn(*args)
    return dt, errors, time.process_time() - cpu, server_cpu(server_pid) - srv


def run_ours(base_url: str, c: int, n: int) -> tuple[float, int]:
    from drama_data.backends.openai import OpenAIBackend

    reqs = requests_for(n)
    b = OpenAIBackend("bench-model", base_url=base_url, concurrency=c, timeout=60.0)
    t0 = time.perf_counter()
    errors = sum(1 for _, comp in b.generate(reqs) if not comp.ok)
    dt = time.perf_counter() - t0
    b.close()
    return dt, errors


def run_sdk(base_url: str, c: int, n: int) -> tuple[float, int]:
    import openai

    async def main() -> tuple[float, int]:
        client = openai.AsyncOpenAI(base_url=base_url, api_key="EMPTY", max_retries=0, timeout=60.0)
        sem = asyncio.Semaphore(c)
        errors = 0

        async def one(i: int) -> None:
            nonlocal errors
            async with sem:
                try:
                    await client.chat.completions.create(
                        model="bench-model", messages=[{"role": "user", "content": f"passage {i}"}],
                        temperature=0.0, top_p=1.0, max_tokens=16)
                except Exception:
                    errors += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        dt = time.perf_counter() - t0
        await client.close()
        return dt, errors

    return asyncio.run(main())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--levels", default="16,64,256", help="Concurrency levels (comma-separated).")
    ap.add_argument("--latency", type=float, default=0.5, help="Server seconds per chat request.")
    ap.add_argument("--per-slot", type=int, default=8, help="Requests per concurrency slot.")
    ap.add_argument("--repeats", type=int, default=2, help="Runs per client and level (best kept).")
    args = ap.parse_args()
    os.environ.pop("OPENAI_API_KEY", None)
    proc, base_url = start_server(args.latency)
    ratio_at: dict[int, float] = {}
    try:
        run_ours(base_url, 4, 4)  # warm-up: imports, first connections
        run_sdk(base_url, 4, 4)
        for c in [int(x) for x in args.levels.split(",")]:
            n = c * args.per_slot
            ideal = n / c * args.latency
            ours, sdk = [], []
            for _ in range(args.repeats):
                ours.append(timed(proc.pid, run_ours, base_url, c, n))
                sdk.append(timed(proc.pid, run_sdk, base_url, c, n))
            (t_ours, e_ours, cpu_ours, srv_ours), (t_sdk, e_sdk, cpu_sdk, srv_sdk) = min(ours), min(sdk)
            ratio_at[c] = t_sdk / t_ours
            print(f"C={c:<4d} requests={n:<5d} ours {t_ours:6.2f}s ({e_ours} errors, CPU {cpu_ours:.2f}s client "
                  f"{srv_ours:.2f}s server)  sdk {t_sdk:6.2f}s ({e_sdk} errors, CPU {cpu_sdk:.2f}s client "
                  f"{srv_sdk:.2f}s server)  ideal {ideal:5.2f}s  "
                  f"ours/SDK {t_sdk / t_ours:4.2f}  ours/ideal {ideal / t_ours:4.2f}  "
                  f"(all runs: ours {[round(r[0], 2) for r in ours]}, sdk {[round(r[0], 2) for r in sdk]})",
                  flush=True)
    finally:
        proc.terminate()
        proc.join(10)
    top = max(ratio_at)
    print(f"openai_concurrency: ours/SDK at {top} = {ratio_at[top]:.2f} (goal: >= 1.0; ours/ideal >= 0.9)")


if __name__ == "__main__":
    main()
