"""Dataset cards: YAML metadata plus a Markdown body rendered from ``cards/dataset_card.md.j2`` (the top-level
``cards`` package, shipped with the distribution).

The card states what a user needs to trust and reuse the data: the model, backend settings, prompt file
and hash, sampling, source corpus and chunking, counts per source and language, failures by reason, date,
and how to load it. Secrets never reach it: backends' ``info()`` carries no keys.
"""
from __future__ import annotations

import json
from collections import Counter
import jinja2
import pyarrow as pa

PAPER_CITATION = """@article{ma2025drama,
  title={DRAMA: Diverse Augmentation from Large Language Models to Smaller Dense Retrievers},
  author={Ma, Xueguang and Lin, Xi Victoria and Oguz, Barlas and Lin, Jimmy and Yih, Wen-tau and Chen, Xilun},
  journal={arXiv preprint arXiv:2502.18460},
  year={2025}
}"""


def _size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                        (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M")):
        if n < limit:
            return name
    return "n>10M"


def _counts(table: pa.Table, column: str) -> list[tuple[str, int]]:
    if column not in table.column_names or table.num_rows == 0:
        return []
    return Counter(v or "(none)" for v in table.column(column).to_pylist()).most_common()


def language_pairs(main: pa.Table, failures: pa.Table | None) -> list[dict]:
    """Per (method, passage language, query language): rows, failed attempts, slots left without a row, pass
    rate (rows over rows plus failed attempts) and the commonest rejection reasons. Empty when the rows carry no
    ``passage_language`` (tasks that do not say)."""
    if "passage_language" not in main.column_names:
        return []
    method = main.column("method").to_pylist() if "method" in main.column_names else [""] * main.num_rows
    keys = list(zip(method, main.column("passage_language").to_pylist(), main.column("language").to_pylist()))
    rows = Counter(keys)
    default_method = next((m for m in method if m), "")
    failed: Counter = Counter()
    final: Counter = Counter()
    reasons: dict[tuple, Counter] = {}
    if failures is not None and failures.num_rows and "passage_language" in failures.column_names:
        for f in failures.to_pylist():
            key = (default_method, f.get("passage_language") or "", f.get("language") or "")
            failed[key] += 1
            final[key] += bool(f.get("final"))
            reasons.setdefault(key, Counter())[f.get("reason") or ""] += 1
    out = []
    for key in sorted(set(rows) | set(failed), key=lambda k: tuple(x or "" for x in k)):
        n, bad = rows.get(key, 0), failed.get(key, 0)
        out.append({"method": key[0] or "", "passage_language": key[1] or "?", "language": key[2] or "?",
                    "rows": n, "failed": bad, "failed_slots": final.get(key, 0),
                    "pass_rate": n / (n + bad) if n + bad else 0.0,
                    "reasons": reasons.get(key, Counter()).most_common(3)})
    return out


def render_dataset_card(provenance: dict, main: pa.Table, failures: pa.Table | None = None,
                        template: str = "dataset_card.md.j2") -> tuple[dict, str]:
    """Return ``(yaml_metadata, markdown_body)`` for a dataset folder."""
    languages = sorted({v for v in (main.column("language").to_pylist() if "language" in main.column_names else [])
                        if v and len(v) <= 3})
    meta = {
        "pretty_name": provenance.get("pretty_name") or f"DRAMA {provenance.get('stage', 'data')}",
        "license": provenance.get("license", "other"),
        "task_categories": ["text-retrieval"],
        "size_categories": [_size_category(main.num_rows)],
        "tags": ["synthetic", "retrieval", "drama"],
    }
    if languages:
        meta["language"] = languages
    from cards import template_text

    src = template_text(template)
    env = jinja2.Environment(undefined=jinja2.ChainableUndefined, autoescape=False, trim_blocks=True,
                             lstrip_blocks=True)
    body = env.from_string(src).render(
        p=provenance, rows=main.num_rows, columns=[(f.name, str(f.type)) for f in main.schema],
        by_source=_counts(main, "source"), by_language=_counts(main, "language"),
        failures=_counts(failures, "reason") if failures is not None else [],
        n_failures=failures.num_rows if failures is not None else 0,
        pairs=language_pairs(main, failures),
        provenance_json=json.dumps(provenance, indent=2, ensure_ascii=False, sort_keys=True, default=str),
        citation=PAPER_CITATION,
    )
    return meta, body
