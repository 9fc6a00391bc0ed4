"""Corpus readers: a BEIR folder, a jsonl/parquet file, a Hugging Face dataset, or a folder of your own
documents (.txt, .md, .html, .pdf; see :mod:`drama_data.documents`), into ``Document`` records.

Every reader validates as it goes and raises :class:`~drama_data.errors.InputError` naming the file and line
(or the id) for a malformed json line, non-UTF-8 bytes, a missing id or text field, or a duplicate id.
Documents whose text is empty are skipped and counted (``CorpusReport.skipped``), or raise with
``on_empty="error"``. Nothing is written by a reader.
"""
from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from drama_data.beir import corpus_file
from drama_data.document_record import Document
from drama_data.errors import InputError

ID_FIELDS = ("_id", "id", "docid", "doc_id", "pid", "passage_id")
TITLE_FIELDS = ("title",)
TEXT_FIELDS = ("text", "contents", "passage", "body", "content")
CORPUS_OPTION = "--corpus"  # the option named in a missing-path or Hub error


@dataclass
class CorpusReport:
    """What a reader saw: where it read from, how many documents, and what it skipped and why."""

    source: str
    documents: int = 0
    skipped: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"source": self.source, "documents": self.documents, "skipped": len(self.skipped),
                "skipped_examples": self.skipped[:200]}


@dataclass(frozen=True)
class Fields:
    """Which record fields hold the id, title and text; ``None`` means auto-detect from the usual names."""

    id: str | None = None
    title: str | None = None
    text: str | None = None


def _open_text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, decoded_line)``; non-UTF-8 bytes raise naming the file, line and byte."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            for lineno, raw in enumerate(fh, start=1):
                try:
                    yield lineno, raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise InputError(
                        f"{path}:{lineno}: not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"
                    ) from None
    except (OSError, EOFError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"{path}: cannot read ({exc})") from None


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, object)`` from a ``.jsonl`` or ``.jsonl.gz`` file; blank lines are ignored."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    for lineno, line in _open_text_lines(path):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}:{lineno}: malformed JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(obj, dict):
            raise InputError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
        yield lineno, obj


def _pick(record: dict, wanted: str | None, candidates: tuple[str, ...], *, required: bool, what: str, where: str):
    if wanted is not None:
        if wanted not in record:
            if required:
                raise InputError(f"{where}: missing {what} field {wanted!r} (fields: {sorted(record)})")
            return None
        return record[wanted]
    for name in candidates:
        if name in record:
            return record[name]
    if required:
        raise InputError(
            f"{where}: no {what} field (looked for {', '.join(candidates)}; fields: {sorted(record)}); "
            f"name it with --{what}-field"
        )
    return None


def _records_to_documents(
    records: Iterable[tuple[str, dict]], fields: Fields, report: CorpusReport, on_empty: str,
    rescan: Callable[[], Iterable[tuple[str, dict]]] | None = None,
) -> Iterator[Document]:
    """Documents of ``records`` (``(where, record)`` pairs), validated in order. Ids are remembered compactly
    (:class:`~drama_data.seen_ids.SeenIds`); a possible repeat is confirmed, and its first place found, by reading
    ``rescan()`` (the same records again) up to it, so memory stays at about 8 bytes per document."""
    from drama_data.seen_ids import SeenIds

    seen = SeenIds()
    for where, rec in records:
        doc_id = _pick(rec, fields.id, ID_FIELDS, required=True, what="id", where=where)
        if doc_id is None or str(doc_id).strip() == "":
            raise InputError(f"{where}: empty document id")
        doc_id = str(doc_id)
        text = _pick(rec, fields.text, TEXT_FIELDS, required=True, what="text", where=where)
        title = _pick(rec, fields.title, TITLE_FIELDS, required=False, what="title", where=where) or ""
        if text is not None and not isinstance(text, str):
            raise InputError(f"{where}: text of document {doc_id!r} is {type(text).__name__}, not a string")
        if seen.add(doc_id):
            first = _first_place(rescan, doc_id, where, fields) if rescan is not None else "an earlier record"
            if first is not None:
                raise InputError(f"{where}: duplicate document id {doc_id!r} (first seen at {first})")
        if text is None or not text.strip():
            if on_empty == "error":
                raise InputError(f"{where}: document {doc_id!r} has an empty text field")
            report.skipped.append({"id": doc_id, "where": where, "reason": "empty text"})
            continue
        report.documents += 1
        yield Document(id=doc_id, title=str(title).strip(), text=text.strip())


def _first_place(rescan, doc_id: str, where: str, fields: Fields) -> str | None:
    """Where ``doc_id`` first occurs in ``rescan()`` before ``where``; ``None``: only a digest collision."""
    for w, rec in rescan():
        if w == where:
            return None
        found = _pick(rec, fields.id, ID_FIELDS, required=False, what="id", where=w)
        if found is not None and str(found) == doc_id:
            return w
    return None


def _iter_source_records(source: str, split: str) -> Iterator[tuple[str, dict]]:
    from drama_data.sources import resolve_source

    resolved = resolve_source(source, CORPUS_OPTION)  # a missing local path: one line, no Hub lookup
    if resolved.hub_id is not None:
        yield from _iter_hub_records(resolved, split)
        return
    path = resolved.path
    if path.is_dir():
        beir = corpus_file(path)
        if beir is not None:
            for lineno, obj in iter_jsonl(beir):
                yield f"{beir}:{lineno}", obj
            return
        yield from _iter_hf_records(str(path), split)
        return
    name = path.name.lower()
    if name.endswith((".jsonl", ".jsonl.gz", ".json.gz", ".ndjson")) or name.endswith(".json"):
        for lineno, obj in iter_jsonl(path):
            yield f"{path}:{lineno}", obj
        return
    if name.endswith(".parquet"):
        yield from _iter_parquet(path)
        return
    raise InputError(f"{path}: unknown corpus format (expected .jsonl, .jsonl.gz, .parquet, "
                     f".txt, .md, .html, .pdf, a folder of those, or a BEIR folder)")


def _iter_parquet(path: Path) -> Iterator[tuple[str, dict]]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a broken file
        raise InputError(f"{path}: not a readable parquet file ({exc})") from None
    row = 0
    for batch in pf.iter_batches(batch_size=4096):
        for rec in batch.to_pylist():
            row += 1
            yield f"{path} row {row}", rec


def _iter_hf_records(name: str, split: str) -> Iterator[tuple[str, dict]]:
    """Rows of a local dataset folder (``save_to_disk`` or one ``datasets.load_dataset`` reads)."""
    import datasets

    try:
        if any((Path(name) / f).exists() for f in ("dataset_info.json", "state.json", "dataset_dict.json")):
            ds = datasets.load_from_disk(name)
            if isinstance(ds, datasets.DatasetDict):
                if split not in ds:
                    raise InputError(f"{name}: no split {split!r} (splits: {list(ds)})")
                ds = ds[split]
        else:
            ds = datasets.load_dataset(name, split=split)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"{name}: cannot load as a folder with split {split!r} ({type(exc).__name__}: {exc})") from None
    for i, rec in enumerate(ds):
        yield f"{name}[{split}] row {i + 1}", rec


def _iter_hub_records(source, split: str) -> Iterator[tuple[str, dict]]:
    """Rows of a Hugging Face Hub dataset (``source``: a resolved :class:`~drama_data.sources.Source`)."""
    from drama_data.sources import load_hub_dataset

    ds = load_hub_dataset(source, CORPUS_OPTION, split=split)
    for i, rec in enumerate(ds):
        yield f"{source.hub_id}[{split}] row {i + 1}", rec


def read_documents(
    source: str | Path,
    *,
    fields: Fields = Fields(),
    split: str = "train",
    on_empty: str = "skip",
) -> tuple[list[Document], CorpusReport]:
    """Read every document of ``source`` (BEIR folder, jsonl[.gz]/parquet file, HF dataset folder or name).

    Returns the documents in source order and a report of what was skipped. Raises ``InputError`` before
    returning anything if any record is malformed, so callers never write partial output.
    """
    if on_empty not in ("skip", "error"):
        raise ValueError("on_empty must be 'skip' or 'error'")
    report = CorpusReport(source=str(source))
    from drama_data.documents import is_document_file, is_document_folder, read_document_folder

    path = Path(str(source)).expanduser()
    if is_document_folder(path) or is_document_file(path):
        docs, report.skipped = read_document_folder(path)
        report.documents = len(docs)
        if not docs:
            reasons = "; ".join(f"{s['id']}: {s['reason']}" for s in report.skipped[:3])
            raise InputError(f"{source}: no readable documents ({len(report.skipped)} skipped: {reasons})")
        return docs, report
    docs = list(iter_documents(source, fields=fields, split=split, on_empty=on_empty, report=report))
    if not docs:
        raise no_documents(source, report)
    return docs, report


def no_documents(source, report: CorpusReport) -> InputError:
    """The error for a record source that gave no document with text (``report``: what was skipped)."""
    return InputError(f"{source}: the corpus has no documents with text ({len(report.skipped)} skipped)")


def iter_documents(source: str | Path, *, fields: Fields = Fields(), split: str = "train", on_empty: str = "skip",
                   report: CorpusReport | None = None) -> Iterator[Document]:
    """The documents of a record source (BEIR folder, jsonl[.gz]/parquet file, HF dataset), read lazily in source
    order: a caller that stops early (``generate --limit``) never reads the rest. ``report`` counts what was read
    and skipped so far; a malformed record raises ``InputError`` when it is reached."""
    report = report if report is not None else CorpusReport(source=str(source))
    yield from _records_to_documents(_iter_source_records(str(source), split), fields, report, on_empty,
                                     rescan=lambda: _iter_source_records(str(source), split))
