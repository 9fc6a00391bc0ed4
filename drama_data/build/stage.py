"""The ``build`` stage: mined candidates (+ LLM rerankings) -> a training set in Tevatron's format.

Inputs (one or more, see :class:`~drama_data.build.config.InputSpec`): a candidates folder written by
``drama-data mine`` (configs ``candidates`` and ``passages``), optionally the rankings folder written by
``drama-data generate --task rerank`` over it (config ``rankings``: ``query_id``, ``ranking`` list<str>,
optional ``agreement``), and optionally the queries dataset it was mined from (its queries missing from the
candidates are recorded as ``not_mined``). Each input has a mixing ``group``.

Per row, in this order, the first reason that applies removes it (recorded in the ``removed`` config,
nothing disappears silently): ``not_reranked`` (input has rankings, this query has none), ``too_short`` /
``too_long`` (query tokens), ``copy_rate`` (query copies its source passage), ``low_agreement`` (rerank
passes disagree), then labelling by the row's rule (:mod:`drama_data.build.labelling`: ``no_positive``,
``too_few_negatives``), then ``contaminated`` (``filters.exclude_contaminated``: the query or one of the row's
passages overlaps an evaluation collection, :mod:`drama_data.report.contamination`), then ``duplicate`` / ``near_duplicate`` (against rows kept so far, inputs in
order), then ``mixing`` (sampled out to hold the ratios, :mod:`drama_data.build.mixing`). The rule of a row is
``rerank`` when its input has rankings, else ``source_rules[row.source]`` (sent, qgen, crosslingual).

Output folder (``datasets.load_dataset(folder)`` gives ``train``):

- ``train`` (default): ``query_id, query, positive_passages: list<{docid, title, text, score}>,
  negative_passages: list<{docid, title, text, score}>, source, language`` (Tevatron's columns plus ours; ``score``
  is the miner's score of that passage for the query, null when it was not a candidate: the teacher score
  ``drama-models train --distill-weight`` distils) and
  provenance columns ``rule, group, input, source_passage_id, retriever, agreement`` (float, null unless
  reranked), ``rerank_fallback``, ``mined_with`` (what ``mine`` searched for the row: ``query``; for a
  cross-lingual row under a lexical retriever ``source_query`` or ``passage``, see
  :mod:`drama_data.mining.crosslingual`; ``query`` for candidates mined before the column existed). Rows are shuffled with the seed when mixing (``mix.shuffle``). No row has an empty
  ``positive_passages`` or a positive among its negatives (checked before writing).
- ``removed``: ``query_id, query, source, language, input, group, rule, reason, detail`` (no rows when
  nothing was removed: ``datasets`` 5.2 loads it only with ``streaming=True``). When *every* query is removed,
  the folder is written with ``removed`` as its default config and ``build`` raises ``InputError``.
- ``README.md`` card (counts per source, language, rule, group; what each filter removed; the config) and
  ``provenance.json``.

``build`` runs in memory and is deterministic for a given config and seed; a rerun recomputes it (no
partial state to resume) and the folder is replaced atomically.
"""
from __future__ import annotations

import collections
import logging
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import yaml
from tqdm.auto import tqdm

from cards import render as render_card
from drama_data.build.config import BuildConfig, InputSpec, Rule
from drama_data.build.dedup import Deduplicator
from drama_data.build.filters import copy_rate, query_tokens, without_span
from drama_data.build.labelling import label
from drama_data.build.mixing import allocate, sample
from drama_data.datasets.card import PAPER_CITATION
from drama_data.datasets.folder import (
    check_output_folder,
    dumps,
    read_card,
    read_table,
    utc_now,
    write_dataset,
)
from drama_data.errors import ConfigError, InputError
from drama_data.plurals import plural
from drama_data.sources import local_path

log = logging.getLogger(__name__)

PASSAGE = pa.struct([("docid", pa.string()), ("title", pa.string()), ("text", pa.string()), ("score", pa.float32())])
TRAIN_SCHEMA = pa.schema([
    ("query_id", pa.string()), ("query", pa.string()),
    ("positive_passages", pa.list_(PASSAGE)), ("negative_passages", pa.list_(PASSAGE)),
    ("source", pa.string()), ("language", pa.string()), ("rule", pa.string()), ("group", pa.string()),
    ("input", pa.string()), ("source_passage_id", pa.string()), ("retriever", pa.string()),
    ("agreement", pa.float32()), ("rerank_fallback", pa.string()), ("mined_with", pa.string()),
])
REMOVED_SCHEMA = pa.schema([
    ("query_id", pa.string()), ("query", pa.string()), ("source", pa.string()), ("language", pa.string()),
    ("input", pa.string()), ("group", pa.string()), ("rule", pa.string()), ("reason", pa.string()),
    ("detail", pa.string()), ("mined_with", pa.string()),
])
REASONS = ("not_mined", "not_reranked", "too_short", "too_long", "copy_rate", "low_agreement", "roundtrip",
           "no_positive", "too_few_negatives", "contaminated", "duplicate", "near_duplicate", "mixing")
#: what each ``mined_with`` value of the candidates means (mine: :mod:`drama_data.mining.crosslingual`)
WAY_WORDS = {"query": "the row's own query",
             "source_query": "cross-lingual translations labelled by their source query's ranking (passage's language)",
             "passage": "cross-lingual direct queries labelled by their passage's own ranking (source passage "
                        "positive, negatives in its language)"}
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

    @property
    def n_rows(self) -> int:
        return self.table.num_rows

    def iter_rows(self, batch_rows: int = 10_000):
        """Candidate rows as dicts, a batch at a time (bounded memory for millions of queries)."""
        for batch in self.table.to_batches(max_chunksize=batch_rows):
            yield from batch.to_pylist()


@dataclass
class BuildReport:
    """What a build did; ``render()`` is the one-screen summary the CLI prints, ``as_dict()`` its ``--json``."""

    output: str
    rows: int = 0
    removed: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    inputs: dict[str, int] = field(default_factory=dict)  # input name -> candidate rows read
    labels: dict[str, dict] = field(default_factory=dict)  # rule -> rows, mean positives / negatives
    mix: dict[str, Any] = field(default_factory=dict)  # by, ratios, available, kept (empty: no mixing)

    def as_dict(self) -> dict:
        return {"output": self.output, "rows": self.rows, "removed": self.removed, "counts": self.counts,
                "inputs": self.inputs, "labels": self.labels, "mix": self.mix, "seconds": self.seconds}

    def render(self) -> str:
        lines = [f"drama-data build: done in {self.seconds:.1f} s",
                 "  inputs           " + ", ".join(f"{k} ({plural(v, 'query', 'queries')})"
                                                    for k, v in self.inputs.items()),
                 f"  rows written     {self.rows}",
                 f"  removed          {sum(self.removed.values())}"]
        for reason, n in sorted(self.removed.items(), key=lambda kv: -kv[1]):
            lines.append(f"                     {n:>6}  {reason}")
        for rule, st in self.labels.items():
            lines.append(f"  rule {rule:<11} {plural(st['rows'], 'row')}, {_mean(st['mean_positives'], 'positive')} and "
                         f"{_mean(st['mean_negatives'], 'negative')} per row")
        if self.mix:
            kept = ", ".join(f"{k} {self.mix['kept'].get(k, 0)}/{self.mix['available'].get(k, 0)} (ratio {r:g})"
                             for k, r in (self.mix.get("ratios") or {}).items())
            lines.append(f"  mixed by {self.mix['by']:<7} {kept}")
        for key in ("source", "language"):
            if self.counts.get(key):
                lines.append(f"  by {key:<13} " + ", ".join(f"{k} {v}" for k, v in self.counts[key].items()))
        ways = self.counts.get("mined_with") or {}
        if ways:
            lines.append("  mined with       " + ", ".join(f"{k} {v}" for k, v in ways.items()))
            for way in ("source_query", "passage"):
                if ways.get(way):
                    lines.append(f"                     {way}: {WAY_WORDS[way]}")
        lines += [f"  output           {self.output}",
                  f"  load it with     datasets.load_dataset({self.output!r}, 'train')",
                  f"  train on it      drama-models train --dataset {self.output} ..."]
        return "\n".join(lines)


def _mean(x: float, noun: str) -> str:
    """A mean count with its noun: ``1 positive``, ``2.5 negatives``."""
    return f"{x:g} {noun if x == 1 else noun + 's'}"


def _load_input(i: int, spec: InputSpec) -> LoadedInput:
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
    return loaded


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


def _rule_of(source: str, inp: LoadedInput, cfg: BuildConfig) -> str | None:
    return "rerank" if inp.rerank is not None else cfg.source_rules.get(source or "")


def check_inputs(cfg: BuildConfig, inputs: list[LoadedInput]) -> None:
    """Unknown sources and rank ranges beyond k, named by option, before any labelling."""
    for i, inp in enumerate(inputs):
        where = f"inputs[{i}] ({inp.spec.name})"
        sources = collections.Counter(v or "" for v in inp.table.column("source").to_pylist())
        used: set[str] = set()
        for source, count in sources.items():
            rule = _rule_of(source, inp, cfg)
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


def _removed(row: dict, inp: LoadedInput, rule: str, reason: str, detail: str) -> dict:
    return {"query_id": row["query_id"], "query": row.get("query") or "", "source": row.get("source") or "",
            "language": row.get("language") or "", "input": inp.spec.name, "group": inp.spec.group,
            "rule": rule or "", "reason": reason, "detail": detail, "mined_with": row.get("mined_with") or ""}


def _passage_structs(ids: list[str], inp: LoadedInput, qid: str, scores: dict[str, float]) -> list[dict]:
    out = []
    for d in ids:
        p = inp.passages.get(d)
        if p is None:
            raise InputError(f"{inp.spec.candidates}: query {qid!r} refers to passage {d!r}, which is not in its "
                             "'passages' config")
        out.append({"docid": d, "title": p[0], "text": p[1], "score": scores.get(d)})
    return out


def build(cfg: BuildConfig, output: str | Path | None = None, *, overwrite: bool = False, progress: bool = True
          ) -> BuildReport:
    """Build the training set described by ``cfg`` into ``output`` (or ``cfg.output``). See the module doc.

    Steps: open and check the inputs (:func:`_load_input`, :func:`check_inputs`), label and filter every row
    (:class:`_Labeller`), hold the mixing ratios (:func:`_mix`), assemble the Tevatron rows (:func:`_train_rows`)
    and write the folder (:func:`_write`)."""
    t0 = time.perf_counter()
    cfg.validate()
    output = output or cfg.output
    if not output:
        raise ConfigError("--output: missing (give --output DIR or output: in the config)")
    output = check_output_folder(output, overwrite=overwrite)
    inputs = [_load_input(i, spec) for i, spec in enumerate(cfg.inputs)]
    check_inputs(cfg, inputs)
    labeller = _Labeller(cfg)
    bar = tqdm(total=sum(i.n_rows for i in inputs), desc="build", unit="q", disable=not progress, mininterval=0.5)
    for inp in inputs:
        for row in inp.not_mined:
            labeller.removed.append(_removed(row, inp, "", "not_mined",
                                             "query is in the queries dataset but not in the candidates"))
        for row in inp.iter_rows():
            bar.update(1)
            labeller.label(inp, row)
    bar.close()
    mix_info = _mix(cfg, labeller)
    train_rows = _train_rows(cfg, labeller.kept)
    report = _write(cfg, output, inputs, labeller, train_rows, mix_info)
    report.seconds = round(time.perf_counter() - t0, 3)
    if not report.rows:
        raise InputError(f"no training rows left: every query was removed ({report.removed}); the reasons are in "
                         f"{output} (config 'removed')")
    return report


class _Labeller:
    """Labels candidate rows one at a time, in input order: ``label(inp, row)`` appends the row to ``kept`` (with
    its positives and negatives) or to ``removed`` (with the first reason that applies, see the module doc)."""

    def __init__(self, cfg: BuildConfig) -> None:
        self.cfg, f = cfg, cfg.filters
        self.f = f
        self.dedup = Deduplicator(exact=bool(f["dedup_exact"]), threshold=f["near_dup_threshold"],
                                  ngram=f["near_dup_ngram"])
        self.leaks = None
        if f.get("exclude_contaminated"):
            from drama_data.build.contamination_index import load_index

            self.leaks = load_index(list(f["exclude_contaminated"]), f.get("contamination_split") or "test")
        self.passage_leak: dict[tuple[str, str], dict | None] = {}
        self.kept: list[dict] = []
        self.removed: list[dict] = []
        self.fn_dropped: collections.Counter = collections.Counter()
        self.fallbacks: collections.Counter = collections.Counter()

    def _drop(self, row: dict, inp: LoadedInput, rule: str | None, reason: str, detail: str) -> None:
        self.removed.append(_removed(row, inp, rule, reason, detail))

    def label(self, inp: LoadedInput, row: dict) -> None:
        cfg = self.cfg
        rule_name = _rule_of(row["source"], inp, cfg)
        query = row["query"] or ""
        source_id = row["source_passage_id"] or ""
        trusted = self._ranking(inp, row, rule_name)
        if trusted is None:
            return
        rr, fallback, agreement = trusted
        if fallback:  # the miner's order and the row's own rule instead of an untrusted ranking
            rule_name = cfg.source_rules.get(row["source"] or "", rule_name)
            self.fallbacks[fallback] += 1
        rule: Rule = cfg.rules[rule_name]
        reason = self._filter(inp, row, query, source_id)
        if reason:
            self._drop(row, inp, rule_name, *reason)
            return
        cands = row["candidates"] or []
        scores = {c["docid"]: float(c["score"]) for c in cands if c.get("score") is not None}
        if rr is not None:
            known = {c["docid"] for c in cands}
            stray = [d for d in rr["ranking"] if d not in known]
            if stray:
                raise InputError(f"{inp.spec.name}: rerank output {inp.spec.rerank} row {rr['row']}, query "
                                 f"{row['query_id']!r}: docid {stray[0]!r} is not one of this query's candidates")
        ranking = rr["ranking"] if rule.ranking == "rerank" else [c["docid"] for c in cands]
        if rule.roundtrip_top and source_id and source_id not in ranking[:rule.roundtrip_top]:
            where = ranking.index(source_id) + 1 if source_id in ranking else None
            self._drop(row, inp, rule_name, "roundtrip", f"source passage {source_id!r} at rank "
                       f"{where or f'> {len(ranking)}'}, not in the top {rule.roundtrip_top}")
            return
        lab = label(rule, ranking, scores, source_id, cfg.fn_mode)
        if lab.reason:
            self._drop(row, inp, rule_name, lab.reason, lab.detail)
            return
        what = self._contamination(inp, query, [source_id] if source_id else [], lab)
        if what:
            self._drop(row, inp, rule_name, "contaminated", what)
            return
        dup = self.dedup.check(f"{inp.spec.name}/{row['query_id']}", query)
        if dup is not None:
            kind, kept_key, sim = dup
            self._drop(row, inp, rule_name, kind, f"of {kept_key} (similarity {sim})")
            return
        self.fn_dropped[rule_name] += len(lab.fn_dropped)
        self.kept.append({"row": row, "inp": inp, "rule": rule_name, "pos": lab.positives, "neg": lab.negatives,
                          "agreement": agreement, "fallback": fallback, "scores": scores})

    def _ranking(self, inp: LoadedInput, row: dict, rule_name: str | None):
        """The row's LLM ranking, if trusted: ``(ranking or None, fallback, agreement)``; ``None`` when the row
        is removed (``not_reranked``, ``low_agreement`` without ``rerank_fallback``)."""
        f = self.f
        rr = inp.rerank.get(row["query_id"]) if inp.rerank is not None else None
        fallback = ""
        if inp.rerank is not None and (rr is None or not rr["ranking"]):
            if not f["rerank_fallback"]:
                self._drop(row, inp, rule_name, "not_reranked", "no ranking for this query in the rerank output")
                return None
            rr, fallback = None, "failed"
        agreement = rr.get("agreement") if rr else None
        if rr is not None and f["min_agreement"] is not None and agreement is not None \
                and agreement < f["min_agreement"]:
            if not f["rerank_fallback"]:
                self._drop(row, inp, rule_name, "low_agreement", f"Kendall tau {agreement:.3f} < {f['min_agreement']}")
                return None
            rr, fallback = None, "disagreed"
        return rr, fallback, agreement

    def _filter(self, inp: LoadedInput, row: dict, query: str, source_id: str) -> tuple[str, str] | None:
        """``(reason, detail)`` when the query's length or its copy rate from its source passage removes it."""
        f = self.f
        n_tok = len(query_tokens(query))
        if f["min_query_tokens"] is not None and n_tok < f["min_query_tokens"]:
            return "too_short", f"{n_tok} tokens < {f['min_query_tokens']}"
        if f["max_query_tokens"] is not None and n_tok > f["max_query_tokens"]:
            return "too_long", f"{n_tok} tokens > {f['max_query_tokens']}"
        if f["max_copy_rate"] is not None and source_id and (row["source"] or "") in f["copy_rate_sources"]:
            p = inp.passages.get(source_id)
            if p is not None:
                rate = copy_rate(query, p[1], f["copy_ngram"])
                if rate > f["max_copy_rate"]:
                    return "copy_rate", f"{rate:.3f} > {f['max_copy_rate']} ({f['copy_ngram']}-grams of {source_id!r})"
        return None

    def _contamination(self, inp: LoadedInput, query: str, source: list[str], lab) -> str:
        """What of the row overlaps an evaluation collection (``""``: nothing, or no collection given)."""
        if self.leaks is None:
            return ""
        hit = self.leaks.query(query)
        what = f"query ~ {hit['eval_id']} (similarity {hit['similarity']})" if hit else ""
        for d in source + list(lab.positives) + list(lab.negatives):
            if what:
                break
            key = (inp.spec.name, d)
            if key not in self.passage_leak:
                text = inp.passages.get(d, ("", ""))[1]
                self.passage_leak[key] = self.leaks.passage(text) if text else None
            if self.passage_leak[key]:
                what = f"passage {d!r} ~ {self.passage_leak[key]['eval_id']} (overlap {self.passage_leak[key]['overlap']})"
        return what


def _mix(cfg: BuildConfig, lab: _Labeller) -> dict[str, Any]:
    """Sample the kept rows to hold ``mix.ratios`` (the rest removed as ``mixing``), shuffle with the seed;
    returns the mix summary ({} without ratios)."""
    if cfg.mix_ratios is None:
        return {}
    kept = lab.kept
    key_of = {"group": lambda k: k["inp"].spec.group, "source": lambda k: k["row"]["source"] or "",
              "rule": lambda k: k["rule"], "language": lambda k: k["row"]["language"] or "",
              "input": lambda k: k["inp"].spec.name}[cfg.mix_by]
    by_key: dict[str, list[int]] = collections.defaultdict(list)
    for j, k in enumerate(kept):
        by_key[key_of(k)].append(j)
    unmixed = sorted(set(by_key) - set(cfg.mix_ratios))
    if unmixed:
        raise ConfigError(f"mix.ratios: no ratio for {cfg.mix_by} value(s) {', '.join(map(repr, unmixed))} "
                          f"present in the data (ratios: {cfg.mix_ratios})")
    available = {g: len(by_key.get(g, [])) for g in cfg.mix_ratios}
    counts = allocate(available, cfg.mix_ratios, cfg.mix_total)
    chosen = sample(by_key, counts, cfg.seed)
    keep_idx = sorted(j for idx in chosen.values() for j in idx)
    keep_set = set(keep_idx)
    for j, k in enumerate(kept):
        if j not in keep_set:
            g = key_of(k)
            lab.removed.append(_removed(k["row"], k["inp"], k["rule"], "mixing",
                                        f"{cfg.mix_by} {g!r}: kept {counts[g]} of {available[g]} "
                                        f"(ratio {cfg.mix_ratios[g]})"))
    lab.kept = [kept[j] for j in keep_idx]
    if cfg.shuffle:
        random.Random(cfg.seed).shuffle(lab.kept)
    return {"by": cfg.mix_by, "ratios": cfg.mix_ratios, "available": available, "kept": counts}


def _train_rows(cfg: BuildConfig, kept: list[dict]) -> list[dict]:
    """The kept rows in the ``train`` config's layout (passages with their titles, texts and miner scores)."""
    train_rows = []
    for k in kept:
        row, inp = k["row"], k["inp"]
        pos, neg = k["pos"], k["neg"]
        if not pos or set(pos) & set(neg):  # cannot happen after labelling; never write such a row
            raise AssertionError(f"query {row['query_id']!r}: invalid labels {pos} / {neg}")
        positives = _passage_structs(pos, inp, row["query_id"], k["scores"])
        if cfg.rules[k["rule"]].positive_text == "without_query":
            src = row["source_passage_id"] or ""
            for pstruct in positives:
                if pstruct["docid"] == src:
                    pstruct["text"] = without_span(pstruct["text"], row["query"] or "")
        train_rows.append({
            "query_id": row["query_id"], "query": row["query"], "positive_passages": positives,
            "negative_passages": _passage_structs(neg, inp, row["query_id"], k["scores"]), "source": row["source"] or "",
            "language": row["language"] or "", "rule": k["rule"], "group": inp.spec.group, "input": inp.spec.name,
            "source_passage_id": row["source_passage_id"] or "", "retriever": row.get("retriever") or "",
            "agreement": k["agreement"], "rerank_fallback": k["fallback"], "mined_with": row.get("mined_with") or "query",
        })
    return train_rows


def _write(cfg: BuildConfig, output: Path, inputs: list[LoadedInput], lab: _Labeller, train_rows: list[dict],
           mix_info: dict) -> BuildReport:
    """Write the ``train`` and ``removed`` configs, card and provenance.json; returns the report (no timing)."""
    train = pa.Table.from_pylist(train_rows, schema=TRAIN_SCHEMA)
    removed_t = pa.Table.from_pylist(lab.removed, schema=REMOVED_SCHEMA)
    report = BuildReport(output=str(output), rows=train.num_rows,
                         removed=dict(collections.Counter(r["reason"] for r in lab.removed)))
    report.counts = _counts(train_rows)
    stats = _label_stats(train_rows, lab.fn_dropped)
    report.inputs = {i.spec.name: i.n_rows for i in inputs}
    report.labels = stats
    report.mix = mix_info
    prov = {"stage": "build", "created": utc_now(), "config": cfg.as_dict(), "mix": mix_info,
            "inputs": [{"name": i.spec.name, "candidates": i.spec.candidates, "rerank": i.spec.rerank,
                        "queries": i.spec.queries, "group": i.spec.group, "rows": i.n_rows, "k": i.k,
                        "rerank_k": i.rerank_k, "retriever": i.retriever} for i in inputs],
            "rows": train.num_rows, "removed": report.removed, "counts": report.counts, "labels": stats,
            "miner": cfg.miner, "rerank_fallback": dict(lab.fallbacks), "rule_ways": _rule_ways(train_rows)}
    # datasets 5.2 cannot load a split with no rows, so an empty config is left out (and the card says so)
    tables = {"train": train, "removed": removed_t} if train.num_rows else {"removed": removed_t}
    write_dataset(output, tables, default="train" if train.num_rows else "removed",
                  card_body=_card(prov, lab.removed), card_meta={"tags": ["retrieval", "tevatron", "drama"],
                                                                 "drama_stage": "build"},
                  extra_files={"provenance.json": dumps(prov)}, overwrite=True)
    return report


def _counts(rows: list[dict]) -> dict[str, dict[str, int]]:
    return {key: dict(sorted(collections.Counter(r[key] or "(none)" for r in rows).items()))
            for key in ("source", "language", "rule", "group", "mined_with")}


def _rule_ways(rows: list[dict]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for (rule, way), n in sorted(collections.Counter((r["rule"], r["mined_with"]) for r in rows).items()):
        out.setdefault(rule, {})[way] = n
    return out


def _label_stats(rows: list[dict], fn_dropped: collections.Counter) -> dict[str, dict]:
    out = {}
    for rule in sorted({r["rule"] for r in rows}):
        rs = [r for r in rows if r["rule"] == rule]
        out[rule] = {"rows": len(rs),
                     "mean_positives": round(sum(len(r["positive_passages"]) for r in rs) / len(rs), 3),
                     "mean_negatives": round(sum(len(r["negative_passages"]) for r in rs) / len(rs), 3),
                     "negatives_dropped_as_false_negatives": fn_dropped.get(rule, 0)}
    return out


def _card(prov: dict, removed: list[dict]) -> str:
    """The card's body (``cards/build_card.md.j2``); ``removed`` are the rows of the ``removed`` config."""
    by_reason_source = collections.Counter((r["reason"], r["source"] or "(none)") for r in removed)
    config_yaml = yaml.safe_dump({k: v for k, v in prov["config"].items() if k != "inputs"}, sort_keys=False,
                                 allow_unicode=True).strip()
    return render_card("build_card.md.j2", prov=prov, removed_by_source=sorted(by_reason_source.items()),
                       any_removed=bool(removed), config_yaml=config_yaml, citation=PAPER_CITATION)
