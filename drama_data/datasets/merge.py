"""Join the shard folders of one ``generate`` run (``--num-shards N --shard-index I``) into one dataset.

The shards must come from the same task, model, prompt and corpus selection, and cover every shard index
exactly once; otherwise the error names the folder and what differs. Rows are ordered by ``query_id`` and
query ids must be unique across shards.
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from drama_data.datasets.card import render_dataset_card
from drama_data.datasets.failure_schema import FAILURE_SCHEMA
from drama_data.datasets.folder import dumps, read_table, utc_now, write_dataset
from drama_data.errors import InputError

_SAME = ("task", "backend", "prompt")


def merge_shards(folders: Sequence[str | Path], output: str | Path, *, overwrite: bool = False) -> dict:
    """Merge shard folders into ``output``; return the merged provenance."""
    if not folders:
        raise InputError("merge needs at least one shard folder")
    provs = []
    for f in folders:
        path = Path(f) / "provenance.json"
        if not path.is_file():
            raise InputError(f"{f}: not a drama-data generate output (no provenance.json)")
        provs.append(json.loads(path.read_text(encoding="utf-8")))
    first = provs[0]
    n = first["selection"]["num_shards"]
    for f, p in zip(folders, provs):
        for key in _SAME:
            if p.get(key) != first.get(key):
                raise InputError(f"{f}: its {key} differs from {folders[0]}'s; these are not shards of one run")
        sel, sel0 = dict(p["selection"]), dict(first["selection"])
        for d in (sel, sel0):
            d.pop("shard_index"), d.pop("passages")
        if sel != sel0 or p["corpus"]["source"] != first["corpus"]["source"]:
            raise InputError(f"{f}: corpus or selection differs from {folders[0]}'s")
    seen = Counter(p["selection"]["shard_index"] for p in provs)
    dup = [i for i, c in seen.items() if c > 1]
    missing = sorted(set(range(n)) - set(seen))
    if dup or missing:
        raise InputError(f"shards of {n}: duplicated {dup or 'none'}, missing {missing or 'none'}")
    tables = {}
    for config in ("queries", "failures"):
        empty = FAILURE_SCHEMA if config == "failures" else None
        t = pa.concat_tables([read_table(f, config, empty) for f in folders])
        if t.num_rows:
            t = t.take(pc.sort_indices(t, sort_keys=[("query_id", "ascending"), ("attempt", "ascending")]
                                       if config == "failures" else [("query_id", "ascending")]))
        tables[config] = t
    ids = tables["queries"].column("query_id").to_pylist()
    if len(ids) != len(set(ids)):
        dupe = next(i for i, c in Counter(ids).items() if c > 1)
        raise InputError(f"query id {dupe!r} occurs in more than one shard")
    counts = Counter()
    for p in provs:
        for k, v in p["counts"].items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                counts[k] += v
    merged = {**first, "date": utc_now(), "stage": "generate (merged)",
              "selection": {**first["selection"], "shard_index": "all", "passages": counts["passages"]},
              "merged_from": [str(f) for f in folders], "counts": dict(counts)}
    meta, body = render_dataset_card(merged, tables["queries"], tables["failures"])
    write_dataset(output, tables, default="queries", card_body=body, card_meta=meta,
                  extra_files={"provenance.json": dumps(merged)}, overwrite=overwrite)
    return merged
