"""The PNG figures cards embed, drawn with matplotlib (Agg backend, no display needed).

- :func:`loss_curve`: training loss per logged step (from ``train_log.jsonl`` records);
- :func:`query_stats`: the query length distribution (words) and the share of each language.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Sequence


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def loss_curve(records: Sequence[dict], path: str | Path, title: str = "training loss") -> Path | None:
    """Plot ``loss`` against ``step`` of ``records``; None (nothing written) when there are no records."""
    points = [(r["step"], r["loss"]) for r in records if "step" in r and "loss" in r]
    if not points:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 3), dpi=100)
    ax.plot([p[0] for p in points], [p[1] for p in points], marker="o" if len(points) < 30 else None)
    ax.set_xlabel("step")
    ax.set_ylabel("InfoNCE loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def _language(recorded: str, query: str) -> str:
    """The row's language, or py3langid's guess marked ``*`` when the row records none (e.g. cropped sentences)."""
    if recorded:
        return recorded
    try:
        import py3langid

        return py3langid.classify(query)[0] + "*"
    except Exception:  # noqa: BLE001 - the figure still works without detection
        return "(none)"


def query_stats(queries: Sequence[str], languages: Sequence[str], path: str | Path,
                title: str = "queries") -> Path | None:
    """Two panels: histogram of query lengths in words, bar chart of languages (a row without one gets
    py3langid's guess, marked ``*``)."""
    if not queries:
        return None
    plt = _plt()
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3), dpi=100)
    lengths = [len(q.split()) for q in queries]
    left.hist(lengths, bins=min(30, max(5, len(set(lengths)))), color="#4c72b0")
    left.set_xlabel("query length (words)")
    left.set_ylabel("queries")
    left.set_title(f"{title}: {len(queries)} queries")
    counts = Counter(_language(lang, q) for lang, q in zip(languages, queries)).most_common(12)
    right.bar([c[0] for c in counts], [c[1] for c in counts], color="#55a868")
    right.set_title("language (* = detected: the row has none)")
    right.tick_params(axis="x", rotation=45)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path
