"""Markdown and HTML structure: front matter, headings as section paths, markup stripped, tables and code."""
from __future__ import annotations

from drama_data.markup import Section, markdown_structure, sectionize, split_front_matter

GUIDE = """---
title: Solar panel care
tags: [solar, maintenance]
---

# Solar panel maintenance

Clean the **panels** twice a year with _soft_ water. See the [manufacturer guide](https://example.com/g) for
details. ![diagram](img/panel.png)

## Inspection

| Part | Interval |
|------|----------|
| Inverter | yearly |
| Cables | every *6* months |

Inspect the mounting bolts after every storm.<br>
Use a ~~hammer~~ torque wrench.

```bash
sudo solarctl status --verbose
```

    indented code is code too

<div class="note">Never climb onto a <b>wet</b> roof.<!-- a comment --><script>alert(1)</script></div>

### Inverter
Reset the inverter by holding `RESET` for ten seconds.
"""


def test_markdown_front_matter_headings_and_markup():
    s = markdown_structure(GUIDE)
    assert s.title == "Solar panel care"  # front matter before the page heading
    assert [sec.headings for sec in s.sections] == [(), ("Inspection",), ("Inspection", "Inverter")]
    assert s.sections[0].text == ("Clean the panels twice a year with soft water. See the manufacturer guide for "
                                  "details.")
    assert s.sections[1].text == ("Part: Inverter; Interval: yearly\nPart: Cables; Interval: every 6 months\n\n"
                                  "Inspect the mounting bolts after every storm. Use a torque wrench.\n\n"
                                  "Never climb onto a wet roof.")
    assert s.sections[2].text == "Reset the inverter by holding RESET for ten seconds."
    for bad in ("**", "_soft_", "](", "#", "|", "```", "solarctl", "indented code", "title:", "<", "alert", "comment",
                "Solar panel maintenance", "Inspection", "hammer"):
        assert bad not in s.text, bad


def test_front_matter_forms():
    assert split_front_matter("+++\ntitle = 'T'\n+++\nbody\n") == ({"title": "T"}, "body\n")
    assert split_front_matter("---\ntitle: T\n...\nbody") == ({"title": "T"}, "body")
    # a rule and a setext heading at the top of a file are not front matter
    text = "---\nJust a line of text.\n---\nbody"
    assert split_front_matter(text) == ({}, text)
    assert markdown_structure("---\n---\nText here.").sections == [Section((), "Text here.")]


def test_page_heading_is_the_title_and_other_headings_are_sections():
    s = markdown_structure("Intro line.\n\n# Vitamin D notes\n\nTested in winter.\n")
    assert s.title == "Vitamin D notes" and s.sections == [Section((), "Intro line.\n\nTested in winter.")]
    # several level-1 headings: each is a section, the document has no title of its own
    s = markdown_structure("# One\n\nFirst text.\n\n# Two\n\nSecond text.\n\n## Two a\n\nThird.")
    assert s.title == "" and [x.headings for x in s.sections] == [("One",), ("Two",), ("Two", "Two a")]
    # setext headings; a heading without text under it gives no section
    s = markdown_structure("Guide\n=====\n\nLead.\n\nEmpty\n-----\n\nFull\n----\n\nBody text.")
    assert s.title == "Guide" and s.sections == [Section((), "Lead."), Section(("Full",), "Body text.")]


def test_tables_without_header_and_lists():
    s = sectionize([(0, "a\nb"), (2, "  Spaced   heading "), (0, "x  y")])
    assert s.sections == [Section((), "a\nb"), Section(("Spaced heading",), "x y")]
    s = markdown_structure("- first item\n- second *item*\n\n> a quote\n")
    assert s.text == "first item\n\nsecond item\n\na quote"
