"""A table kept as ordered parquet part files, as a streaming stage writes it window by window.

:class:`PartTable` stands in for a ``pyarrow.Table`` in :func:`drama_data.datasets.folder.write_dataset`: the
folder's shards are cut from the parts in order (``shards``), one shard in memory at a time, and come out
byte-identical to the shards of the same rows written from one table. An ``order`` column, when named, gives the
rows' global order (ascending, ties by part then row) and is dropped from the output. ``nbytes`` is the size
``pyarrow`` reports for the whole table (the card's ``num_bytes``), computed from the shards without joining them.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


@dataclass
class PartTable:
    """Rows of ``schema`` stored in ``files`` (parquet, in order); see the module doc."""

    files: Sequence[Path]
    schema: pa.Schema
    order: str | None = None
    nbytes: int = 0  # known once the shards have been produced (see ConcatSize)
    _rows: int | None = field(default=None, repr=False)

    @property
    def num_rows(self) -> int:
        if self._rows is None:
            self._rows = sum(pq.ParquetFile(f).metadata.num_rows for f in self.files)
        return self._rows

    @property
    def column_names(self) -> list[str]:
        return list(self.schema.names)

    def read_columns(self, columns: Sequence[str]) -> Iterator[pa.Table]:
        """The given columns of each part, in order (not in ``order`` order: for counting)."""
        for f in self.files:
            yield pq.read_table(f, columns=list(columns))

    def _read(self, f: Path) -> pa.Table:
        return pq.read_table(f).select(self.schema.names).cast(self.schema)

    def shards(self, rows: int) -> Iterator[pa.Table]:
        """Single-chunk tables of ``rows`` rows (the last one shorter), in the table's order. Parquet's bytes
        depend on the chunk layout, so each shard is joined into one chunk, column by column, releasing each
        column's pieces as it goes: memory holds about one shard plus one part."""
        if self.order:
            yield from self._ordered_shards(rows)
            return
        names = self.schema.names
        pieces: dict[str, list[pa.Array]] = {name: [] for name in names}
        count = 0

        def take(n: int) -> pa.Table:
            nonlocal count
            arrays = []
            for f in self.schema:
                chunks, taken, need = pieces[f.name], [], n
                while need:
                    c = chunks[0]
                    if len(c) <= need:
                        taken.append(chunks.pop(0))
                        need -= len(c)
                    else:
                        taken.append(c.slice(0, need))
                        chunks[0] = c.slice(need)
                        need = 0
                arrays.append(pa.concat_arrays(taken) if taken else pa.array([], type=f.type))
                del taken
            count -= n
            return pa.Table.from_arrays(arrays, schema=self.schema)

        for f in self.files:
            t = self._read(f)
            count += t.num_rows
            for name in names:
                pieces[name].extend(t.column(name).chunks)
            del t
            while count >= rows:
                yield take(rows)
        if count or self.num_rows == 0:
            yield take(count)

    def _ordered_shards(self, rows: int) -> Iterator[pa.Table]:
        keys = []
        for fi, f in enumerate(self.files):
            col = pq.read_table(f, columns=[self.order]).column(0).to_pylist()
            keys += [(k, fi, ri) for ri, k in enumerate(col)]
        keys.sort()
        if not keys:
            yield self.schema.empty_table()
            return
        for start in range(0, len(keys), rows):
            by_file: dict[int, list[tuple[int, int]]] = {}
            for pos, (_k, fi, ri) in enumerate(keys[start:start + rows]):
                by_file.setdefault(fi, []).append((pos, ri))
            pieces, positions = [], []
            for fi, items in by_file.items():
                pieces.append(self._read(self.files[fi]).take([ri for _, ri in items]))
                positions += [pos for pos, _ in items]
            joined = pa.concat_tables(pieces)
            where = {pos: i for i, pos in enumerate(positions)}
            yield joined.take([where[p] for p in range(len(positions))]).combine_chunks()


class ConcatSize:
    """``Table.nbytes`` of one table built from all the rows (``Table.from_pylist``) when the rows come as tables
    fed one by one (``add``; ``total``).

    ``nbytes`` counts a validity bitmap where an array has one (a table built from Python objects has one only
    for a column with nulls; one read from parquet may have one anyway), so the bitmaps are taken out per table
    and one bitmap over all the rows is counted for each column with any null (and for the bits of a boolean
    column).
    """

    def __init__(self) -> None:
        self._body = 0
        self._rows = 0
        self._nulls: dict[str, int] = {}
        self._bools: set[str] = set()

    def add(self, table: pa.Table) -> None:
        self._rows += table.num_rows
        for name, col in zip(table.column_names, table.columns):
            validity = sum(_validity_nbytes(c) for c in col.chunks)
            if pa.types.is_boolean(col.type):  # bits too: counted over all the rows in total()
                self._bools.add(name)
            else:
                self._body += col.nbytes - validity
            self._nulls[name] = self._nulls.get(name, 0) + col.null_count

    def total(self) -> int:
        bitmap = (self._rows + 7) // 8
        return self._body + sum(bitmap for n in self._nulls.values() if n) + bitmap * len(self._bools)


def _validity_nbytes(chunk: pa.Array) -> int:
    """What the validity bitmap adds to ``chunk.nbytes`` (the array may be a slice)."""
    buffers = chunk.buffers()
    if buffers[0] is None:
        return 0
    if chunk.type.num_fields == 0:  # flat types: the same array without its bitmap
        bare = pa.Array.from_buffers(chunk.type, len(chunk), [None, *buffers[1:]], null_count=0, offset=chunk.offset)
        return chunk.nbytes - bare.nbytes
    return (len(chunk) + 7) // 8
