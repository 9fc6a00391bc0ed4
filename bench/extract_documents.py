"""Pages/s of the own-documents corpus reader (:mod:`drama_data.documents`): PDF through pypdf, HTML through
trafilatura, Markdown through markdown-it-py.

Builds ``--docs`` documents from scifact abstracts (title + text) in a temporary folder: multi-page PDFs written by
matplotlib's PDF backend (TrueType fonts, text in lines, ``--pages`` pages each: a realistic producer, not a toy
writer), HTML article pages with the usual menu, sidebar and footer around the text, and Markdown pages with front
matter, headings, emphasis, links, a table and a code block. Then reads the folder with ``read_document_folder``
(the path ``--corpus DIR`` takes), times each type, and checks that no boilerplate, markup or heading came back as
text. Runs on one core in a few seconds.

    python bench/extract_documents.py [--data-root ../shared/data] [--docs 40] [--pages 4]

Last line: ``pdf_pages_per_s: <v>, html_pages_per_s: <v>, md_pages_per_s: <v> (goal: >= 20 PDF, >= 50 HTML and
>= 200 Markdown pages/s on one core)``.
"""
from __future__ import annotations

import argparse
import html
import tempfile
import textwrap
import time
from pathlib import Path

from scifact_data import DEFAULT_DATA_ROOT, scifact


def write_pdf(path: Path, title: str, pages: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["pdf.fonttype"] = 42
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    with PdfPages(path, metadata={"Title": title}) as pdf:
        for body in pages:
            fig = plt.figure(figsize=(8.27, 11.69))
            lines = textwrap.wrap(body, 90)[:55]
            for i, line in enumerate(lines):
                fig.text(0.07, 0.95 - i * 0.016, line, fontsize=9)
            pdf.savefig(fig)
            plt.close(fig)


def write_html(path: Path, title: str, text: str) -> None:
    paras = "".join(f"<p>{html.escape(p)}</p>\n" for p in textwrap.wrap(text, 400))
    path.write_text(
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head><body>"
        "<header><nav><a href='/'>Home</a> <a href='/topics'>Topics</a> <a href='/about'>About</a></nav></header>"
        f"<main><article><h1>{html.escape(title)}</h1>{paras}</article></main>"
        "<aside><h3>Related</h3><ul><li><a href='/a'>Another study</a></li><li><a href='/b'>More</a></li></ul></aside>"
        "<footer>Copyright 2025 Example Journal. All rights reserved. <a href='/privacy'>Privacy</a></footer>"
        "</body></html>", encoding="utf-8")


def write_markdown(path: Path, title: str, text: str) -> None:
    words = text.split()
    half = len(words) // 2
    first, second = " ".join(words[:half]), " ".join(words[half:])
    path.write_text(
        f"---\ntitle: \"{title.replace(chr(34), '')}\"\nsource: scifact\n---\n\n# {title}\n\n"
        f"**Summary.** {first} See [the study](https://example.org/{path.stem}) for details.\n\n"
        f"## Findings\n\n| Measure | Value |\n|---|---|\n| words | {len(words)} |\n\n_{second}_\n\n"
        "```python\nprint('not text')\n```\n", encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", default=str(DEFAULT_DATA_ROOT))
    ap.add_argument("--docs", type=int, default=40, help="documents per type")
    ap.add_argument("--pages", type=int, default=4, help="pages per PDF")
    args = ap.parse_args()
    from drama_data.documents import read_document_folder

    corpus = scifact(args.data_root).corpus
    items = [(d, v) for d, v in list(corpus.items())[: args.docs * args.pages]]
    with tempfile.TemporaryDirectory() as tmp:
        pdf_dir, html_dir, md_dir = Path(tmp) / "pdf", Path(tmp) / "html", Path(tmp) / "md"
        for folder in (pdf_dir, html_dir, md_dir):
            folder.mkdir()
        for k in range(args.docs):
            group = items[k * args.pages:(k + 1) * args.pages]
            write_pdf(pdf_dir / f"{k}.pdf", group[0][1]["title"], [g[1]["text"] for g in group])
            write_html(html_dir / f"{k}.html", items[k][1]["title"], items[k][1]["text"])
            write_markdown(md_dir / f"{k}.md", items[k][1]["title"], items[k][1]["text"])
        results = {}
        for name, folder, pages in (("pdf", pdf_dir, args.docs * args.pages), ("html", html_dir, args.docs),
                                    ("md", md_dir, args.docs)):
            read_document_folder(folder)  # warm-up: imports
            t0 = time.perf_counter()
            docs, skipped = read_document_folder(folder)
            dt = time.perf_counter() - t0
            words = " ".join(d.text for d in docs).split()
            print(f"{name}: {len(docs)} documents, {pages} pages in {dt:.2f} s, {len(skipped)} skipped, "
                  f"{len(words)} words; first title {docs[0].title[:60]!r}")
            results[name] = pages / dt
        html_docs, _ = read_document_folder(html_dir)
        assert all("All rights reserved" not in d.text for d in html_docs), "boilerplate kept"
        md_docs, _ = read_document_folder(md_dir)
        for d in md_docs:
            assert not any(m in d.text for m in ("**", "](", "```", "not text", "title:", "| ", "Findings")), d.id
        assert sum(d.id.endswith("#findings") for d in md_docs) == args.docs, "sections not found"
    print(f"pdf_pages_per_s: {results['pdf']:.1f}, html_pages_per_s: {results['html']:.1f}, "
          f"md_pages_per_s: {results['md']:.1f} (goal: >= 20 PDF, >= 50 HTML and >= 200 Markdown pages/s on one core)")


if __name__ == "__main__":
    main()
