"""The ``build`` stage's inputs, opened and checked: a candidates folder from ``mine`` (:class:`LoadedInput`), its
rankings from ``generate --task rerank`` and the queries it was mined from (queries missing from the candidates:
``not_mined``); :func:`check_inputs` names an unknown source or a rank range beyond what was mined.
"""
from __future__ import annotations

import collections
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from drama_data.build.config import BuildConfig, InputSpec
from drama_data.datasets.folder import read_card, read_table
from drama_data.errors import ConfigError, InputError
from drama_data.sources import local_path

CANDIDATE_COLUMNS = ("query_id", "query", "source", "language", "source_passage_id", "candidates")



@dataclass
class LoadedInput:
    """One input, opened: the candidates table is read in batches while labelling, not held as Python rows."""

    spec: InputSpec
    table: pa.Table
    passages: dict[str, tuple[str, str]]
    k: int
    rerank: dict[str, dict] | None = None
    rerank_k: int = 0
    not_mined: list[dict] = field(default_factory=list)
    retriever: str = ""
    #: query id -> (source passage id, answer_start, answer_end) of the queries dataset's rows that have both
    #: (long rows, ``generate --section-tokens``); read for ``swap_negatives`` (:mod:`drama_data.build.swap`)
    spans: dict[str, tuple[str, int, int]] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        return self.table.num_rows

    def iter_rows(self, batch_rows: int = 10_000):
        """Candidate rows as dicts, a batch at a time (bounded memory for millions of queries)."""
        for batch in self.table.to_batches(max_chunksize=batch_rows):
            yield from batch.to_pylist()


def load_input(i: int, spec: InputSpec) -> LoadedInput:
    where = f"inputs[{i}] ({spec.name})"
    folder = local_path(spec.candidates, f"{where} candidates", kind="folder")
    for key in ("queries", "rerank"):  # every path of the input, before any table is read
        if getattr(spec, key):
            local_path(getattr(spec, key), f"{where} {key}", kind="folder")
    table = read_table(folder, "candidates")
    missing = [c for c in CANDIDATE_COLUMNS if c not in table.column_names]
    if missing:
        raise InputError(f"{where}: {folder} config 'candidates' lacks column(s) {', '.join(missing)}; "
                         "expected the output of `drama-data mine`")
    table = table.select([c for c in (*CANDIDATE_COLUMNS, "retriever", "mined_with") if c in table.column_names])
    if "mined_with" not in table.column_names:  # mined before mine recorded it: every row searched its query
        table = table.append_column("mined_with", pa.array(["query"] * table.num_rows, pa.string()))
    ptable = read_table(folder, "passages")
    for c in ("id", "title", "text"):
        if c not in ptable.column_names:
            raise InputError(f"{where}: {folder} config 'passages' lacks column {c!r}")
    passages = {pid: (t or "", x or "") for pid, t, x in zip(ptable.column("id").to_pylist(),
                                                             ptable.column("title").to_pylist(),
                                                             ptable.column("text").to_pylist())}
    meta, _ = read_card(folder) if (folder / "README.md").is_file() else ({}, "")
    k = int((meta.get("drama_mine") or {}).get("k_effective") or 0)
    if not k and table.num_rows:
        k = int(pc.max(pc.list_value_length(table.column("candidates"))).as_py() or 0)
    seen: dict[str, int] = {}
    for n, qid in enumerate(table.column("query_id").to_pylist(), start=1):
        if qid in seen:
            raise InputError(f"{where}: {folder} row {n}: query_id {qid!r} repeats row {seen[qid]}")
        seen[qid] = n
    retriever = table.column("retriever")[0].as_py() if "retriever" in table.column_names and table.num_rows else ""
    loaded = LoadedInput(spec=spec, table=table, passages=passages, k=k, retriever=str(retriever or ""))
    if spec.rerank:
        loaded.rerank, loaded.rerank_k = _load_rerank(where, Path(spec.rerank), seen)
    if spec.queries:
        qt = read_table(spec.queries, spec.queries_config)
        if "query_id" not in qt.column_names:
            raise InputError(f"{where}: queries {spec.queries} has no query_id column")
        cols = {c: qt.column(c).to_pylist() if c in qt.column_names else [""] * qt.num_rows
                for c in ("query_id", "query", "source", "language")}
        for j, qid in enumerate(cols["query_id"]):
            if str(qid) not in seen:
                loaded.not_mined.append({"query_id": str(qid), "query": cols["query"][j] or "",
                                         "source": cols["source"][j] or "", "language": cols["language"][j] or ""})
        loaded.spans = _spans(where, spec, qt)
    return loaded


def _spans(where: str, spec: InputSpec, qt: pa.Table) -> dict[str, tuple[str, int, int]]:
    """The answer spans of the queries table ``qt`` (rows with ``answer_start`` and ``answer_end`` both set)."""
    if "answer_start" not in qt.column_names or "answer_end" not in qt.column_names:
        return {}
    out: dict[str, tuple[str, int, int]] = {}
    col = next((c for c in ("source_passage_id", "passage_id") if c in qt.column_names), None)
    sources = qt.column(col).to_pylist() if col else [None] * qt.num_rows  # generate writes passage_id
    for n, (qid, src, a, b) in enumerate(zip(qt.column("query_id").to_pylist(), sources,
                                             qt.column("answer_start").to_pylist(),
                                             qt.column("answer_end").to_pylist()), start=1):
        if a is None or b is None:
            continue
        if not src:
            raise InputError(f"{where}: queries {spec.queries} row {n}: query {qid!r} has answer_start/answer_end "
                             "but no passage_id / source_passage_id")
        out[str(qid)] = (str(src), int(a), int(b))
    return out


def _load_rerank(where: str, folder: Path, seen: dict[str, int]) -> tuple[dict, int]:
    folder = local_path(folder, f"{where} rerank", kind="folder")  # checked again: also called on its own
    table = read_table(folder, "rankings")
    missing = [c for c in ("query_id", "ranking") if c not in table.column_names]
    if missing:
        raise InputError(f"{where}: rerank output {folder} (config 'rankings') lacks column(s) {', '.join(missing)} "
                         f"(columns: {', '.join(table.column_names)}); expected `drama-data generate --task rerank` output")
    rtype = table.schema.field("ranking").type
    if not (pa.types.is_list(rtype) or pa.types.is_large_list(rtype)) or not pa.types.is_string(rtype.value_type):
        raise InputError(f"{where}: rerank output {folder}: column 'ranking' is {rtype}, expected list<string> of docids")
    out: dict[str, dict] = {}
    qids = table.column("query_id").to_pylist()
    rankings = table.column("ranking").to_pylist()
    agreements = table.column("agreement").to_pylist() if "agreement" in table.column_names else [None] * len(qids)
    for n, (qid, ranking, agr) in enumerate(zip(qids, rankings, agreements), start=1):
        qid = str(qid)
        if qid not in seen:
            raise InputError(f"{where}: rerank output {folder} row {n}: query_id {qid!r} is not in the candidates; "
                             "was it reranked from another candidates dataset?")
        if qid in out:
            raise InputError(f"{where}: rerank output {folder} row {n}: query_id {qid!r} occurs twice")
        out[qid] = {"ranking": list(ranking or []), "agreement": agr, "row": n}
    return out, max((len(v["ranking"]) for v in out.values()), default=0)


def rule_of(source: str, inp: LoadedInput, cfg: BuildConfig) -> str | None:
    return "rerank" if inp.rerank is not None else cfg.source_rules.get(source or "")


def check_inputs(cfg: BuildConfig, inputs: list[LoadedInput]) -> None:
    """Unknown sources and rank ranges beyond k, named by option, before any labelling."""
    if cfg.swap_negatives and not any(inp.spec.queries for inp in inputs):
        raise ConfigError(f"swap_negatives: {cfg.swap_negatives}, but no input has its queries dataset "
                          "(inputs[].queries / --queries), where the answer_start/answer_end spans are read")
    for i, inp in enumerate(inputs):
        where = f"inputs[{i}] ({inp.spec.name})"
        sources = collections.Counter(v or "" for v in inp.table.column("source").to_pylist())
        used: set[str] = set()
        for source, count in sources.items():
            rule = rule_of(source, inp, cfg)
            if rule is None:
                qid = next(r for r, s in zip(inp.table.column("query_id").to_pylist(),
                                             inp.table.column("source").to_pylist()) if (s or "") == source)
                raise ConfigError(
                    f"{where}: unknown source {source!r} ({count} rows, e.g. query {qid!r}); "
                    f"known sources: {', '.join(sorted(cfg.source_rules))}; map it with source_rules: "
                    f"{{{source}: qgen}} in the config")
            if rule not in cfg.rules:
                raise ConfigError(f"{where}: rule {rule!r} is not defined (rules: {', '.join(cfg.rules)})")
            used.add(rule)
        for rule_name in sorted(used):
            rule = cfg.rules[rule_name]
            if rule.ranking == "rerank" and inp.rerank is None:
                raise ConfigError(f"rules.{rule_name}.ranking: rerank, but {where} has no rerank output")
            bound, what = (inp.rerank_k, f"the rerank lists of {inp.spec.rerank} (longest {inp.rerank_k})") \
                if rule.ranking == "rerank" else (inp.k, f"k={inp.k} of the candidates {inp.spec.candidates}")
            for key in ("positives", "negatives"):
                rng = getattr(rule, key)
                if rng is not None and rng[1] > bound:
                    raise ConfigError(f"rules.{rule_name}.{key}: rank {rng[1]} exceeds {what} ({where}); "
                                      f"mine with a larger -k or lower the range")
