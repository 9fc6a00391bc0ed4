"""A folder of own documents as a corpus: real PDF and HTML (made here), Markdown, text, and broken files."""
from __future__ import annotations

import io

import pytest

from drama_data.chunking import load_passages
from drama_data.corpus import read_documents
from drama_data.documents import read_document_folder
from drama_data.errors import InputError


def make_pdf(pages: list[str], title: str | None = None) -> bytes:
    """A valid PDF with one line of Helvetica text per string (an empty string gives a page without text)."""
    objs: list[bytes] = []
    n_pages = len(pages)
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(n_pages))
    objs.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objs.append(f"<< /Type /Pages /Kids [{kids}] /Count {n_pages} >>".encode())
    objs.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for i, text in enumerate(pages):
        lines = [ln.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") for ln in text.split("\n")]
        ops = "".join(f"({ln}) Tj 0 -16 Td " for ln in lines if ln)
        stream = f"BT /F1 12 Tf 72 720 Td {ops}ET".encode() if ops else b""
        objs.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
                    f"/Contents {5 + 2 * i} 0 R >>".encode())
        objs.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    info = None
    if title:
        objs.append(f"<< /Title ({title}) >>".encode())
        info = len(objs)
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for k, body in enumerate(objs, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % k + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1))
    for off in offsets:
        out.write(b"%010d 00000 n \n" % off)
    trailer = f"<< /Size {len(objs) + 1} /Root 1 0 R" + (f" /Info {info} 0 R" if info else "") + " >>"
    out.write(f"trailer\n{trailer}\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


HTML_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Zinc and the common cold</title></head>
<body>
<nav><a href="/">Home</a> | <a href="/about">About</a> | <a href="/contact">Contact</a></nav>
<article>
<h1>Zinc lozenges and colds</h1>
<p>Zinc lozenges taken within a day of the first symptoms shortened colds by about a third in several
randomised trials. The effect depended on the dose of free zinc ions released in the mouth.</p>
<p>Lozenges with citric acid bind zinc and showed no effect, which explains some negative trials in the
literature. Side effects were mostly a bad taste and nausea.</p>
</article>
<footer>Copyright 2024 Example Health. All rights reserved.</footer>
</body></html>
"""


@pytest.fixture()
def folder(tmp_path):
    import pypdf

    d = tmp_path / "docs"
    (d / "reports").mkdir(parents=True)
    (d / "reports" / "zinc.pdf").write_bytes(make_pdf(
        ["Zinc study\nZinc lozenges shortened colds in adults.", "", "Results held in a second trial."],
        title="Zinc Trial Report"))
    (d / "untitled.pdf").write_bytes(make_pdf(["Vitamin C and colds\nNo effect on incidence was found."]))
    w = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(make_pdf(["Secret text here."]))))
    w.encrypt(user_password="secret", algorithm="RC4-128")
    buf = io.BytesIO()
    w.write(buf)
    (d / "locked.pdf").write_bytes(buf.getvalue())
    (d / "scanned.pdf").write_bytes(make_pdf(["", ""]))
    (d / "broken.pdf").write_bytes(b"%PDF-1.4\n this is not really a pdf \x00\x01\x02")
    (d / "page.html").write_text(HTML_PAGE, encoding="utf-8")
    (d / "notes.md").write_text("Intro line.\n\n# Vitamin D notes\n\nVitamin D was tested in winter.\n", encoding="utf-8")
    (d / "plain.txt").write_text("Plain text about echinacea.\n", encoding="utf-8")
    (d / "empty.txt").write_text("  \n\n", encoding="utf-8")
    (d / "junk.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (d / "latin1.md").write_bytes("caf\xe9".encode("latin-1"))
    (d / "image.png").write_bytes(b"\x89PNG")
    (d / ".hidden.txt").write_text("ignored", encoding="utf-8")
    return d


def test_folder_documents_titles_ids_and_skips(folder):
    docs, skipped = read_document_folder(folder)
    by_id = {d.id: d for d in docs}
    assert sorted(by_id) == ["notes.md", "page.html", "plain.txt", "reports/zinc.pdf", "untitled.pdf"]
    assert by_id["reports/zinc.pdf"].title == "Zinc Trial Report"
    assert "Zinc lozenges shortened colds in adults." in by_id["reports/zinc.pdf"].text
    assert "Results held in a second trial." in by_id["reports/zinc.pdf"].text
    assert by_id["untitled.pdf"].title == "Vitamin C and colds"  # first line of the first page
    assert by_id["page.html"].title == "Zinc and the common cold"
    html = by_id["page.html"].text
    assert "citric acid bind zinc" in html and "randomised trials" in html
    assert "All rights reserved" not in html and "Contact" not in html  # boilerplate removed
    assert by_id["notes.md"].title == "Vitamin D notes"
    assert by_id["plain.txt"].title == "plain" and by_id["plain.txt"].text == "Plain text about echinacea."
    reasons = {s["id"]: s["reason"] for s in skipped}
    assert set(reasons) == {"reports/zinc.pdf#page=2", "locked.pdf", "scanned.pdf", "broken.pdf", "empty.txt",
                            "junk.txt", "latin1.md", "image.png"}
    assert reasons["locked.pdf"] == "encrypted PDF (needs a password)"
    assert reasons["reports/zinc.pdf#page=2"].startswith("page has no extractable text")
    assert reasons["scanned.pdf"].startswith("PDF has no extractable text")
    assert reasons["broken.pdf"].startswith("not a readable PDF")
    assert reasons["empty.txt"] == "empty file"
    assert reasons["junk.txt"].startswith("binary file")
    assert reasons["latin1.md"].startswith("not valid UTF-8")
    assert reasons["image.png"] == "unsupported file type '.png'"


def test_folder_as_corpus_chunks_with_path_ids(folder):
    passages, report = load_passages(str(folder), max_tokens=5)
    ids = [p.id for p in passages]
    assert "reports/zinc.pdf#0" in ids and "plain.txt" in ids
    assert report.as_dict()["skipped"] == 8 and report.documents == 5


def test_single_file_and_all_unreadable(tmp_path, folder):
    docs, report = read_documents(folder / "page.html")
    assert [d.id for d in docs] == ["page.html"]
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.pdf").write_bytes(b"junk")
    with pytest.raises(InputError, match=r"no readable documents \(1 skipped: x.pdf: not a readable PDF"):
        read_documents(bad)


def test_generate_over_folder_lists_skips(folder, tmp_path):
    from drama_data.corpus import Fields
    from drama_data.generate.runner import CorpusOptions, generate
    from drama_data.tasks import get_task

    out = tmp_path / "crop"
    summary = generate(get_task("crop"), CorpusOptions(source=str(folder), fields=Fields()), out, progress=False,
                       echo=None)
    text = summary.render()
    assert "8 documents or pages skipped" in text and "skipped broken.pdf: not a readable PDF" in text and "... 3 more" in text
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "skipped `locked.pdf`: encrypted PDF (needs a password)" in card


GUIDE_MD = """---
title: Solar panel care
author: Jane
---

# Solar panel maintenance

Clean the **panels** twice a year with _soft_ water. See the [manufacturer guide](https://example.com/guide)
for details.
![diagram](img/panel.png)

## Inspection

| Part | Interval | Note |
|------|----------|------|
| Inverter | yearly | check the display |
| Cables | every 6 months | look for *cracks* |

Inspect the mounting bolts after every storm, and tighten any that moved.

```bash
sudo solarctl status --verbose
```

## Winter

Brush snow off the panels with a soft broom, never with a metal shovel.
"""

PUMP_HTML = """<!DOCTYPE html><html lang="en"><head><title>Heat pumps explained</title></head><body>
<nav><a href="/">Home</a> | <a href="/about">About</a></nav>
<article><h1>How heat pumps work</h1>
<p>A heat pump moves heat from outside air into the house, even when it is cold outside.</p>
<h2>Efficiency</h2>
<p>Its coefficient of performance is usually between <b>three</b> and four in mild weather.</p>
<table><tr><th>Outdoor temperature</th><th>COP</th></tr><tr><td>7 C</td><td>4.1</td></tr></table>
<pre><code>cop = heat_out / power_in</code></pre>
<h2>Noise</h2><p>Modern units are about as loud as a <strong>fridge</strong> at a distance of three metres.</p>
</article><footer>Copyright 2024.</footer></body></html>
"""

HEADINGS = {"Solar panel maintenance", "Inspection", "Winter", "How heat pumps work", "Efficiency", "Noise",
            "Heat pumps explained", "Solar panel care"}
MARKUP = ("**", "#", "](", "_soft_", "|", "```", "<", "---", "title:", "author:", "solarctl", "heat_out")


@pytest.fixture()
def structured(tmp_path):
    d = tmp_path / "structured"
    d.mkdir()
    (d / "guide.md").write_text(GUIDE_MD, encoding="utf-8")
    (d / "pump.html").write_text(PUMP_HTML, encoding="utf-8")
    return d


def test_markdown_and_html_structure_is_used_not_copied(structured):
    docs, skipped = read_document_folder(structured)
    assert skipped == []
    by_id = {d.id: d for d in docs}
    assert {i: d.title for i, d in by_id.items()} == {
        "guide.md": "Solar panel care",  # front matter title; the page heading is not text
        "guide.md#inspection": "Solar panel care > Inspection",
        "guide.md#winter": "Solar panel care > Winter",
        "pump.html": "Heat pumps explained",  # <title>; the <h1> is not text
        "pump.html#efficiency": "Heat pumps explained > Efficiency",
        "pump.html#noise": "Heat pumps explained > Noise",
    }
    assert by_id["guide.md"].text == ("Clean the panels twice a year with soft water. See the manufacturer guide "
                                      "for details.")
    assert by_id["guide.md#inspection"].text == (
        "Part: Inverter; Interval: yearly; Note: check the display\n"
        "Part: Cables; Interval: every 6 months; Note: look for cracks\n\n"
        "Inspect the mounting bolts after every storm, and tighten any that moved.")
    assert by_id["pump.html#efficiency"].text == (
        "Its coefficient of performance is usually between three and four in mild weather.\n\n"
        "Outdoor temperature: 7 C; COP: 4.1")
    for doc in docs:
        assert not any(bad in doc.text for bad in MARKUP), doc
        assert not any(h in doc.text for h in HEADINGS), doc
    passages, _ = load_passages(str(structured))
    assert sorted(p.id for p in passages) == sorted(by_id)


def test_crops_of_documents_are_never_headings_or_markup(structured, tmp_path):
    from drama_data.corpus import Fields
    from drama_data.datasets.folder import read_table
    from drama_data.generate.runner import CorpusOptions, generate
    from drama_data.tasks import get_task

    seen = set()
    for seed in range(6):  # several seeds: each pick is seeded, so try more than one
        out = tmp_path / f"crop{seed}"
        generate(get_task("crop", seed=seed, queries_per_doc=3, min_words=1), CorpusOptions(
            source=str(structured), fields=Fields()), out, progress=False, echo=None)
        for row in read_table(out, "queries").to_pylist():
            crop = row["query"]
            seen.add(crop)
            assert crop not in HEADINGS and not any(bad in crop for bad in ("**", "#", "](", "_soft_", "|")), row
    assert "Clean the panels twice a year with soft water." in seen
