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


def test_lengths_with_fewer_queries_say_so():
    rows = [{"system": "s", "task": "passkey", "length": n, "num_queries": 5 if n < 4096 else 3,
             "num_docs": 10 if n < 4096 else 6, "ndcg@1": 1.0, "truncated": False, "read_tokens": n}
            for n in (512, 2048, 4096, 8192)]
    assert "(nDCG@1 x 100 = top-1 accuracy; 5 queries over 10 documents at 512 and 2k, 3 over 6 at 4k and 8k)" \
        in format_long_context_table(rows)
