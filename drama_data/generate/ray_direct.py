"""Tasks without an LLM (``--task crop``) on Ray Data: ``drama-data generate --task crop --ray [ADDRESS]``.

In: the task (picklable: its options and language detector) and one window of passages at a time, as the
streaming runner reads them (:func:`drama_data.generate.runner.generate`, ``direct=``). Out: for each passage of
the window, in order, what ``task.direct(passage)`` returns there (``[(slot, row | ParseFailure), ...]``).

Each window is a Ray dataset of its passages (``ray.data.from_items``, ``4 x workers`` blocks) mapped with
``map_batches`` over ``workers`` Ray tasks of one CPU each; the results come back with their index in the window
and are put in order, so the rows are the local run's (``task.direct`` is a pure function of the passage and the
task's seed). Unlike an LLM backend, a worker holds no engine, so a fresh pipeline per window costs only Ray
Data's start-up (about a second); the window (``--window-passages``, 4096 by default) keeps that small against
the work. Everything else (the work folder, resuming, failures, the card) stays with the runner on the driver.
"""
from __future__ import annotations

import pickle
from collections.abc import Sequence
from typing import Any

import numpy as np


def _direct_batch(batch: dict, task_blob: bytes) -> dict:
    """One Ray Data batch: ``{"k": index in window, "p": pickled Passage}`` -> ``{"k", "out": pickled results}``."""
    task = _TASKS.get(task_blob)
    if task is None:
        task = _TASKS[task_blob] = pickle.loads(task_blob)
    out = [pickle.dumps(task.direct(pickle.loads(p))) for p in batch["p"]]
    return {"k": np.asarray(batch["k"]), "out": np.asarray(out, dtype=object)}


_TASKS: dict[bytes, Any] = {}  # per worker process: the task unpickled once, not once per batch


class RayDirect:
    """``__call__(task, window) -> [task.direct(p) for p in window]``, computed on Ray (see the module doc).

    ``address``: a Ray cluster (``HOST:PORT``, ``ray://HOST:PORT``, ``auto``) or ``None``/``"local"`` for a local
    Ray on this machine's CPUs (started on the first window, shut down by :meth:`close`). ``workers``: Ray tasks
    per window (one CPU each).
    """

    def __init__(self, address: str | None = None, workers: int = 2):
        self.address = None if address in (None, "", "local") else str(address)
        self.workers = max(1, int(workers))
        self._ray = None
        self._own_ray = False

    def _start(self):
        if self._ray is None:
            from drama_data.backends.ray_pool import init_ray, require_ray

            self._own_ray = not require_ray().is_initialized()
            self._ray = init_ray(self.address)
            self._ray.data.DataContext.get_current().enable_progress_bars = False
        return self._ray

    def __call__(self, task, window: Sequence) -> list[list[tuple[str, Any]]]:
        if not window:
            return []
        ray = self._start()
        items = [{"k": k, "p": pickle.dumps(p)} for k, p in enumerate(window)]
        blocks = max(1, min(len(items), 4 * self.workers))
        ds = ray.data.from_items(items, override_num_blocks=blocks).map_batches(
            _direct_batch, fn_kwargs={"task_blob": pickle.dumps(task)}, batch_format="numpy",
            batch_size=-(-len(items) // blocks), concurrency=self.workers, num_cpus=1)
        results: dict[int, list] = {}
        for row in ds.iter_rows():
            results[int(row["k"])] = pickle.loads(row["out"])
        missing = [k for k in range(len(items)) if k not in results]
        if missing:
            raise RuntimeError(f"Ray returned no result for {len(missing)} passage(s) of the window, "
                               f"e.g. {window[missing[0]].id}")
        return [results[k] for k in range(len(items))]

    def close(self) -> None:
        if self._ray is not None and self._own_ray:
            self._ray.shutdown()
        self._ray = None
