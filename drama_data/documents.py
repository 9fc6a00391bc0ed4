"""Your own documents as a corpus: a folder (or one file) of ``.txt``, ``.md``, ``.html``/``.htm`` and ``.pdf``.

Each readable ``.txt`` or ``.pdf`` file becomes one :class:`~drama_data.corpus.Document`; a Markdown or HTML file
becomes one document per section (its structure is used, not copied; see :mod:`drama_data.markup`):

- ``id``: the file's path relative to the folder, with ``/`` separators and its extension
  (``reports/2024/q1.pdf``), so ids are stable across machines and ``a.md`` never collides with ``a.html``.
  The text of a Markdown/HTML file before its first section heading keeps that id; the text under a heading is
  ``<path>#<anchor>`` (``guide.md#inspection``: the heading in lower case, words joined by ``-``, made unique
  within the file, never only digits, so it cannot clash with a chunk's ``#<k>``);
- ``title``: Markdown front matter's ``title:``, HTML ``<title>``, PDF metadata ``/Title``; else the page heading
  (a Markdown/HTML file's only ``# ``/``<h1>`` heading; for HTML also the first ``<h1>``), the first line of a
  PDF's first page when it is short; else the file name without extension. A section's title is the document's
  followed by its headings: ``Solar panel care > Inspection > Inverter``. Headings are never passage text, so
  never a cropped sentence or the text a query is written for;
- ``text``: plain text. Markdown is parsed with markdown-it-py: front matter, emphasis, link URLs, images, HTML
  tags and code blocks are removed, tables become one ``header: cell; ...`` line per row. HTML goes through
  ``trafilatura`` (main content, boilerplate such as menus and footers removed; falls back to all visible text
  when the extractor keeps nothing), then the same rules; PDF through ``pypdf`` (pages joined by blank lines);
  ``.txt`` is read as UTF-8 as it is.

Unreadable files are never fatal: an encrypted PDF, a broken PDF, binary or non-UTF-8 bytes, a file without
text, or a file of another type is returned as a skip record ``{"id", "where", "reason"}``; a PDF page without
extractable text (a scanned image) is listed the same way (``id`` ``<file>#page=N``) while the rest of the
document is kept. Hidden files and folders (names starting with ``.``) are ignored.
"""
from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from pathlib import Path

from drama_data.document_record import Document
from drama_data.markup import Section, Structure, html_structure, markdown_structure

DOCUMENT_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf")
DATA_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv", ".arrow", ".gz", ".tsv")
MAX_PDF_TITLE_CHARS = 120
MAX_ANCHOR_CHARS = 60
TITLE_JOIN = " > "  # between a document's title and a section's headings


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
            structure, page_skips = read_document_file(f)
        except Unreadable as exc:
            skipped.append({"id": doc_id, "where": str(f), "reason": str(exc)})
            continue
        for page, reason in page_skips:
            skipped.append({"id": f"{doc_id}#page={page}", "where": str(f), "reason": reason})
        docs.extend(section_documents(doc_id, structure.title or f.stem, structure.sections))
    return docs, skipped


def anchor(heading: str) -> str:
    """A heading as an id part: lower case, runs of other characters than letters and digits as ``-``."""
    slug = re.sub(r"[^\w]+|_+", "-", heading.casefold()).strip("-")[:MAX_ANCHOR_CHARS].strip("-")
    return slug if slug and not slug.isdigit() else f"section-{slug}".rstrip("-")


def section_documents(doc_id: str, title: str, sections: list[Section]) -> list[Document]:
    """One document per section (see the module doc for ids and titles)."""
    docs, used = [], set()
    for section in sections:
        if not section.headings:
            docs.append(Document(id=doc_id, title=title, text=section.text))
            continue
        base = anchor(section.headings[-1])
        name, n = base, 1
        while name in used:
            n += 1
            name = f"{base}-{n}"
        used.add(name)
        docs.append(Document(id=f"{doc_id}#{name}", title=TITLE_JOIN.join((title, *section.headings)),
                             text=section.text))
    return docs


def read_document_file(path: Path) -> tuple[Structure, list[tuple[int, str]]]:
    """``(structure, [(page, reason), ...])`` of one file: its title ("" when it names none) and sections of plain
    text (one section for .txt and .pdf); raises :class:`Unreadable` with the reason."""
    suffix = path.suffix.lower()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise Unreadable(f"cannot read ({exc.strerror or exc})") from None
    if not data.strip():
        raise Unreadable("empty file")
    if suffix == ".pdf":
        title, text, empty = pdf_text(data)
        return Structure(title, [Section((), text)]), empty
    if suffix in (".html", ".htm"):
        return _nonempty_structure(html_document(data)), []
    text = _decode_text(data)
    if suffix in (".md", ".markdown"):
        return _nonempty_structure(markdown_structure(text)), []
    return Structure("", [Section((), _nonempty(text))]), []


def _nonempty_structure(structure: Structure) -> Structure:
    if not structure.sections:
        raise Unreadable("no text")
    return structure


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


def html_document(data: bytes) -> Structure:
    """Title and sections of an HTML page (bytes; the encoding is detected from the page): trafilatura's main
    content read by structure (:func:`drama_data.markup.html_structure`); all visible text as one section when
    the extractor keeps nothing."""
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
    titles = tree.xpath("//title//text()") or tree.xpath("//h1//text()")
    title = " ".join(" ".join(titles[:1]).split()) if titles else ""
    extracted = trafilatura.bare_extraction(tree, config=config, include_comments=False, include_tables=True,
                                            favor_recall=True)
    structure = html_structure(getattr(extracted, "body", None), title=title)
    if not structure.sections:
        text = (trafilatura.html2txt(tree) or "").strip()
        if text:
            structure.sections.append(Section((), text))
    return structure


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
