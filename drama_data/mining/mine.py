"""The ``mine`` stage: top-k candidate passages for every generated query, written as a dataset folder.

Input: a queries dataset written by ``drama-data generate`` (config ``queries``; columns ``query_id``,
``query``, ``passage_id`` (the passage the query was made from; optional column, may be empty), ``source``,
``language``; optional ``passage_language``, ``source_query``, ``source_language``, written by
``--task crosslingual``) and the corpus it was generated from, chunked with the *same* options as ``generate``
(``max_tokens``, ``chunk_tokenizer``, ``fields``, ``split``) so that passage ids line up: options not given
are read from the queries' ``provenance.json`` where ``generate`` recorded them (the corpus path too). Every non-empty
``passage_id`` must exist in the chunked corpus; otherwise nothing is mined and the error names the query
and the id.

Output folder (``datasets.load_dataset(folder)`` gives ``candidates``):

- config ``candidates`` (default), one row per query, in the queries' order:
  ``query_id: str, query: str, source: str, language: str, source_passage_id: str`` ("" when the query has
  no source passage), ``source_rank: int32 | null`` (1-based rank of the source passage, null when it is
  not in the top k), ``candidates: list<struct{docid: str, score: float32, rank: int32 (1-based),
  is_source: bool}>`` (best first; empty when the query matched nothing: counted in the card),
  ``retriever: str`` (the retriever and its settings, one line), ``mined_with: str`` (what was searched:
  ``query``, or for a cross-lingual row mined by a lexical retriever ``source_query`` or ``passage``; see
  :mod:`drama_data.mining.crosslingual` and ``cross_lingual``).
- config ``passages``: ``id, doc_id, title, text`` of every passage referenced by a candidate list or as a
  source passage, in corpus order, so that ``generate --task rerank`` and ``build`` need only this folder
  (left out only if no query matched anything and none has a source passage: ``datasets`` cannot load an
  empty split).
- ``README.md`` card and ``provenance.json``: retriever settings, corpus and chunking, k, counts, the rate
  at which the source passage was retrieved, timings, date.

Cross-lingual rows (``--task crosslingual``, query language not the passage's) are searched with the query
only by a retriever that crosses languages (dense); under a lexical one with their source query (translations)
or their passage's own text (direct queries), or the run stops with a one-line error
(``cross_lingual``; :mod:`drama_data.mining.crosslingual`). ``mined_with`` records the way per row.

Resumable: the index is cached under ``<work_dir>/index/<retriever>-<key>`` where the key hashes the
retriever settings and the chunked corpus content (a ``COMPLETE`` marker is written last; an incomplete
folder is rebuilt); query results are written as ``<work_dir>/runs/<key>/chunk-NNNNNN.parquet`` files of
``chunk_size`` queries each, so a rerun after a crash or Ctrl-C searches only the missing chunks. The final
folder is written atomically; the run chunks are removed afterwards unless ``keep_work``.
Paper defaults (DRAMA Sec. 3.2): k = 50 for cropped-sentence and synthetic queries, 20 for the rerank stage.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from cards import render as render_card
from drama_data.chunking import Passage, load_passages
from drama_data.datasets.card import PAPER_CITATION
from drama_data.datasets.folder import (
    check_output_folder,
    dumps,
    utc_now,
    write_dataset,
)
from drama_data.errors import InputError
from drama_data.mining import make_retriever
from drama_data.mining.base import Retriever, passage_text
from drama_data.mining.config import DENSE, MineConfig
from drama_data.mining.crosslingual import describe as describe_cross_lingual
from drama_data.mining.crosslingual import plan as plan_cross_lingual
from drama_data.mining.inputs import (
    QueryRow,
    check_source_passages,
    read_queries,
    resolve_corpus_options,
)
from drama_data.mining.mine_report import MineReport

log = logging.getLogger(__name__)

CANDIDATE = pa.struct([("docid", pa.string()), ("score", pa.float32()), ("rank", pa.int32()),
                       ("is_source", pa.bool_())])
CANDIDATES_SCHEMA = pa.schema([
    ("query_id", pa.string()), ("query", pa.string()), ("source", pa.string()), ("language", pa.string()),
    ("source_passage_id", pa.string()), ("source_rank", pa.int32()), ("candidates", pa.list_(CANDIDATE)),
    ("retriever", pa.string()), ("mined_with", pa.string()),
])
PASSAGES_SCHEMA = pa.schema([("id", pa.string()), ("doc_id", pa.string()), ("title", pa.string()),
                             ("text", pa.string())])


def _digest(*parts: Any) -> str:
    h = hashlib.blake2b(digest_size=16)
    for p in parts:
        h.update(json.dumps(p, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8"))
        h.update(b"\x1e")
    return h.hexdigest()


def corpus_fingerprint(passages: Sequence[Passage]) -> str:
    """A content hash of the chunked corpus (ids, titles, texts, order)."""
    h = hashlib.blake2b(digest_size=16)
    for p in passages:
        h.update(p.id.encode("utf-8") + b"\x1f" + p.title.encode("utf-8") + b"\x1f" + p.text.encode("utf-8") + b"\x1e")
    return h.hexdigest()


def _write_atomic_parquet(table: pa.Table, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def _chunk_table(rows: Sequence[QueryRow], hits: Sequence[Sequence[tuple[str, float]]], retriever_line: str
                 ) -> pa.Table:
    records = []
    for r, hs in zip(rows, hits):
        cands, source_rank = [], None
        for rank, (docid, score) in enumerate(hs, start=1):
            is_source = bool(r.source_passage_id) and docid == r.source_passage_id
            if is_source:
                source_rank = rank
            cands.append({"docid": docid, "score": score, "rank": rank, "is_source": is_source})
        records.append({"query_id": r.query_id, "query": r.query, "source": r.source, "language": r.language,
                        "source_passage_id": r.source_passage_id, "source_rank": source_rank,
                        "candidates": cands, "retriever": retriever_line, "mined_with": r.mined_with})
    return pa.Table.from_pylist(records, schema=CANDIDATES_SCHEMA)


def _prepare_index(retriever: Retriever, passages: Sequence[Passage], index_dir: Path) -> bool:
    """Load the cached index in ``index_dir`` or build (and save) it there. Returns True when reused."""
    marker = index_dir / "COMPLETE"
    if marker.is_file():
        try:
            if retriever.load(index_dir) and retriever.size == len(passages):
                return True
        except Exception as exc:  # noqa: BLE001 (a damaged cache is rebuilt, not fatal)
            log.warning("cached index %s unusable (%s); rebuilding", index_dir, exc)
    shutil.rmtree(index_dir, ignore_errors=True)
    index_dir.mkdir(parents=True)
    retriever.index(passages, folder=index_dir)
    if retriever.save(index_dir):
        marker.write_text(dumps(retriever.settings()), encoding="utf-8")
    return False


@dataclass
class _Opened:
    """What :func:`_open` read and checked: the queries, the retriever, the chunked corpus and how it was chunked."""

    rows: list[QueryRow]
    retriever: Retriever
    corpus: str
    chunking: dict
    origin: dict
    passages: list[Passage]
    corpus_report: Any
    by_id: dict[str, int]


@dataclass
class _Searched:
    """Where :func:`_search` left the results: the run chunks, the index and the retriever's settings."""

    paths: list[Path]
    run_dir: Path
    index_dir: Path
    settings: dict
    line: str
    fingerprint: str


def mine(config: MineConfig | str | Path, corpus: str | None = None, output: str | Path | None = None,
         **options: Any) -> MineReport:
    """Mine the top-``k`` candidate passages for every generated query into a dataset folder.

    The output folder holds the ``candidates`` config (one row per query, best candidate first), the ``passages``
    config (every referenced passage), a ``README.md`` card and ``provenance.json``. The index and the searched
    chunks are cached under ``work_dir``, so a rerun after a crash searches only the missing chunks; the final
    folder is written atomically. Paper defaults (DRAMA Sec. 3.2): k = 50 for cropped-sentence and synthetic
    queries, 20 for the rerank stage.

    Also callable as before: ``mine(queries, corpus, output, retriever=..., k=..., retriever_options=...,
    queries_config=..., fields=..., split=..., max_tokens=..., chunk_tokenizer=..., work_dir=..., chunk_size=...,
    batch_size=..., overwrite=..., keep_work=..., progress=..., cross_lingual=...)`` (the config's fields; in this
    form a dense or hybrid retriever encodes without bf16 unless ``retriever_options`` asks, as it did).

    Args:
        config: A [`MineConfig`][drama_data.mining.config.MineConfig], or (the older form) the queries folder.
        corpus: Older form only: the corpus; ``None`` for the one ``generate`` recorded.
        output: Older form only: the output folder (required in that form).
        **options: Older form only: the other config fields as keywords.

    Returns:
        The run's `MineReport`: queries and passages counted, queries with no candidates, how often the source
            passage was retrieved (and at rank 1), the retriever's settings, timings per step.

    Raises:
        TypeError: A config given together with ``corpus``/``output``/keywords, or the older form without
            ``output``.
        ConfigError: A bad value or combination of settings, named as the CLI flag (before any data is read).
        InputError: The queries folder or corpus is missing or empty, a query's ``passage_id`` is not in the
            chunked corpus, or the output folder exists without ``overwrite`` (before any work).
    """
    if isinstance(config, MineConfig):
        if corpus is not None or output is not None or options:
            raise TypeError("mine(config): give a MineConfig alone, or queries, corpus, output and keywords")
        cfg = config
    else:
        if output is None:
            raise TypeError("mine(queries, corpus, output, ...): output is missing")
        options = dict(options)
        extra = dict(options.pop("retriever_options", None) or {})
        if options.get("retriever", "bm25s") in DENSE and "bf16" not in extra:
            extra["bf16"] = False  # the keyword form's default, kept (the config's is auto)
        cfg = MineConfig(queries=config, corpus=corpus, output=output, retriever_options=extra, **options)
    t0 = time.perf_counter()
    cfg.check_paths()
    cfg.validate()
    out = check_output_folder(cfg.output, overwrite=cfg.overwrite)
    opened = _open(cfg)
    t_read = time.perf_counter()
    report = _start_report(cfg, out, opened)
    searched, t_index = _search(cfg, opened, report)
    t_search = time.perf_counter()
    table, keep = _collect(cfg, opened, searched, report)
    report.seconds = {"read": round(t_read - t0, 3), "index": round(t_index - t_read, 3),
                      "search": round(t_search - t_index, 3)}
    _write(cfg, out, opened, searched, report, table, keep)
    report.seconds["total"] = round(time.perf_counter() - t0, 3)
    return report


def _open(cfg: MineConfig) -> _Opened:
    """Read the queries, build the retriever, chunk the corpus as generate did, check the source passages and
    decide what each cross-lingual row is searched with (``row.search_text``, ``row.mined_with``)."""
    rows = read_queries(cfg.queries, cfg.queries_config)
    if not rows:
        raise InputError(f"--queries {cfg.queries}: the dataset has no rows")
    retriever = cfg.retriever
    if isinstance(retriever, str):
        retriever = make_retriever(retriever, **cfg.retriever_kwargs())
    corpus, copts, origin = resolve_corpus_options(cfg.queries, cfg.corpus, cfg.fields, cfg.split, cfg.max_tokens,
                                                   cfg.chunk_tokenizer)
    chunking = {"max_tokens": copts["max_tokens"], "chunk_tokenizer": copts["chunk_tokenizer"] or "words",
                "split": copts["split"], "fields": asdict(copts["fields"]) if copts["fields"] else {},
                **({"pack_tokens": copts["pack_tokens"]} if copts.get("pack_tokens") else {})}
    passages, corpus_report = load_passages(corpus, **copts)
    if not passages:
        raise InputError(f"--corpus {corpus}: the corpus is empty (no passages after chunking)")
    by_id = {p.id: i for i, p in enumerate(passages)}
    check_source_passages(rows, passages, queries=str(cfg.queries), corpus=str(corpus), chunking=chunking)
    return _Opened(rows=rows, retriever=retriever, corpus=corpus, chunking=chunking, origin=origin,
                   passages=passages, corpus_report=corpus_report, by_id=by_id)


def _start_report(cfg: MineConfig, output: Path, o: _Opened) -> MineReport:
    """The report's first counts, and the cross-lingual plan (which sets each row's search text)."""
    crosses = bool(getattr(o.retriever, "cross_lingual", False))
    include_title = getattr(o.retriever, "include_title", True)
    ways, n_cross = plan_cross_lingual(o.rows, lambda pid: passage_text(o.passages[o.by_id[pid]], include_title),
                                       mode=cfg.cross_lingual, crosses_languages=crosses, retriever=o.retriever.name,
                                       queries=str(cfg.queries))
    n = len(o.passages)
    if cfg.k > n:
        log.warning("-k %d is larger than the corpus (%d passages); mining %d", cfg.k, n, n)
    return MineReport(output=str(output), queries_from=str(cfg.queries), queries=len(o.rows), passages=n, k=cfg.k,
                      k_effective=min(cfg.k, n), cross_lingual=cfg.cross_lingual, cross_lingual_rows=n_cross,
                      mined_with=ways,
                      cross_lingual_line=describe_cross_lingual(ways, n_cross, len(o.rows), cfg.cross_lingual,
                                                                o.retriever.name, crosses))


def _search(cfg: MineConfig, o: _Opened, report: MineReport) -> tuple[_Searched, float]:
    """Build or reuse the index, then search the chunks of ``chunk_size`` queries not yet on disk (each written
    atomically). Returns where the results are and when indexing ended; closes the retriever."""
    from drama_data.paths import cache_dir

    work = Path(cfg.work_dir) if cfg.work_dir else cache_dir() / "mine"
    retriever, rows, chunk_size = o.retriever, o.rows, cfg.chunk_size
    fp = corpus_fingerprint(o.passages)
    settings = retriever.settings()
    index_key = _digest(settings, fp)[:16]
    index_dir = work / "index" / f"{retriever.name}-{index_key}"
    try:
        report.index_reused = _prepare_index(retriever, o.passages, index_dir)
        t_index = time.perf_counter()
        line = retriever.describe()
        run_key = _digest(index_key, cfg.k, chunk_size, [(r.query_id, r.query, r.source_passage_id, r.mined_with,
                                                          r.search_text) for r in rows])[:16]
        run_dir = work / "runs" / run_key
        run_dir.mkdir(parents=True, exist_ok=True)
        n_chunks = -(-len(rows) // chunk_size)
        report.chunks_total = n_chunks
        paths = [run_dir / f"chunk-{c:06d}.parquet" for c in range(n_chunks)]
        done = [p.is_file() for p in paths]
        report.chunks_reused = sum(done)
        initial = sum(min(chunk_size, len(rows) - c * chunk_size) for c in range(n_chunks) if done[c])
        bar = tqdm(total=len(rows), initial=initial, desc=f"mine {retriever.name}", unit="q",
                   disable=not cfg.progress, mininterval=0.5)
        for c in range(n_chunks):
            if done[c]:
                continue
            chunk = rows[c * chunk_size:(c + 1) * chunk_size]
            hits: list = []
            for s in range(0, len(chunk), cfg.batch_size):
                batch = chunk[s:s + cfg.batch_size]
                hits.extend(retriever.search([r.search_text for r in batch], cfg.k))
                bar.update(len(batch))
            _write_atomic_parquet(_chunk_table(chunk, hits, line), paths[c])
        bar.close()
    finally:
        retriever.close()
    return _Searched(paths=paths, run_dir=run_dir, index_dir=index_dir, settings=settings, line=line,
                     fingerprint=fp), t_index


def _collect(cfg: MineConfig, o: _Opened, s: _Searched, report: MineReport) -> tuple[pa.Table, list[Passage]]:
    """Join the run chunks into the candidates table, pick the referenced passages and count into ``report``."""
    table = pa.concat_tables([pq.read_table(p, schema=CANDIDATES_SCHEMA) for p in s.paths])
    cand_lists = table.column("candidates").to_pylist()
    src_ids = table.column("source_passage_id").to_pylist()
    src_ranks = table.column("source_rank").to_pylist()
    referenced = {c["docid"] for cl in cand_lists for c in cl} | {x for x in src_ids if x}
    unknown = referenced - set(o.by_id)
    if unknown:  # a stale chunk from another corpus cannot get here (keys), but never write dangling ids
        raise InputError(f"{s.run_dir.parent.parent}: cached results reference passages not in the corpus, e.g. "
                         f"{sorted(unknown)[:3]}; delete the work folder and rerun")
    keep = [p for p in o.passages if p.id in referenced]
    report.no_candidates = sum(1 for cl in cand_lists if not cl)
    report.empty_queries = sum(1 for r in o.rows if not r.query.strip())
    # a passage searched with its own text finds itself: those rows say nothing about the retriever
    real = [w != "passage" for w in table.column("mined_with").to_pylist()]
    report.with_source = sum(1 for x, ok in zip(src_ids, real) if x and ok)
    report.source_retrieved = sum(1 for r, ok in zip(src_ranks, real) if r is not None and ok)
    report.source_rank_1 = sum(1 for r, ok in zip(src_ranks, real) if r == 1 and ok)
    report.mean_candidates = round(sum(len(cl) for cl in cand_lists) / max(1, len(cand_lists)), 3)
    report.retriever = {**s.settings, "describe": s.line, "index_dir": str(s.index_dir)}
    return table, keep


def _write(cfg: MineConfig, output: Path, o: _Opened, s: _Searched, report: MineReport, table: pa.Table,
           keep: list[Passage]) -> None:
    """Write the dataset folder (candidates, passages, card, provenance.json) atomically; drop the run chunks
    unless ``keep_work``."""
    ptable = pa.Table.from_pylist([{"id": p.id, "doc_id": p.doc_id, "title": p.title, "text": p.text} for p in keep],
                                  schema=PASSAGES_SCHEMA)
    provenance = {
        "stage": "mine", "created": utc_now(), "queries": str(cfg.queries), "queries_config": cfg.queries_config,
        "corpus": str(o.corpus), "corpus_report": o.corpus_report.as_dict(), "corpus_fingerprint": s.fingerprint,
        "chunking": o.chunking, "options_from": o.origin, "k": cfg.k, "report": report.as_dict(),
    }
    tables = {"candidates": table, "passages": ptable}
    write_dataset(output, tables, default="candidates",
                  card_body=_card(report, provenance, len(keep)),
                  card_meta={"tags": ["retrieval", "hard-negatives", "drama"], "drama_stage": "mine",
                             "drama_mine": {"k": cfg.k, "k_effective": report.k_effective,
                                            "retriever": o.retriever.name, "queries": report.queries,
                                            "passages": len(keep)}},
                  extra_files={"provenance.json": dumps(provenance)}, overwrite=True)
    if not cfg.keep_work:
        shutil.rmtree(s.run_dir, ignore_errors=True)


def _card(report: MineReport, prov: dict, n_passages_out: int) -> str:
    """The card's body (``cards/mine_card.md.j2``)."""
    settings = [(k, v) for k, v in report.retriever.items() if k not in ("describe", "index_dir")]
    return render_card("mine_card.md.j2", report=report, prov=prov, settings=settings,
                       n_passages_out=n_passages_out, citation=PAPER_CITATION)
