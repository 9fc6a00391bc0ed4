"""Training data: Tevatron-format rows -> groups of (query, 1 positive + N negatives), mixed over datasets.

A row is ``{"query_id", "query", "positive_passages": [{"docid", "title", "text"}, ...],
"negative_passages": [...]}`` (Tevatron's format, which ``drama_data`` writes). Sources (:func:`load_rows`):
a dataset folder (``datasets.load_dataset(folder)``, or a ``save_to_disk`` folder), a ``.parquet`` /
``.jsonl`` / ``.json`` file (optionally ``.gz``), or a Hub dataset name.

:class:`GroupStream` draws the *global* batch of step ``s`` deterministically from ``(seed, s)`` and a small
state (how many rows each dataset has served), so every rank builds the same global batch and keeps its own
slice, and a resumed run continues exactly where it stopped. Each draw picks a dataset with probability
proportional to its weight, then the dataset's next row in a per-epoch shuffled order; a group is one positive
chosen at random from the row's positives and ``group_size - 1`` negatives sampled without replacement
(with replacement when the row has fewer), as Tevatron does. A passage may carry a teacher ``score`` (``build``
writes the miner's); a group whose passages all have one keeps them in ``Group.scores`` for distillation.

Bad rows: a row with no positive, or with no negative while ``group_size > 1``, raises ``ValueError`` naming
the dataset, the row number and its ``query_id`` (checked for the whole dataset up front, in Arrow).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from drama_models.beir import join_title
from drama_models.training.config import DatasetSpec

logger = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("query", "positive_passages")


@dataclass
class Group:
    """One training example: ``passages[0]`` is the positive, the rest are negatives."""

    query_id: str
    query: str
    passages: list[str]
    scores: list[float] | None = None  # teacher scores of ``passages`` (each passage's ``score``), None if any is missing


def load_rows(spec: DatasetSpec):
    """Open one source as a ``datasets.Dataset`` (see the module docstring for what ``spec.path`` may be).

    Bad input raises ``ValueError`` with one line naming the path: no such file or folder, a folder
    ``datasets`` cannot read, a file of another format, or rows that are not Tevatron rows (with the stage
    that wrote them when it is a ``drama-data`` folder).
    """
    import datasets

    from drama_data.sources import load_hub_dataset, resolve_source

    where = f"training dataset {spec.path}"
    source = resolve_source(spec.path, "training dataset")  # a missing local path: one line, no Hub lookup
    if source.hub_id is not None:
        ds = load_hub_dataset(source, "training dataset", name=spec.name, split=spec.split)
        return _check_columns(ds, where, Path(spec.path))
    path = source.path
    try:
        if path.is_dir():
            if (path / "dataset_info.json").is_file() and (path / "state.json").is_file():
                ds = datasets.load_from_disk(str(path))
                if isinstance(ds, datasets.DatasetDict):
                    ds = _pick_split(ds, spec)
            else:
                ds = datasets.load_dataset(str(path), spec.name, split=spec.split)
        elif path.is_file():
            suffixes = [s.lower() for s in path.suffixes]
            if ".parquet" in suffixes:
                builder = "parquet"
            elif ".jsonl" in suffixes or ".json" in suffixes:
                builder = "json"
            else:
                raise ValueError(f"{where}: training files must be .parquet, .jsonl or .json(.gz)")
            ds = datasets.load_dataset(builder, data_files=str(path), split="train")
        else:
            raise ValueError(f"{where}: not a file or folder")
    except ValueError:
        raise
    except Exception as err:  # noqa: BLE001 - datasets' many error types for a folder it cannot read
        raise ValueError(
            f"{where}: not a dataset `datasets` can read ({type(err).__name__}: {' '.join(str(err).split())[:200]}); "
            "give the folder `drama-data build` wrote, or a Tevatron .parquet/.jsonl file"
        ) from None
    return _check_columns(ds, where, path)


def _check_columns(ds, where: str, path: Path):
    """``ds`` if it has Tevatron's columns; else ``ValueError`` naming the stage that wrote it, when known."""
    missing = [c for c in REQUIRED_COLUMNS if c not in ds.column_names]
    if missing:
        stage = _drama_stage(path)
        what = f"a `drama-data {stage}` output, " if stage and stage != "build" else ""
        raise ValueError(
            f"{where}: {what}not a training set (missing column(s) {', '.join(missing)}; found "
            f"{', '.join(ds.column_names)}); "
            "`drama-models train` reads Tevatron rows (query_id, query, positive_passages, negative_passages) "
            "as `drama-data build` writes them"
        )
    return ds


def _drama_stage(path: Path) -> str | None:
    """The ``stage`` recorded in a drama-data folder's provenance.json (``generate`` writes none: ``task``)."""
    import json

    for folder in (path, *path.parents[:3]):
        prov = folder / "provenance.json"
        if prov.is_file():
            try:
                data = json.loads(prov.read_text(encoding="utf-8"))
            except ValueError:
                return None
            return data.get("stage") or ("generate" if "task" in data else None)
    return None


def check_sources(specs: list[DatasetSpec]) -> None:
    """Open every training source once, before the model is loaded: bad input fails in seconds, in one line."""
    for spec in specs:
        load_rows(spec)


def _pick_split(dsd, spec: DatasetSpec):
    if spec.split not in dsd:
        raise ValueError(f"training dataset {spec.path!r}: no split {spec.split!r}; splits: {list(dsd)}")
    return dsd[spec.split]


def check_rows(ds, name: str, group_size: int) -> None:
    """Raise ``ValueError`` naming the first bad rows: no positive, or no negative when ``group_size > 1``."""
    import pyarrow.compute as pc

    if getattr(ds, "_indices", None) is not None:  # a selected/shuffled view: make row numbers the dataset's own
        ds = ds.flatten_indices()
    table = ds.data.table if hasattr(ds.data, "table") else ds.data
    checks = [("positive_passages", "has no positive passage")]
    if group_size > 1:
        if "negative_passages" not in ds.column_names:
            raise ValueError(
                f"training dataset {name!r} has no negative_passages column but train_group_size={group_size} "
                "asks for negatives; use train_group_size=1 (in-batch negatives only)"
            )
        checks.append(("negative_passages", f"has no negative passage (train_group_size={group_size} needs some)"))
    for column, problem in checks:
        lengths = pc.fill_null(pc.list_value_length(table.column(column)), 0).to_numpy(zero_copy_only=False)
        bad = np.flatnonzero(lengths == 0)
        if len(bad):
            ids = ds.select(bad[:3].tolist())["query_id"] if "query_id" in ds.column_names else ["?"] * 3
            examples = ", ".join(f"row {int(r)} (query_id {q!r})" for r, q in zip(bad[:3], ids))
            raise ValueError(f"training dataset {name!r}: {len(bad)} row(s) {problem}: {examples}")


class GroupStream:
    """Deterministic, resumable mixture of datasets yielding :class:`Group` batches (see the module docstring)."""

    def __init__(self, datasets: list, weights: list[float], names: list[str], group_size: int, seed: int = 42):
        if not datasets:
            raise ValueError("no training dataset")
        if len(datasets) != len(weights) or len(datasets) != len(names):
            raise ValueError("datasets, weights and names must have the same length")
        for ds, name in zip(datasets, names):
            if len(ds) == 0:
                raise ValueError(f"training dataset {name!r} is empty")
            check_rows(ds, name, group_size)
        self.datasets = datasets
        self.names = names
        w = np.asarray(weights, dtype=np.float64)
        self.probs = w / w.sum()
        self.group_size = group_size
        self.seed = seed
        self.step = 0
        self.served = [0] * len(datasets)  # rows drawn so far from each dataset
        self._perm_cache: dict[tuple[int, int], np.ndarray] = {}

    @classmethod
    def from_specs(cls, specs: list[DatasetSpec], group_size: int, seed: int = 42) -> GroupStream:
        data = [load_rows(s) for s in specs]
        return cls(data, [s.weight for s in specs], [s.path for s in specs], group_size, seed)

    # ------------------------------------------------------------------ state

    def state_dict(self) -> dict:
        return {"step": self.step, "served": list(self.served), "seed": self.seed, "names": list(self.names)}

    def load_state_dict(self, state: dict) -> None:
        if state.get("names") != self.names or state.get("seed") != self.seed:
            raise ValueError(
                f"the checkpoint's data state was made for datasets {state.get('names')} with seed "
                f"{state.get('seed')}, not {self.names} with seed {self.seed}; resume with the same data"
            )
        self.step = int(state["step"])
        self.served = [int(v) for v in state["served"]]

    # ------------------------------------------------------------------ sampling

    def _order(self, d: int, epoch: int) -> np.ndarray:
        key = (d, epoch)
        if key not in self._perm_cache:
            if len(self._perm_cache) > 2 * len(self.datasets):
                self._perm_cache.clear()
            rng = np.random.default_rng([self.seed, d, epoch])
            self._perm_cache[key] = rng.permutation(len(self.datasets[d]))
        return self._perm_cache[key]

    def next_batch(self, batch_size: int, rank: int = 0, world_size: int = 1) -> list[Group]:
        """The groups of this rank's slice of the next global batch of ``batch_size`` queries; advances the state."""
        if batch_size % world_size:
            raise ValueError(f"batch_size {batch_size} is not divisible by the number of processes {world_size}")
        rng = np.random.default_rng([self.seed, 1_000_003, self.step])
        which = rng.choice(len(self.datasets), size=batch_size, p=self.probs)
        picks: list[tuple[int, int, int]] = []  # (dataset, row, global position)
        for pos, d in enumerate(which.tolist()):
            n = len(self.datasets[d])
            k = self.served[d]
            picks.append((d, int(self._order(d, k // n)[k % n]), pos))
            self.served[d] += 1
        local = batch_size // world_size
        groups = self._groups(picks[rank * local : (rank + 1) * local])
        self.step += 1
        return groups

    def _groups(self, mine: list[tuple[int, int, int]]) -> list[Group]:
        """The groups of picks ``(dataset, row, global position)`` at the current step."""
        rows: dict[tuple[int, int], dict] = {}
        for d in sorted({d for d, _, _ in mine}):  # one Arrow read per dataset, not per row
            idx = [row for dd, row, _ in mine if dd == d]
            cols = self.datasets[d][idx]
            for j, row in enumerate(idx):
                rows[(d, row)] = {c: v[j] for c, v in cols.items()}
        return [self._make_group(d, row, pos, rows[(d, row)]) for d, row, pos in mine]

    def _make_group(self, d: int, row_idx: int, pos: int, row: dict) -> Group:
        qid = str(row.get("query_id", row_idx))
        positives = row.get("positive_passages") or []
        negatives = row.get("negative_passages") or []
        if not positives:  # check_rows catches this up front; kept for rows changed in place
            raise ValueError(f"training dataset {self.names[d]!r}: row {row_idx} (query_id {qid!r}) has no positive")
        rng = np.random.default_rng([self.seed, self.step, pos])
        pos_p = positives[int(rng.integers(len(positives)))]
        n_neg = self.group_size - 1
        chosen = []
        if n_neg > 0:
            if not negatives:
                raise ValueError(
                    f"training dataset {self.names[d]!r}: row {row_idx} (query_id {qid!r}) has no negative passage"
                )
            replace = len(negatives) < n_neg
            idx = rng.choice(len(negatives), size=n_neg, replace=replace)
            chosen = [negatives[int(i)] for i in idx]
        group = [pos_p, *chosen]
        passages = [join_title(p.get("title") or "", p.get("text") or "") for p in group]
        scores = [p.get("score") for p in group]
        return Group(query_id=qid, query=str(row["query"]), passages=passages,
                     scores=None if any(s is None for s in scores) else [float(s) for s in scores])
