"""Markdown and HTML to plain text, by structure: a title and sections of plain text under their headings.

:func:`markdown_structure` ``(text) -> Structure`` parses Markdown with markdown-it-py (CommonMark plus tables
and strikethrough); :func:`html_structure` ``(body) -> Structure`` reads the XML tree that trafilatura extracts
from an HTML page (its main content, headings kept as ``<head rend="hN">``). Both give the same shape:

- ``Structure.title``: Markdown front matter's ``title:`` (YAML ``---`` or TOML ``+++``), else the page heading;
- the *page heading*: the document's only level-1 heading, when no other heading comes before it; it names the document, so it is the title (when there
  is no better one) and is never part of the text or of a section's headings;
- ``Structure.sections``: the text under each heading, with the path of headings above it
  (``("Inspection", "Inverter")``); the text before the first heading has ``headings=()``. Headings are never
  text: a heading without text under it gives no section.

What becomes of the markup (the same for Markdown and HTML):

- emphasis, strong, inline code markers and HTML tags are removed and their text kept; a link keeps its text,
  not its URL; images are dropped (their alt text too), and so is struck-through text (``~~old~~``: deleted);
- **code blocks are dropped** (fenced, indented, ``<pre>``): source code is neither a sentence to crop nor a
  passage a query is written for; inline code (```RESET```) is kept as text;
- **tables become plain text**, one line per row: ``Part: Inverter; Interval: yearly`` (header cell, colon, cell)
  when the table has a header row, else the cells joined by ``; ``;
- paragraphs, list items, quotes and table rows are separated by newlines (paragraphs by a blank line), so
  sentence splitting sees their ends; raw HTML blocks in Markdown keep their visible text (no scripts, styles
  or comments); front matter is never text.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

_FRONT_MATTER = re.compile(r"\A\ufeff?(?P<fence>---|\+\+\+)[ \t]*\r?\n(?P<body>.*?)\r?\n(?:(?P=fence)|\.\.\.)[ \t]*(?:\r?\n|\Z)",
                           re.DOTALL)
_SPACES = re.compile(r"[ \t\u00a0]+")


@dataclass(frozen=True)
class Section:
    """Plain ``text`` under the headings ``headings`` (outermost first; ``()``: before the first heading)."""

    headings: tuple[str, ...]
    text: str


@dataclass
class Structure:
    """A document's ``title`` ("" when it has none) and its ``sections`` in order."""

    title: str = ""
    sections: list[Section] = field(default_factory=list)

    @property
    def text(self) -> str:
        """All sections' text, in order, one blank line apart."""
        return "\n\n".join(s.text for s in self.sections)


# ----------------------------------------------------------------------------------------------- blocks


def _clean(text: str) -> str:
    """One line per input line, runs of spaces collapsed, blank lines dropped."""
    lines = (_SPACES.sub(" ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def _table_lines(rows: list[list[str]], header: list[str] | None) -> list[str]:
    """Table rows as lines of plain text (see the module doc)."""
    out = []
    for cells in rows:
        if header and len(header) == len(cells):
            parts = [f"{h}: {c}" if h else c for h, c in zip(header, cells) if c]
        else:
            parts = [c for c in cells if c]
        if parts:
            out.append("; ".join(parts))
    return out


def sectionize(blocks: list[tuple[int, str]], title: str = "") -> Structure:
    """``blocks``: ``(level, text)`` in order, level 1-6 for a heading and 0 for text. Returns the
    :class:`Structure` (the page heading and the section paths as the module doc says)."""
    blocks = [(level, _clean(text)) for level, text in blocks]
    blocks = [(level, text if level == 0 else " ".join(text.split())) for level, text in blocks if text]
    headings = [(level, text) for level, text in blocks if level]
    h1 = [text for level, text in headings if level == 1]
    page_heading = h1[0] if len(h1) == 1 and headings[0][0] == 1 else None  # the only h1, before any other heading
    structure = Structure(title=title or page_heading or "")
    stack: list[tuple[int, str]] = []
    current: list[str] = []

    def flush():
        if current:
            structure.sections.append(Section(tuple(t for _, t in stack), "\n\n".join(current)))
            current.clear()

    for level, text in blocks:
        if level == 0:
            current.append(text)
            continue
        if level == 1 and text == page_heading:  # names the document: the text around it is the lead
            continue
        flush()
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, text))
    flush()
    return structure


# --------------------------------------------------------------------------------------------- Markdown


def split_front_matter(text: str) -> tuple[dict, str]:
    """``(front matter, rest)``: a leading YAML (``---``) or TOML (``+++``) block that parses to a mapping is
    removed; anything else (e.g. a ``---`` rule that opens a file) is left to Markdown."""
    m = _FRONT_MATTER.match(text)
    if not m:
        return {}, text
    body = m.group("body")
    try:
        if m.group("fence") == "+++":
            import tomllib

            data = tomllib.loads(body)
        else:
            import yaml

            data = yaml.safe_load(body) if body.strip() else {}
    except Exception:  # noqa: BLE001 - not front matter after all (yaml and toml raise several types)
        return {}, text
    if not isinstance(data, dict):
        return {}, text
    return data, text[m.end():]


def front_matter_title(meta: dict) -> str:
    """The ``title`` (any case) of front matter, as one line; "" when there is none."""
    for key, value in meta.items():
        if str(key).lower() == "title" and isinstance(value, (str, int, float)):
            return " ".join(str(value).split())
    return ""


def _inline_text(token) -> str:
    """Plain text of a markdown-it ``inline`` token (see the module doc for what is kept)."""
    out: list[str] = []
    struck = 0
    for child in token.children or []:
        kind = child.type
        if kind in ("s_open", "s_close"):
            struck += 1 if kind == "s_open" else -1
        elif struck:
            continue
        elif kind in ("text", "code_inline"):
            out.append(child.content)
        elif kind in ("softbreak", "hardbreak"):
            out.append(" ")
        elif kind == "html_inline" and re.match(r"<br\s*/?>", child.content, re.IGNORECASE):
            out.append(" ")
        # image: dropped with its alt text; link/emphasis/strong open-close and other inline HTML: no text
    return "".join(out)


def html_fragment_text(html: str) -> str:
    """Visible text of an HTML fragment (scripts, styles and comments left out), one line per block element."""
    import lxml.html
    from lxml import etree

    try:
        root = lxml.html.fragment_fromstring(html, create_parent="div")
    except (etree.ParserError, ValueError):
        return ""
    etree.strip_elements(root, etree.Comment, "script", "style", "pre", with_tail=False)
    for br in root.iter("br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6"):
        br.tail = "\n" + (br.tail or "")
    return _clean(root.text_content())


@functools.lru_cache(maxsize=1)
def _markdown_parser():
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def markdown_blocks(text: str) -> list[tuple[int, str]]:
    """``(level, text)`` blocks of Markdown ``text`` (no front matter): headings 1-6, text 0."""
    tokens = _markdown_parser().parse(text)
    blocks: list[tuple[int, str]] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.type == "heading_open":
            blocks.append((int(tok.tag[1]), _inline_text(tokens[i + 1])))
            i += 3
            continue
        if tok.type == "table_open":
            header: list[str] | None = None
            rows: list[list[str]] = []
            row: list[str] = []
            in_head = False
            while tokens[i].type != "table_close":
                t = tokens[i]
                if t.type == "thead_open":
                    in_head = True
                elif t.type == "thead_close":
                    in_head = False
                elif t.type == "tr_open":
                    row = []
                elif t.type == "inline":
                    row.append(" ".join(_inline_text(t).split()))
                elif t.type == "tr_close":
                    if in_head:
                        header = row
                    else:
                        rows.append(row)
                i += 1
            lines = _table_lines(rows, header) if rows else ([" ".join(header)] if header else [])
            if lines:
                blocks.append((0, "\n".join(lines)))
        elif tok.type == "inline":  # paragraphs, list items, quotes
            blocks.append((0, _inline_text(tok)))
        elif tok.type == "html_block":
            blocks.append((0, html_fragment_text(tok.content)))
        # fence, code_block: dropped (see the module doc); hr and the open/close tokens carry no text
        i += 1
    return blocks


def markdown_structure(text: str) -> Structure:
    """Title and sections of a Markdown document (see the module doc)."""
    meta, body = split_front_matter(text)
    return sectionize(markdown_blocks(body), title=front_matter_title(meta))


# ------------------------------------------------------------------------------------------------- HTML


def _xml_text(element) -> str:
    """Text of a trafilatura XML element: inline markup removed, ``<lb/>`` a line break, nested code kept."""
    parts: list[str] = [element.text or ""]
    for child in element:
        if child.tag == "lb":
            parts.append("\n")
        elif child.tag != "graphic":
            parts.append(_xml_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def _xml_blocks(element, blocks: list[tuple[int, str]]) -> None:
    for child in element:
        tag = child.tag
        if tag == "head":
            rend = (child.get("rend") or "h2").lower()
            level = int(rend[1]) if re.fullmatch(r"h[1-6]", rend) else 2
            blocks.append((level, _xml_text(child)))
        elif tag in ("code", "graphic"):
            continue  # code blocks and images: dropped (see the module doc)
        elif tag == "table":
            header, rows = None, []
            for r in child.iter("row"):
                cells = [" ".join(_xml_text(c).split()) for c in r.iter("cell")]
                if header is None and not rows and any(c.get("role") == "head" for c in r.iter("cell")):
                    header = cells
                else:
                    rows.append(cells)
            lines = _table_lines(rows, header) if rows else ([" ".join(header)] if header else [])
            if lines:
                blocks.append((0, "\n".join(lines)))
        elif tag == "list":
            blocks.append((0, "\n".join(" ".join(_xml_text(item).split()) for item in child.iter("item"))))
        elif tag in ("p", "quote"):
            blocks.append((0, _xml_text(child)))
        elif len(child):
            _xml_blocks(child, blocks)
        else:
            blocks.append((0, _xml_text(child)))


def html_structure(body, title: str = "") -> Structure:
    """Title and sections of the main content trafilatura extracted from a page: ``body`` is the element
    ``trafilatura.bare_extraction(...).body`` (or the ``<main>`` of ``extract(output_format="xml")``), ``None``
    when it kept nothing; ``title``: the page's own (``<title>``), used before the page heading."""
    blocks: list[tuple[int, str]] = []
    if body is not None:
        _xml_blocks(body, blocks)
    return sectionize(blocks, title=title)
