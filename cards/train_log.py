"""A training run's log, ``<folder>/train_log.jsonl``: one JSON record per logged step (step, loss, lr, ...).

Written by ``drama_models.training.trainer`` (which imports :data:`LOG_FILE` and :func:`read_train_log` from
here); read by the model card (loss curve) and the recipe's train stage.
"""
from __future__ import annotations

import json
from pathlib import Path

LOG_FILE = "train_log.jsonl"


def read_train_log(folder: str | Path) -> list[dict]:
    """The records of ``<folder>/train_log.jsonl`` (one per logged step: step, loss, lr, ...); a line that is not
    JSON (a run killed mid-write) is skipped; ``[]`` when there is no log."""
    path = Path(folder) / LOG_FILE
    records = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records
