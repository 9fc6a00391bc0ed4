"""PNG figures of a quality report (matplotlib, Agg backend: no display needed).

Each function takes the numbers of :mod:`drama_data.report.stats` (one dataset, or several to compare, as
``{label: stats}``) and writes one PNG; ``write_figures`` writes all that apply and returns their file names.
"""
from __future__ import annotations

from pathlib import Path


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    _plt().close(fig)
    return path.name


def _hist_counts(series: dict[str, dict], key, title: str, xlabel: str, path: Path, *, as_share: bool = True) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    width = 0.8 / max(len(series), 1)
    for k, (label, hist) in enumerate(series.items()):
        items = sorted(((int(x), n) for x, n in hist.items() if str(x).lstrip("-").isdigit()), key=lambda t: t[0])
        total = sum(n for _, n in items) or 1
        xs = [x + (k - (len(series) - 1) / 2) * width for x, _ in items]
        ax.bar(xs, [n / total if as_share else n for _, n in items], width=width, label=label)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("share of rows" if as_share else "rows")
    if len(series) > 1:
        ax.legend()
    return _save(fig, path)


def query_length(stats: dict[str, dict], path: Path) -> str:
    return _hist_counts({k: s["query_length"]["histogram"] for k, s in stats.items()}, None,
                        "Query length", "tokens per query", path)


def _language_counts(s: dict) -> tuple[dict, str]:
    """The counts the card shows (the ``language`` column) when the rows have one, else the detected ones."""
    lang = s["languages"]
    if lang.get("column") and any(k != "(none)" for k in lang.get("declared", {})):
        return lang["declared"], f"`{lang['column']}` column"
    return lang["detected"], "detected"


def languages(stats: dict[str, dict], path: Path, top: int = 12) -> str:
    """Share of rows per language: the ``language`` column (the card's counts), and, for one dataset, beside it
    the language py3langid detects on the judged rows' query text."""
    plt = _plt()
    series: dict[str, dict] = {}
    for label, s in stats.items():
        counts, what = _language_counts(s)
        series[label if len(stats) > 1 else what] = counts
    if len(stats) == 1:
        (s,) = stats.values()
        sample = s.get("sample") or {}
        if "detected" not in series:
            label = "detected (py3langid)" if sample.get("complete", True) else \
                f"detected (py3langid, sample of {sample['rows']:,})"
            series[label] = s["languages"]["detected"]
    names: list[str] = []
    for counts in series.values():
        names += [lang for lang in counts if lang not in names]
    names = names[:top]
    fig, ax = plt.subplots(figsize=(6, 3.2))
    width = 0.8 / max(len(series), 1)
    for k, (label, counts) in enumerate(series.items()):
        total = sum(counts.values()) or 1
        ax.bar([i + (k - (len(series) - 1) / 2) * width for i in range(len(names))],
               [counts.get(n, 0) / total for n in names], width=width, label=label)
    ax.set_xticks(range(len(names)), names)
    ax.set_title("Query language")
    ax.set_ylabel("share of rows")
    if len(series) > 1:
        ax.legend()
    return _save(fig, path)


def copy_rate(stats: dict[str, dict], path: Path) -> str:
    """Share of rows per copy-rate bin of 0.1 (every row with a passage text)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.2))
    width = 0.1 * 0.9 / max(len(stats), 1)
    threshold = 0.8
    for k, (label, s) in enumerate(stats.items()):
        cr = s["copy_rate"]
        threshold = cr.get("threshold", threshold)
        hist = cr.get("histogram") or {}
        total = sum(hist.values())
        if not total:
            continue
        xs = [float(x) + 0.05 + (k - (len(stats) - 1) / 2) * width for x in hist]
        ax.bar(xs, [n / total for n in hist.values()], width=width, label=label)
    ax.axvline(threshold, color="k", linestyle="--", linewidth=1)
    ax.set_xlim(0, 1)
    ax.set_title("Query-passage copy rate (word 3-grams)")
    ax.set_xlabel("copy rate")
    ax.set_ylabel("share of rows")
    if len(stats) > 1:
        ax.legend()
    return _save(fig, path)


def failures(stats: dict[str, dict], path: Path) -> str | None:
    plt = _plt()
    series = {k: s["failures"].get("attempts_by_reason") or s["failures"].get("removed_by_reason") or {}
              for k, s in stats.items()}
    reasons: list[str] = []
    for hist in series.values():
        reasons += [r for r in hist if r not in reasons]
    if not reasons:
        return None
    fig, ax = plt.subplots(figsize=(6, 0.5 + 0.35 * len(reasons) + 1))
    height = 0.8 / max(len(series), 1)
    for k, (label, hist) in enumerate(series.items()):
        ax.barh([i + (k - (len(series) - 1) / 2) * height for i in range(len(reasons))],
                [hist.get(r, 0) for r in reasons], height=height, label=label)
    ax.set_yticks(range(len(reasons)), [r[:40] for r in reasons])
    ax.invert_yaxis()
    ax.set_title("Failed attempts / removed rows by reason")
    ax.set_xlabel("count")
    if len(series) > 1:
        ax.legend()
    return _save(fig, path)


def labels(stats: dict[str, dict], path: Path) -> str | None:
    with_labels = {k: s["labels"] for k, s in stats.items() if "labels" in s}
    if not with_labels:
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(9, 3))
    for ax, key, title in zip(axes, ("positives_per_query", "negatives_per_query", "positive_ranks"),
                              ("positives per query", "negatives per query", "rank of positives")):
        width = 0.8 / len(with_labels)
        for k, (label, lab) in enumerate(with_labels.items()):
            hist = {x: n for x, n in lab[key]["histogram"].items() if str(x).isdigit()}
            items = sorted((int(x), n) for x, n in hist.items())
            ax.bar([x + (k - (len(with_labels) - 1) / 2) * width for x, _ in items], [n for _, n in items],
                   width=width, label=label)
        ax.set_title(title)
    if len(with_labels) > 1:
        axes[0].legend()
    return _save(fig, path)


def write_figures(stats: dict[str, dict], folder: Path, prefix: str = "") -> list[tuple[str, str]]:
    """Write every figure that applies into ``folder``; ``[(title, file name), ...]``."""
    folder.mkdir(parents=True, exist_ok=True)
    out = [("Query length", query_length(stats, folder / f"{prefix}query_length.png")),
           ("Languages", languages(stats, folder / f"{prefix}languages.png")),
           ("Copy rate", copy_rate(stats, folder / f"{prefix}copy_rate.png"))]
    for title, fn, name in (("Failures", failures, "failures.png"), ("Labels", labels, "labels.png")):
        f = fn(stats, folder / f"{prefix}{name}")
        if f:
            out.append((title, f))
    return out
