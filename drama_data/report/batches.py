"""A dataset folder's config read a batch at a time, so the report never holds a whole table.

:func:`config_files` lists a config's parquet shards in the dataset's row order, :func:`config_rows` counts its
rows from the parquet footers (nothing else is read), and :func:`iter_batches` yields ``pyarrow.RecordBatch``
objects of at most ``batch_size`` rows with the named columns (those the config has; the others are not read).
It reads one row group at a time without pre-buffering: ``ParquetFile.iter_batches`` (pre-buffered or not) and a
``pyarrow.dataset`` scan kept memory that grew with the file (measured: +150 MB over 480k rows, against +54 MB for
one row group at a time).
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from drama_data.errors import InputError


def config_files(folder: str | Path, config: str, *, required: bool = True) -> list[Path]:
    """The shards of ``config`` (``data/<config>/*.parquet``, sorted: the row order). A missing config raises
    naming the folder, or gives ``[]`` when not ``required``."""
    files = sorted((Path(folder) / "data" / config).glob("*.parquet"))
    if not files and required:
        raise InputError(f"{folder}: no config {config!r} (expected parquet files in data/{config}/)")
    return files


def config_columns(folder: str | Path, config: str) -> list[str]:
    """The column names of ``config`` (``[]`` when it has no shards)."""
    files = config_files(folder, config, required=False)
    return list(pq.ParquetFile(files[0]).schema_arrow.names) if files else []


def config_rows(folder: str | Path, config: str) -> int:
    """Rows of ``config``, from the shards' footers (0 when the config is missing)."""
    return sum(pq.ParquetFile(f).metadata.num_rows for f in config_files(folder, config, required=False))


def iter_batches(folder: str | Path, config: str, columns: Sequence[str], *, batch_size: int = 4096,
                 required: bool = True) -> Iterator[pa.RecordBatch]:
    """Batches of ``config``'s rows in order, with those of ``columns`` the config has (see module doc)."""
    for f in config_files(folder, config, required=required):
        pf = pq.ParquetFile(f, pre_buffer=False)
        names = [c for c in columns if c in pf.schema_arrow.names]
        if not names:
            continue
        for i in range(pf.metadata.num_row_groups):  # one row group at a time, released before the next
            group = pf.read_row_group(i, columns=names, use_threads=False)
            yield from group.to_batches(max_chunksize=batch_size)
            del group


def column(batch: pa.RecordBatch, name: str, default=None) -> list:
    """``batch[name]`` as a Python list, or ``default`` repeated when the batch has no such column."""
    if name in batch.schema.names:
        return batch.column(name).to_pylist()
    return [default] * batch.num_rows
