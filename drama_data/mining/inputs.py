"""The ``mine`` stage's inputs: the queries dataset (:func:`read_queries` -> :class:`QueryRow` per query, checked)
and the corpus options ``generate`` recorded in its ``provenance.json`` (:func:`resolve_corpus_options`), so that
passage ids line up; :func:`check_source_passages` names a query whose source passage is not in the chunked corpus.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from drama_data.chunking import DEFAULT_MAX_TOKENS, Passage
from drama_data.corpus import Fields
from drama_data.datasets.folder import read_table
from drama_data.errors import ConfigError, InputError

log = logging.getLogger(__name__)


@dataclass
class QueryRow:
    """One query to mine (read from the queries dataset)."""

    query_id: str
    query: str
    source: str
    language: str
    source_passage_id: str
    passage_language: str = ""
    source_query: str = ""
    source_language: str = ""
    #: what is searched (the query, or see :mod:`drama_data.mining.crosslingual`) and which way that is
    search_text: str = ""
    mined_with: str = "query"


def read_queries(folder: str | Path, config: str = "queries") -> list[QueryRow]:
    """Read and validate the queries dataset (raises ``InputError`` naming the folder, row and query id)."""
    from drama_data.sources import local_path

    folder = local_path(folder, "--queries", kind="folder")
    table = read_table(folder, config)
    missing = [c for c in ("query_id", "query") if c not in table.column_names]
    if missing:
        raise InputError(f"--queries {folder} (config {config!r}): missing column(s) {', '.join(missing)} "
                         f"(columns: {', '.join(table.column_names)}); expected a dataset written by "
                         "`drama-data generate`")
    cols = {c: table.column(c).to_pylist() if c in table.column_names else None
            for c in ("query_id", "query", "source", "language", "passage_id", "passage_language", "source_query",
                      "source_language")}
    rows, seen = [], {}
    for i in range(table.num_rows):
        qid = cols["query_id"][i]
        if qid is None or str(qid) == "":
            raise InputError(f"--queries {folder}: row {i + 1} has an empty query_id")
        qid = str(qid)
        if qid in seen:
            raise InputError(f"--queries {folder}: query_id {qid!r} occurs twice (rows {seen[qid]} and {i + 1})")
        seen[qid] = i + 1

        def get(c: str, i: int = i) -> str:
            return "" if cols[c] is None or cols[c][i] is None else str(cols[c][i])

        rows.append(QueryRow(query_id=qid, query=get("query"), source=get("source"), language=get("language"),
                             source_passage_id=get("passage_id"), passage_language=get("passage_language"),
                             source_query=get("source_query"), source_language=get("source_language")))
    return rows


def check_source_passages(rows: Sequence[QueryRow], passages: Sequence[Passage], *, queries: str, corpus: str,
                          chunking: dict) -> None:
    """Raise naming the query and passage id when a query's ``passage_id`` is not in the chunked corpus."""
    passage_ids = {p.id for p in passages}
    bad = [(i, r) for i, r in enumerate(rows) if r.source_passage_id and r.source_passage_id not in passage_ids]
    if not bad:
        return
    i, r = bad[0]
    chunks = [p.id for p in passages if p.doc_id == r.source_passage_id]
    hint = (f" The document {r.source_passage_id!r} was split into {len(chunks)} chunks ({', '.join(map(repr, chunks[:3]))}"
            f"{', ...' if len(chunks) > 3 else ''}): generate used other chunking options.") if chunks else ""
    n_passages = len(passages)
    more = f" ({len(bad)} queries in all, e.g. " + ", ".join(repr(x.query_id) for _, x in bad[1:4]) + ")" \
        if len(bad) > 1 else ""
    raise InputError(
        f"--queries {queries}: row {i + 1}, query {r.query_id!r}: passage_id {r.source_passage_id!r} is not in "
        f"the corpus {corpus} ({n_passages} passages after chunking with {chunking}){more}. "
        "Mine with the same corpus and --chunk-tokens/--chunk-tokenizer/--pack-tokens/--*-field/--split options as "
        "generate."
        + hint)


def recorded_corpus(queries: str | Path) -> dict:
    """The corpus and chunking options ``generate`` recorded in the queries' ``provenance.json`` ({} if none)."""
    path = Path(queries) / "provenance.json"
    if not path.is_file():
        return {}
    try:
        corpus = json.loads(path.read_text(encoding="utf-8")).get("corpus") or {}
    except (OSError, ValueError):
        log.warning("%s: unreadable provenance.json; not using its corpus options", queries)
        return {}
    return corpus if isinstance(corpus, dict) else {}


def resolve_corpus_options(queries, corpus, fields, split, max_tokens, chunk_tokenizer,
                           pack_tokens: int | None = None) -> tuple[str, dict, dict]:
    """Fill the corpus options left as ``None`` from what ``generate`` recorded, then from the defaults.

    ``pack_tokens`` (``generate --pack-tokens``: passages packed into long documents, :mod:`drama_data.packing`)
    is taken from the record when not given, so mine reads the same packed documents and ids; it is in the
    options only when packing.

    Returns ``(corpus, options for load_passages, {option: "given" | "recorded" | "default"})``.
    """
    rec = recorded_corpus(queries)
    origin: dict[str, str] = {}

    def pick(name, value, recorded, default):
        if value is not None:
            origin[name] = "given"
            if recorded not in (None, "", {}) and recorded != value:
                log.warning("%s=%r differs from %r recorded by generate in %s", name, value, recorded, queries)
            return value
        if recorded not in (None, "", {}):
            origin[name] = "recorded"
            return recorded
        origin[name] = "default"
        return default

    corpus = pick("corpus", corpus, rec.get("source"), None)
    if not corpus:
        raise ConfigError(f"--corpus: missing, and {queries}/provenance.json does not record the corpus")
    if origin["corpus"] == "recorded" and not Path(corpus).expanduser().exists() and (
            Path(corpus).is_absolute() or str(corpus).count("/") != 1):
        raise ConfigError(f"--corpus: not given, and the corpus generate recorded ({corpus}) is not here; "
                          "pass --corpus")
    rec_fields = rec.get("fields") or {}
    rec_fields = Fields(**{k: rec_fields.get(k) for k in ("id", "title", "text")}) if any(rec_fields.values()) else None
    tok = rec.get("chunk_tokenizer")
    options = {
        "fields": pick("fields", fields, rec_fields, None),
        "split": pick("split", split, rec.get("split"), "train"),
        "max_tokens": pick("max_tokens", max_tokens, rec.get("max_tokens"), DEFAULT_MAX_TOKENS),
        "chunk_tokenizer": pick("chunk_tokenizer", chunk_tokenizer, None if tok in (None, "words") else tok, None),
    }
    packed = pick("pack_tokens", pack_tokens, rec.get("pack_tokens"), None)
    if packed:
        options["pack_tokens"] = int(packed)
    else:  # not packing: no pack_tokens in the options nor in where they came from (cards stay as they were)
        origin.pop("pack_tokens", None)
    return str(corpus), options, origin
