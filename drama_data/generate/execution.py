"""Send requests through the cache and a backend, storing each completion the moment it arrives.

``execute(requests, backend, cache)`` returns ``{request.id: Completion}`` for every request: cached ones
are read back, the rest go to the backend (which is only started if something is missing), with a tqdm
bar showing rate, ETA and token throughput. The backend is started first, as its own step (an engine's start-up
is not counted in the bar's rate or ETA). A Ctrl-C or kill loses only the requests in flight; so does an error
the backend raises to stop the run (a refused key: :class:`~drama_data.errors.AuthError`): every completion it
yielded before is in the cache, and the error goes on to the caller.
"""
from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from tqdm.auto import tqdm

from drama_data.backends.base import Backend, Completion, Request
from drama_data.generate.cache import RequestCache, request_key


@dataclass
class ExecutionStats:
    requests: int = 0
    cached: int = 0
    generated: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0  # all of it: cache look-up, engine start, generation
    start_seconds: float = 0.0  # starting the engine (0 when it was running already or there is none)
    generate_seconds: float = 0.0  # from the first request sent to the last answer

    def add(self, other: ExecutionStats) -> None:
        for f in self.__dataclass_fields__:
            setattr(self, f, getattr(self, f) + getattr(other, f))


def execute(
    requests: Sequence[Request],
    backend: Backend,
    cache: RequestCache | None,
    *,
    desc: str = "generate",
    progress: bool = True,
) -> tuple[dict[str, Completion], ExecutionStats]:
    """Complete every request (see module doc). Request ids must be unique."""
    t0 = time.time()
    stats = ExecutionStats(requests=len(requests))
    keys = [request_key(backend.cache_name, backend.cache_model, r) for r in requests]
    found = cache.get_many(keys) if cache is not None else {}
    results: dict[str, Completion] = {}
    missing: list[tuple[Request, str]] = []
    for r, k in zip(requests, keys):
        if k in found:
            results[r.id] = found[k]
        else:
            missing.append((r, k))
    stats.cached = len(results)
    if missing:
        label = backend.start_label()
        t_start = time.time()
        if label and progress:
            tqdm.write(f"{label} ...", file=sys.stderr)
        backend.start()
        if label:
            stats.start_seconds = time.time() - t_start
            if progress:
                tqdm.write(f"engine ready in {stats.start_seconds:.0f} s", file=sys.stderr)
        bar = tqdm(total=len(requests), initial=len(results), desc=desc, unit="req", disable=not progress,
                   dynamic_ncols=True, smoothing=0.1)
        tstart = time.time()
        try:
            with contextlib.closing(backend.generate([r for r, _ in missing])) as stream:
                for i, completion in stream:
                    req, key = missing[i]
                    if cache is not None:
                        cache.put(key, completion)  # before anything else: a stop right after loses nothing
                    results[req.id] = completion
                    stats.generated += 1
                    stats.errors += 0 if completion.ok else 1
                    stats.completion_tokens += completion.completion_tokens
                    stats.prompt_tokens += completion.prompt_tokens
                    bar.update(1)
                    elapsed = max(time.time() - tstart, 1e-6)
                    bar.set_postfix_str(f"{stats.completion_tokens / elapsed:.0f} tok/s out", refresh=False)
        except BaseException:
            bar.leave = False  # a stopped run (a refused key, Ctrl-C) ends on its error line, not on a bar
            raise
        finally:
            bar.close()
        stats.generate_seconds = time.time() - tstart
    for _request, k in zip(requests, keys):
        if k in found:
            stats.prompt_tokens += found[k].prompt_tokens
            stats.completion_tokens += found[k].completion_tokens
    stats.seconds = time.time() - t0
    return results, stats
