"""The PNG figures cards embed, drawn with matplotlib (Agg backend, no display needed).

- :func:`loss_curve`: training loss per logged step (from ``train_log.jsonl`` records).

Dataset cards get their figures (query length, languages, ...) from ``drama_data.report``.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


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
