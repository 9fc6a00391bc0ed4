"""The long-context table comes from cards/long_context_table.md.j2 and reads as before the template
(golden written by the Python-formatted version)."""
from __future__ import annotations

import json
from pathlib import Path

from drama_models.long_context.evaluate import format_long_context_table

GOLDEN = Path(__file__).parent / "golden"


def test_table_is_unchanged_by_the_template():
    result = json.loads((GOLDEN / "result.json").read_text(encoding="utf-8"))
    assert format_long_context_table(result) + "\n" == (GOLDEN / "table.md").read_text(encoding="utf-8")
    assert format_long_context_table(result["rows"]) + "\n" == (GOLDEN / "table_rows.md").read_text(encoding="utf-8")
