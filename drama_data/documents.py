"""Your own documents as a corpus: a folder (or one file) of ``.txt``, ``.md``, ``.html``/``.htm`` and ``.pdf``.

Each readable file becomes one :class:`~drama_data.corpus.Document`:

- ``id``: the file's path relative to the folder, with ``/`` separators and its extension
  (``reports/2024/q1.pdf``), so ids are stable across machines and ``a.md`` never collides with ``a.html``;
- ``title``: HTML ``<title>`` (else the first ``<h1>``), PDF metadata ``/Title`` (else the first line of the
  first page when it is short), Markdown's first ``# `` heading; else the file name without extension;
- ``text``: plain text. HTML goes through ``trafilatura`` (main content, boilerplate such as menus and
  footers removed; falls back to all visible text when the extractor keeps nothing); PDF through ``pypdf``
  (pages joined by blank lines); ``.txt``/``.md`` are read as UTF-8 as they are.

Unreadable files are never fatal: an encrypted PDF, a broken PDF, binary or non-UTF-8 bytes, a file without
text, or a file of another type is returned as a skip record ``{"id", "where", "reason"}``; a PDF page without
extractable text (a scanned image) is listed the same way (``id`` ``<file>#page=N``) while the rest of the
document is kept. Hidden files and folders (names starting with ``.``) are ignored.
"""
from __future__ import annotations

import io
import logging
import re
from pathlib import Path
from typing import Iterator

from drama_data.corpus import Document

DOCUMENT_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf")
DATA_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv", ".arrow", ".gz", ".tsv")
MAX_PDF_TITLE_CHARS = 120

_MD_H1 = re.compile(r"^#\s+(.+?)\s*#*\s*$", re.MULTILINE)


class Unreadable(Exception):
    """A file (or page) that cannot give text; the message is the reason shown to the user."""


def is_document_folder(path: Path) -> bool:
    """True if ``path`` holds document files (see module doc) and no data files a dataset loader would read."""
    if not path.is_dir():
        return False
    found = False
    for f in _walk(path):
        name = f.name.lower()
        if name.endswith(DATA_SUFFIXES):
            return False
        found = found or name.endswith(DOCUMENT_SUFFIXES)
    return found


def is_document_file(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(DOCUMENT_SUFFIXES)


def _walk(folder: Path) -> Iterator[Path]:
    for f in sorted(folder.rglob("*")):
        rel = f.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts) or not f.is_file():
            continue
        yield f


def read_document_folder(source: str | Path) -> tuple[list[Document], list[dict]]:
    """Read every document file under ``source`` (a folder, or one document file), in path order.

    Returns ``(documents, skipped)``; ``skipped`` lists every file or page left out, with its reason.
    """
    root = Path(source).expanduser()
    files = [root] if root.is_file() else list(_walk(root))
    base = root.parent if root.is_file() else root
    docs: list[Document] = []
    skipped: list[dict] = []
    for f in files:
        doc_id = f.relative_to(base).as_posix()
        if not f.name.lower().endswith(DOCUMENT_SUFFIXES):
            skipped.append({"id": doc_id, "where": str(f), "reason": f"unsupported file type {f.suffix or '(none)'!r}"})
            continue
        try:
            title, text, page_skips = read_document_file(f)
        except Unreadable as exc:
            skipped.append({"id": doc_id, "where": str(f), "reason": str(exc)})
            continue
        for page, reason in page_skips:
            skipped.append({"id": f"{doc_id}#page={page}", "where": str(f), "reason": reason})
        docs.append(Document(id=doc_id, title=title or f.stem, text=text))
    return docs, skipped


def read_document_file(path: Path) -> tuple[str, str, list[tuple[int, str]]]:
    """``(title, text, [(page, reason), ...])`` of one file; raises :class:`Unreadable` with the reason."""
    suffix = path.suffix.lower()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise Unreadable(f"cannot read ({exc.strerror or exc})") from None
    if not data.strip():
        raise Unreadable("empty file")
    if suffix == ".pdf":
        return pdf_text(data)
    if suffix in (".html", ".htm"):
        title, text = html_text(data)
        return title, _nonempty(text), []
    text = _decode_text(data)
    title = ""
    if suffix in (".md", ".markdown"):
        m = _MD_H1.search(text)
        title = m.group(1).strip() if m else ""
    return title, _nonempty(text), []


def _nonempty(text: str) -> str:
    text = (text or "").strip()
    if not text:
        raise Unreadable("no text")
    return text


def _decode_text(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise Unreadable("binary file (NUL bytes), not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Unreadable(f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None


def html_text(data: bytes) -> tuple[str, str]:
    """``(title, main text)`` of an HTML page (bytes; the encoding is detected from the page)."""
    import trafilatura
    from trafilatura.settings import use_config

    if b"\x00" in data[:8192]:
        raise Unreadable("binary file (NUL bytes), not HTML")
    config = use_config()
    config.set("DEFAULT", "EXTRACTION_TIMEOUT", "0")  # no signal handlers: safe in threads and workers
    logging.getLogger("trafilatura").setLevel(logging.ERROR)
    try:
        tree = trafilatura.load_html(data)
    except Exception as exc:  # lxml raises several types for junk
        raise Unreadable(f"not readable HTML ({type(exc).__name__})") from None
    if tree is None:
        raise Unreadable("not readable HTML")
    text = trafilatura.extract(tree, config=config, include_comments=False, include_tables=True,
                               favor_recall=True) or ""
    if not text.strip():
        text = trafilatura.html2txt(tree) or ""
    title = ""
    titles = tree.xpath("//title/text()") or tree.xpath("//h1//text()")
    if titles:
        title = " ".join(" ".join(titles[:1]).split())
    return title, text


def pdf_text(data: bytes) -> tuple[str, str, list[tuple[int, str]]]:
    """``(title, text, empty pages)`` of a PDF; encrypted (with a non-empty password) or broken ones raise."""
    import pypdf
    from pypdf.errors import PyPdfError

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                ok = reader.decrypt("")
            except Exception:
                ok = 0
            if not ok:
                raise Unreadable("encrypted PDF (needs a password)")
        pages, empty = [], []
        for i, page in enumerate(reader.pages, start=1):
            try:
                t = page.extract_text() or ""
            except Exception as exc:
                empty.append((i, f"page text not extractable ({type(exc).__name__})"))
                continue
            if t.strip():
                pages.append(t.strip())
            else:
                empty.append((i, "page has no extractable text (scanned image?)"))
        meta_title = ""
        try:
            meta_title = ((reader.metadata or {}).get("/Title") or "").strip()
        except Exception:
            meta_title = ""
    except Unreadable:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, OSError, RecursionError) as exc:
        raise Unreadable(f"not a readable PDF ({type(exc).__name__}: {str(exc)[:80]})") from None
    if not pages:
        raise Unreadable("PDF has no extractable text (scanned images?)" if empty else "PDF has no pages")
    text = "\n\n".join(pages)
    title = str(meta_title)
    if not title:
        first = pages[0].splitlines()[0].strip()
        title = first if len(first) <= MAX_PDF_TITLE_CHARS and len(pages[0].splitlines()) > 1 else ""
    return title, text, empty
