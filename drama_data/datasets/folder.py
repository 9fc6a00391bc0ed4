"""Write and read dataset folders: parquet shards under ``data/<config>/`` plus a README.md dataset card.

The card's YAML front matter lists the ``configs`` so that ``datasets.load_dataset(folder)`` gives the
default config and ``load_dataset(folder, "<config>")`` any other one, offline and on the Hub alike.
Every config a stage writes is there, an empty one too (e.g. ``failures`` after a clean run): its shard is a
parquet file with the schema and no row group, which ``load_dataset(folder, "failures", streaming=True)``,
pyarrow and pandas read as no rows with the right columns. (``datasets`` 5.2 cannot load a split with no rows
without streaming: "Instruction 'train' corresponds to no data"; huggingface/datasets#8401 is open.)
A folder is written next to its destination and moved into place at the end, so an interrupted write
never leaves a half-written dataset behind.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from drama_data.errors import ConfigError

MARKER = "drama-toolkit"  # tag in every card we write; lets a rerun replace its own previous output
LOG_DIR = "logs"          # a stage's logs, written while it runs; kept when the folder is (re)written
LOG_FILE = f"{LOG_DIR}/engine.log"
SHARD_ROWS = 100_000
ROW_GROUP_ROWS = 10_000  # a reader holds one row group's columns: the report reads a shard in 10k-row pieces


def _is_our_dataset(folder: Path) -> bool:
    readme = folder / "README.md"
    return readme.is_file() and MARKER in readme.read_text(encoding="utf-8", errors="replace")[:4000]


def check_output_folder(folder: str | Path, overwrite: bool = False) -> Path:
    """Fail early (before any work) if ``folder`` exists, is not empty and is not a dataset we wrote."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"--output {folder}: exists and is not a folder")
    if folder.is_dir() and any(p.name != LOG_DIR for p in folder.iterdir()) and not overwrite \
            and not _is_our_dataset(folder):
        raise ConfigError(f"--output {folder}: folder exists and is not a drama-toolkit dataset; choose another")
    return folder


def card_front_matter(configs: Mapping[str, str], default: str, extra: Mapping[str, Any] | None = None) -> dict:
    """YAML front matter with one ``configs`` entry per config (``train`` split over its shards).

    ``configs`` maps each config name to the content fingerprint in its shard names. The fingerprint is in
    the glob on purpose: ``datasets`` keys its local cache on the folder name and this YAML, so a folder
    rewritten with new rows must get new YAML or ``load_dataset`` would return the old rows.
    """
    meta: dict[str, Any] = dict(extra or {})
    tags = list(meta.get("tags", []))
    if MARKER not in tags:
        tags.append(MARKER)
    meta["tags"] = tags
    meta["configs"] = [
        {"config_name": name,
         "data_files": [{"split": "train", "path": f"data/{name}/train-*-{fp}.parquet" if fp else f"data/{name}/*.parquet"}],
         **({"default": True} if name == default else {})}
        for name, fp in configs.items()
    ]
    return meta


def render_card(front_matter: Mapping[str, Any], body: str) -> str:
    return "---\n" + yaml.safe_dump(dict(front_matter), sort_keys=False, allow_unicode=True) + "---\n\n" + body


def write_dataset(
    folder: str | Path,
    tables: Mapping[str, pa.Table],
    *,
    default: str,
    card_body: str,
    card_meta: Mapping[str, Any] | None = None,
    extra_files: Mapping[str, str] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``tables`` (config name -> table) as a dataset folder with a card; replace atomically.

    Returns the folder. ``extra_files`` maps relative paths to text (e.g. ``provenance.json``). A table may be a
    :class:`~drama_data.datasets.parts.PartTable` (parquet parts written as a stage went): its shards are cut from
    the parts one at a time and equal those of the same rows given as one table.
    """
    folder = check_output_folder(folder, overwrite=overwrite)
    if default not in tables:
        raise ValueError(f"default config {default!r} not in {list(tables)}")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_temp_folder(folder)
    try:
        written = {name: _write_shards(table, tmp / "data" / name) for name, table in tables.items()}
        meta = card_front_matter({name: fp for name, (fp, _) in written.items()}, default, card_meta)
        meta["dataset_info"] = [features_yaml(name, table, written[name][1]) for name, table in tables.items()]
        (tmp / "README.md").write_text(render_card(meta, card_body), encoding="utf-8")
        for rel, text in (extra_files or {}).items():
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            (tmp / rel).write_text(text, encoding="utf-8")
        if (folder / LOG_DIR).is_dir():  # logs of this run (and earlier ones): kept with the new rows
            shutil.copytree(folder / LOG_DIR, tmp / LOG_DIR, dirs_exist_ok=True)
        if folder.exists():
            old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
            os.replace(folder, old)
            os.replace(tmp, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def _new_temp_folder(folder: Path) -> Path:
    """A new empty folder next to ``folder`` (``.<name>.tmp-<random>``) with the user's umask, unlike
    ``tempfile.mkdtemp``'s 0700: the dataset folder it becomes is the user's to share like any other output."""
    while True:
        tmp = folder.with_name(f".{folder.name}.tmp-{secrets.token_hex(4)}")
        try:
            tmp.mkdir()
            return tmp
        except FileExistsError:
            continue


def features_yaml(config: str, table, nbytes: int | None = None) -> dict:
    """The card's ``dataset_info`` entry of one config: typed features, the row count and the size in bytes
    (``nbytes``, by default ``table.nbytes``; ``datasets`` ignores a split entry without ``num_bytes``, with a
    warning on every load)."""
    import datasets

    features = datasets.Features.from_arrow_schema(table.schema)
    info = datasets.DatasetInfo(features=features, config_name=config)
    entry = info._to_yaml_dict()
    entry["splits"] = [{"name": "train", "num_bytes": table.nbytes if nbytes is None else nbytes,
                        "num_examples": table.num_rows}]
    return entry


def _write_shards(table, folder: Path) -> tuple[str, int]:
    """Write ``table`` (a table or a :class:`~drama_data.datasets.parts.PartTable`) as
    ``train-<i>-of-<n>-<fingerprint>.parquet`` shards; return ``(fingerprint, nbytes of the table)``. The
    fingerprint hashes the shards' bytes in order, so the same rows always give the same names."""
    from drama_data.datasets.parts import ConcatSize, PartTable

    folder.mkdir(parents=True)
    n = max(1, -(-table.num_rows // SHARD_ROWS))
    digest = hashlib.sha256()
    paths = []
    if isinstance(table, PartTable):
        size = ConcatSize()
        shards = table.shards(SHARD_ROWS)
    else:
        size = None
        shards = (table.slice(i * SHARD_ROWS, SHARD_ROWS) for i in range(n))
    for i, shard in enumerate(shards):
        path = folder / f"train-{i:05d}-of-{n:05d}.parquet"
        if shard.num_rows:
            pq.write_table(shard, path, row_group_size=ROW_GROUP_ROWS)
        else:  # no row group at all: datasets' parquet reader fails on a row group of 0 rows (batch size 0)
            pq.ParquetWriter(path, shard.schema).close()
        if size is not None:
            size.add(shard)
        del shard
        digest.update(_file_sha256(path))
        paths.append(path)
    if len(paths) != n:
        raise RuntimeError(f"{folder}: wrote {len(paths)} shards, expected {n}")
    fp = digest.hexdigest()[:12]
    for path in paths:
        path.rename(path.with_name(f"{path.stem}-{fp}.parquet"))
    return fp, (size.total() if size is not None else table.nbytes)


def _file_sha256(path: Path) -> bytes:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.digest()


def read_card(folder: str | Path) -> tuple[dict, str]:
    """Parse a dataset folder's README.md into (front matter, body)."""
    text = (Path(folder) / "README.md").read_text(encoding="utf-8")
    if not text.startswith("---\n"):
        return {}, text
    _, fm, body = text.split("---\n", 2)
    return yaml.safe_load(fm) or {}, body


def read_table(folder: str | Path, config: str, empty: pa.Schema | None = None,
               columns: list[str] | None = None) -> pa.Table:
    """All shards of ``config`` in a dataset folder as one pyarrow table; ``columns``: only those of them the
    config has (read column-wise: the others, e.g. passage texts, are not loaded).

    A missing config raises naming the folder, or gives an empty table of schema ``empty`` when given (folders
    written before empty configs were kept have none).
    """
    from drama_data.errors import InputError

    files = sorted((Path(folder) / "data" / config).glob("*.parquet"))
    if not files:
        if empty is not None and (Path(folder) / "README.md").is_file():
            return empty.empty_table()
        raise InputError(f"{folder}: no config {config!r} (expected parquet files in data/{config}/)")
    if columns is not None:
        names = pq.ParquetFile(files[0]).schema_arrow.names
        columns = [c for c in columns if c in names]
    return pa.concat_tables([pq.read_table(f, columns=columns) for f in files])


def utc_now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True, default=str)
