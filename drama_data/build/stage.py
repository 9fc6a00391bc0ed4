"""The ``build`` stage: mined candidates (+ LLM rerankings) -> a training set in Tevatron's format.

Inputs (one or more, see `drama_data.build.config.InputSpec`): a candidates folder written by
``drama-data mine`` (configs ``candidates`` and ``passages``), optionally the rankings folder written by
``drama-data generate --task rerank`` over it (config ``rankings``: ``query_id``, ``ranking`` list<str>,
optional ``agreement``), and optionally the queries dataset it was mined from (its queries missing from the
candidates are recorded as ``not_mined``). Each input has a mixing ``group``.

Per row, in this order, the first reason that applies removes it (recorded in the ``removed`` config,
nothing disappears silently): ``not_reranked`` (input has rankings, this query has none), ``too_short`` /
``too_long`` (query tokens), ``copy_rate`` (query copies its source passage), ``low_agreement`` (rerank
passes disagree), then labelling by the row's rule (`drama_data.build.labelling`: ``no_positive``,
``too_few_negatives``), then ``contaminated`` (``filters.exclude_contaminated``: the query or one of the row's
passages overlaps an evaluation collection, `drama_data.report.contamination`), then ``duplicate`` / ``near_duplicate`` (against rows kept so far, inputs in
order), then ``mixing`` (sampled out to hold the ratios, `drama_data.build.mixing`). The rule of a row is
``rerank`` when its input has rankings, else ``source_rules[row.source]`` (sent, qgen, crosslingual).

Output folder (``datasets.load_dataset(folder)`` gives ``train``):

- ``train`` (default): ``query_id, query, positive_passages: list<{docid, title, text, score}>,
  negative_passages: list<{docid, title, text, score}>, source, language`` (Tevatron's columns plus ours; ``score``
  is the miner's score of that passage for the query, null when it was not a candidate: the teacher score
  ``drama-models train --distill-weight`` distils) and
  provenance columns ``rule, group, input, source_passage_id, retriever, agreement`` (float, null unless
  reranked), ``rerank_fallback``, ``mined_with`` (what ``mine`` searched for the row: ``query``; for a
  cross-lingual row under a lexical retriever ``source_query`` or ``passage``, see
  `drama_data.mining.crosslingual`; ``query`` for candidates mined before the column existed). With ``swap_negatives: N`` a long row (its query has
  ``answer_start``/``answer_end``, its positive is the source document) has first among its negatives up to N
  copies of that document with the answer section swapped for another document's (docid ``<docid>#swap<k>``,
  score null; `drama_data.build.swap`). Rows are shuffled with the seed when mixing (``mix.shuffle``). No row has an empty
  ``positive_passages`` or a positive among its negatives (checked before writing).
- ``sentence-transformers`` (unless ``sentence_transformers: {write: false}`` / ``--no-sentence-transformers``):
  the same rows in the layout sentence-transformers' trainer and losses take, ``anchor, positive,
  negative_1..n`` and the miner's ``scores`` when every row has them (`drama_data.build.st_layout`).
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
import yaml
from tqdm.auto import tqdm

from cards import render as render_card
from drama_data.build.config import BuildConfig
from drama_data.build.filters import without_span
from drama_data.build.inputs import LoadedInput, check_inputs, load_input
from drama_data.build.labeller import Labeller, removed_row
from drama_data.build.mixing import allocate, sample
from drama_data.build.st_layout import CONFIG as ST_CONFIG
from drama_data.build.st_layout import st_table
from drama_data.build.swap import SectionPool, check_span, swap_texts
from drama_data.datasets.card import PAPER_CITATION
from drama_data.datasets.folder import (
    check_output_folder,
    dumps,
    utc_now,
    write_dataset,
)
from drama_data.errors import ConfigError, InputError
from drama_data.plurals import plural

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
    #: the ``sentence-transformers`` config (:class:`~drama_data.build.st_layout.StStats`; empty: not written)
    sentence_transformers: dict[str, Any] = field(default_factory=dict)
    #: rows given haystack negatives (``swap_negatives``; None: the option is off)
    swap_rows: int | None = None

    def as_dict(self) -> dict:
        return {"output": self.output, "rows": self.rows, "removed": self.removed, "counts": self.counts,
                "inputs": self.inputs, "labels": self.labels, "mix": self.mix,
                "sentence_transformers": self.sentence_transformers, "seconds": self.seconds,
                **({"swap_rows": self.swap_rows} if self.swap_rows is not None else {})}

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
        if self.swap_rows is not None:
            lines.append(f"  swap negatives   {plural(self.swap_rows, 'row')} (answer section swapped out of the "
                         "positive document)")
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
        st = self.sentence_transformers
        if st and not st["rows"]:
            lines.append(f"  config {ST_CONFIG}: not written (no row has a negative)")
        elif st:
            n = st["negatives"]
            cols = ("anchor, positive" + (", negative_1" if n else "") + (f"..negative_{n}" if n > 1 else "")
                    + (", scores" if st["scores"] else ""))
            lines.append(f"  config {ST_CONFIG}: {plural(st['rows'], 'row')} ({cols})")
            for key, words in (("padded_rows", "with fewer negatives, repeated to fill the columns"),
                               ("rows_without_negatives", "without a negative, left out of this config"),
                               ("rows_without_scores", "without a miner score: " + (
                                   "left out (--st-require-scores)" if st.get("require_scores")
                                   else "no scores column (--st-require-scores: leave them out)"))):
                if st[key]:
                    lines.append(f"                     {st[key]:>6}  {words}")
        lines += [f"  output           {self.output}",
                  f"  load it with     datasets.load_dataset({self.output!r}, 'train')",
                  f"  train on it      drama-models train --dataset {self.output} ..."]
        if st and st["rows"]:
            lines.append(f"  or with ST      datasets.load_dataset({self.output!r}, {ST_CONFIG!r}) -> "
                         "SentenceTransformerTrainer")
        return "\n".join(lines)


def _mean(x: float, noun: str) -> str:
    """A mean count with its noun: ``1 positive``, ``2.5 negatives``."""
    return f"{x:g} {noun if x == 1 else noun + 's'}"


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
    """Build the training set described by ``cfg`` into a dataset folder.

    Opens and checks the inputs, labels and filters every row by its rule (the first reason that applies removes
    a row, recorded in the ``removed`` config: nothing disappears silently), holds the mixing ratios, and writes
    the folder atomically: ``train`` (Tevatron's ``query_id, query, positive_passages, negative_passages`` plus
    provenance columns), ``sentence-transformers`` (``anchor, positive, negative_1..n``, unless turned off),
    ``removed``, a ``README.md`` card and ``provenance.json``. Deterministic for a config and seed; runs in memory,
    so a rerun recomputes it.

    Args:
        cfg: The [`BuildConfig`][drama_data.build.config.BuildConfig] (see
            [`load_config`][drama_data.build.config.load_config]).
        output: The output folder; ``None`` for ``cfg.output``.
        overwrite: Replace an existing output folder.
        progress: Show a progress bar.

    Returns:
        The `BuildReport`: rows kept and removed per input, rule, group and reason, mixing, timings
            (``.render()``, ``.as_dict()``).

    Raises:
        ConfigError: A bad config value, or no output folder given.
        InputError: An input folder is missing or not a ``mine`` output, the output folder exists without
            ``overwrite``, or every query was removed (the folder is then written with ``removed`` as its default
            config, so that the reasons can be read).
    """
    t0 = time.perf_counter()
    cfg.validate()
    output = output or cfg.output
    if not output:
        raise ConfigError("--output: missing (give --output DIR or output: in the config)")
    output = check_output_folder(output, overwrite=overwrite)
    inputs = [load_input(i, spec) for i, spec in enumerate(cfg.inputs)]
    check_inputs(cfg, inputs)
    labeller = Labeller(cfg)
    bar = tqdm(total=sum(i.n_rows for i in inputs), desc="build", unit="q", disable=not progress, mininterval=0.5)
    for inp in inputs:
        for row in inp.not_mined:
            labeller.removed.append(removed_row(row, inp, "", "not_mined",
                                             "query is in the queries dataset but not in the candidates"))
        for row in inp.iter_rows():
            bar.update(1)
            labeller.label(inp, row)
    bar.close()
    mix_info = _mix(cfg, labeller)
    train_rows, swap_rows = _train_rows(cfg, labeller.kept, _pools(cfg, inputs))
    st = (st_table(train_rows, cfg.st_negatives, cfg.st_require_scores) if cfg.sentence_transformers and train_rows
          else None)
    report = _write(cfg, output, inputs, labeller, train_rows, mix_info, st,
                    swap_rows if cfg.swap_negatives else None)
    report.seconds = round(time.perf_counter() - t0, 3)
    if not report.rows:
        raise InputError(f"no training rows left: every query was removed ({report.removed}); the reasons are in "
                         f"{output} (config 'removed')")
    return report


def _mix(cfg: BuildConfig, lab: Labeller) -> dict[str, Any]:
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
            lab.removed.append(removed_row(k["row"], k["inp"], k["rule"], "mixing",
                                        f"{cfg.mix_by} {g!r}: kept {counts[g]} of {available[g]} "
                                        f"(ratio {cfg.mix_ratios[g]})"))
    lab.kept = [kept[j] for j in keep_idx]
    if cfg.shuffle:
        random.Random(cfg.seed).shuffle(lab.kept)
    return {"by": cfg.mix_by, "ratios": cfg.mix_ratios, "available": available, "kept": counts}


def _pools(cfg: BuildConfig, inputs: list[LoadedInput]) -> dict[str, SectionPool]:
    """Input name -> the answer sections ``swap_negatives`` draws from (none when the option is off)."""
    if not cfg.swap_negatives:
        return {}
    return {i.spec.name: SectionPool.from_spans(i.spans, i.passages) for i in inputs if i.spans}


def _answer_span(k: dict) -> tuple[int, int] | None:
    """The row's answer section in its source passage, ``(answer_start, answer_end)`` from its queries dataset, when
    it has one and the source passage is one of its positives; else ``None``. A span outside the text is
    ``InputError`` naming the queries dataset and the query."""
    row, inp = k["row"], k["inp"]
    qid, src = row["query_id"], row["source_passage_id"] or ""
    span = inp.spans.get(qid)
    if span is None or not src or span[0] != src or src not in k["pos"]:
        return None
    try:
        return check_span(inp.passages[src][1], span[1], span[2], f"{inp.spec.queries}: query {qid!r}")
    except ValueError as exc:
        raise InputError(str(exc)) from None


def _swaps(cfg: BuildConfig, k: dict, span: tuple[int, int], pools: dict[str, SectionPool]) -> list[dict]:
    """The haystack negatives of one row with an answer ``span`` (``swap_negatives``, `drama_data.build.swap`):
    its source document with the section swapped for another document's, no miner score."""
    row, inp = k["row"], k["inp"]
    src = row["source_passage_id"]
    pool = pools.get(inp.spec.name)
    if pool is None:
        return []
    title, text = inp.passages[src]
    return [{"docid": docid, "title": title, "text": swapped, "score": None}
            for docid, swapped in swap_texts(pool, cfg.swap_negatives, cfg.seed, row["query_id"], row["query"] or "",
                                             src, text, span)]


def _train_rows(cfg: BuildConfig, kept: list[dict], pools: dict[str, SectionPool] | None = None
                ) -> tuple[list[dict], int]:
    """The kept rows in the ``train`` config's layout (passages with their titles, texts and miner scores), and
    how many of them got ``swap_negatives`` (first among their negatives).

    ``positive_text: without_query`` cuts the query out of its source passage; for a row with an answer span (a
    long row) only out of that section, as for a passage of its own: a query that is the whole section stays
    (without_span keeps a passage it would empty), so that the document keeps its answer, and the rest of the
    document is as written (what a swap negative holds around its other section)."""
    train_rows = []
    swap_rows = 0
    for k in kept:
        row, inp = k["row"], k["inp"]
        pos, neg = k["pos"], k["neg"]
        if not pos or set(pos) & set(neg):  # cannot happen after labelling; never write such a row
            raise AssertionError(f"query {row['query_id']!r}: invalid labels {pos} / {neg}")
        positives = _passage_structs(pos, inp, row["query_id"], k["scores"])
        span = _answer_span(k) if inp.spans else None
        if cfg.rules[k["rule"]].positive_text == "without_query":
            src = row["source_passage_id"] or ""
            for pstruct in positives:
                if pstruct["docid"] == src and span is not None:
                    t, (a, b) = pstruct["text"], span
                    pstruct["text"] = t[:a] + without_span(t[a:b], row["query"] or "") + t[b:]
                elif pstruct["docid"] == src:
                    pstruct["text"] = without_span(pstruct["text"], row["query"] or "")
        negatives = _passage_structs(neg, inp, row["query_id"], k["scores"])
        swaps = _swaps(cfg, k, span, pools or {}) if cfg.swap_negatives and span is not None else []
        if swaps:
            keep = cfg.swap_keep_mined
            negatives = swaps + (negatives if keep is None else negatives[:keep])
            swap_rows += 1
        train_rows.append({
            "query_id": row["query_id"], "query": row["query"], "positive_passages": positives,
            "negative_passages": negatives, "source": row["source"] or "",
            "language": row["language"] or "", "rule": k["rule"], "group": inp.spec.group, "input": inp.spec.name,
            "source_passage_id": row["source_passage_id"] or "", "retriever": row.get("retriever") or "",
            "agreement": k["agreement"], "rerank_fallback": k["fallback"], "mined_with": row.get("mined_with") or "query",
        })
    return train_rows, swap_rows


def _write(cfg: BuildConfig, output: Path, inputs: list[LoadedInput], lab: Labeller, train_rows: list[dict],
           mix_info: dict, st: tuple | None = None, swap_rows: int | None = None) -> BuildReport:
    """Write the ``train``, ``sentence-transformers`` (``st``: its table and stats, when written) and ``removed``
    configs, card and provenance.json; returns the report (no timing)."""
    train = pa.Table.from_pylist(train_rows, schema=TRAIN_SCHEMA)
    removed_t = pa.Table.from_pylist(lab.removed, schema=REMOVED_SCHEMA)
    report = BuildReport(output=str(output), rows=train.num_rows,
                         removed=dict(collections.Counter(r["reason"] for r in lab.removed)))
    report.counts = _counts(train_rows)
    stats = _label_stats(train_rows, lab.fn_dropped)
    report.inputs = {i.spec.name: i.n_rows for i in inputs}
    report.labels = stats
    report.mix = mix_info
    report.sentence_transformers = st[1].as_dict() if st else {}
    report.swap_rows = swap_rows
    prov = {"stage": "build", "created": utc_now(), "config": cfg.as_dict(), "mix": mix_info,
            "inputs": [{"name": i.spec.name, "candidates": i.spec.candidates, "rerank": i.spec.rerank,
                        "queries": i.spec.queries, "group": i.spec.group, "rows": i.n_rows, "k": i.k,
                        "rerank_k": i.rerank_k, "retriever": i.retriever} for i in inputs],
            "rows": train.num_rows, "removed": report.removed, "counts": report.counts, "labels": stats,
            "miner": cfg.miner, "rerank_fallback": dict(lab.fallbacks), "rule_ways": _rule_ways(train_rows),
            "sentence_transformers": report.sentence_transformers}
    if swap_rows is not None:  # swap_negatives on (left out when off: the provenance reads as before)
        prov["swap_rows"] = swap_rows
    # datasets 5.2 cannot load a split with no rows, so an empty config is left out (and the card says so)
    tables = {"train": train, "removed": removed_t} if train.num_rows else {"removed": removed_t}
    tags = ["retrieval", "tevatron", "drama"]
    if st and st[0].num_rows:  # datasets 5.2 cannot load it with no rows: then left out, the card says why
        tables = {"train": train, ST_CONFIG: st[0], "removed": removed_t}
        tags.append("sentence-transformers")
    write_dataset(output, tables, default="train" if train.num_rows else "removed",
                  card_body=_card(prov, lab.removed), card_meta={"tags": tags, "drama_stage": "build"},
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
