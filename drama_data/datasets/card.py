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


class CardStats:
    """The counts a card shows, gathered batch by batch (``add_rows``/``add_failures`` with tables of the main
    config and of ``failures``, in row order; only the few columns counted are read), so a card never needs
    every row in memory. ``of(main, failures)`` gathers them from whole tables."""

    MAIN_COLUMNS = ("source", "language", "method", "passage_language")
    FAILURE_COLUMNS = ("reason", "final", "passage_language", "language")

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        self.rows = 0
        self.n_failures = 0
        self.by_source: Counter = Counter()
        self.by_language: Counter = Counter()
        self.failures: Counter = Counter()
        self.languages: set[str] = set()
        self._pairs = "passage_language" in schema.names
        self._pair_rows: Counter = Counter()
        self._default_method = ""
        self._failed: Counter = Counter()
        self._final: Counter = Counter()
        self._reasons: dict[tuple, Counter] = {}

    @classmethod
    def of(cls, main: pa.Table, failures: pa.Table | None = None) -> CardStats:
        stats = cls(main.schema)
        stats.add_rows(main)
        if failures is not None:
            stats.add_failures(failures)
        return stats

    def add_rows(self, table: pa.Table) -> None:
        n = table.num_rows
        self.rows += n
        if not n:
            return
        col = lambda name: table.column(name).to_pylist() if name in table.column_names else None  # noqa: E731
        source, language = col("source"), col("language")
        if source is not None:
            self.by_source.update(v or "(none)" for v in source)
        if language is not None:
            self.by_language.update(v or "(none)" for v in language)
            self.languages.update(v for v in language if v and len(v) <= 3)
        if self._pairs:
            method = col("method") or [""] * n
            if not self._default_method:
                self._default_method = next((m for m in method if m), "")
            self._pair_rows.update(zip(method, col("passage_language"), language or [""] * n))

    def add_failures(self, table: pa.Table) -> None:
        n = table.num_rows
        self.n_failures += n
        if not n:
            return
        reasons = table.column("reason").to_pylist() if "reason" in table.column_names else [None] * n
        if "reason" in table.column_names:
            self.failures.update(v or "(none)" for v in reasons)
        if not self._pairs or "passage_language" not in table.column_names:
            return
        final = table.column("final").to_pylist() if "final" in table.column_names else [False] * n
        pl = table.column("passage_language").to_pylist()
        lang = table.column("language").to_pylist() if "language" in table.column_names else [""] * n
        for p, q, r, f in zip(pl, lang, reasons, final):
            key = (p or "", q or "")
            self._failed[key] += 1
            self._final[key] += bool(f)
            self._reasons.setdefault(key, Counter())[r or ""] += 1

    def pairs(self) -> list[dict]:
        """Per (method, passage language, query language): rows, failed attempts, slots left without a row, pass
        rate (rows over rows plus failed attempts) and the commonest rejection reasons. Empty when the rows carry
        no ``passage_language`` (tasks that do not say)."""
        if not self._pairs:
            return []
        m = self._default_method
        failed = Counter({(m, *k): v for k, v in self._failed.items()})
        final = {(m, *k): v for k, v in self._final.items()}
        reasons = {(m, *k): v for k, v in self._reasons.items()}
        out = []
        for key in sorted(set(self._pair_rows) | set(failed), key=lambda k: tuple(x or "" for x in k)):
            n, bad = self._pair_rows.get(key, 0), failed.get(key, 0)
            out.append({"method": key[0] or "", "passage_language": key[1] or "?", "language": key[2] or "?",
                        "rows": n, "failed": bad, "failed_slots": final.get(key, 0),
                        "pass_rate": n / (n + bad) if n + bad else 0.0,
                        "reasons": reasons.get(key, Counter()).most_common(3)})
        return out


def render_dataset_card(provenance: dict, main, failures: pa.Table | None = None,
                        template: str = "dataset_card.md.j2") -> tuple[dict, str]:
    """Return ``(yaml_metadata, markdown_body)`` for a dataset folder; ``main`` is the main config's table (with
    ``failures``) or a :class:`CardStats` gathered while the rows were written."""
    stats = main if isinstance(main, CardStats) else CardStats.of(main, failures)
    meta = {
        "pretty_name": provenance.get("pretty_name") or f"DRAMA {provenance.get('stage', 'data')}",
        "license": provenance.get("license", "other"),
        "task_categories": ["text-retrieval"],
        "size_categories": [_size_category(stats.rows)],
        "tags": ["synthetic", "retrieval", "drama"],
    }
    if stats.languages:
        meta["language"] = sorted(stats.languages)
    from cards import template_text

    src = template_text(template)
    env = jinja2.Environment(undefined=jinja2.ChainableUndefined, autoescape=False, trim_blocks=True,
                             lstrip_blocks=True)
    body = env.from_string(src).render(
        p=provenance, rows=stats.rows, columns=[(f.name, str(f.type)) for f in stats.schema],
        by_source=stats.by_source.most_common(), by_language=stats.by_language.most_common(),
        failures=stats.failures.most_common(), n_failures=stats.n_failures,
        pairs=stats.pairs(),
        provenance_json=json.dumps(provenance, indent=2, ensure_ascii=False, sort_keys=True, default=str),
        citation=PAPER_CITATION,
    )
    return meta, body
