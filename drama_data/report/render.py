"""The report as text: a ``## Quality report`` section in the dataset card, ``report/quality.json``, and a
side-by-side comparison of several datasets.

:func:`report_folder` computes the numbers (:mod:`~drama_data.report.stats`), the contamination check when
evaluation collections are given (:mod:`~drama_data.report.contamination`), writes the PNG figures and
``quality.json`` under ``<folder>/report/``, and puts the section into ``README.md`` between two HTML comments
(a rerun replaces it; the card's YAML and the data are left as they are).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from cards import render as render_card
from drama_data.report import figures
from drama_data.report.stats import dataset_stats

START = "<!-- drama-report:start -->"
END = "<!-- drama-report:end -->"
REPORT_DIR = "report"
LIST_LIMIT = 50


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _top(counts: dict, n: int = 6) -> str:
    items = list(counts.items())
    total = sum(v for _, v in items) or 1
    text = ", ".join(f"`{k}` {v} ({_pct(v / total)})" for k, v in items[:n])
    return text + (f", ... ({len(items) - n} more)" if len(items) > n else "") if items else "-"


def _judged(s: dict) -> str:
    """``""`` when every row was judged, else `` (in a random sample of N of M rows)``."""
    sample = s.get("sample") or {}
    if not sample or sample.get("complete", True):
        return ""
    return f" (in a random sample of {sample['rows']:,} of {sample['of']:,} rows)"


def _dups(dup: dict, key: str) -> str:
    n, rate = dup[key], dup[f"{key}_rate"]
    if f"estimated_{key}" in dup:
        return f"about {dup[f'estimated_{key}']:,} ({_pct(rate)}; {n} of {dup['judged_rows']:,} sampled rows)"
    return f"{n} ({_pct(rate)})"


def rows_of(s: dict) -> list[tuple[str, str]]:
    """``(metric, value)`` lines of one dataset's numbers (the card table and the comparison share them)."""
    ql, cr, dup, fail, lang = s["query_length"], s["copy_rate"], s["duplicates"], s["failures"], s["languages"]
    column = lang.get("column")
    out = [
        ("rows", str(s["rows"])),
        ("query tokens: mean / median / p5-p95 / min-max",
         f"{ql['mean']:.2f} / {ql['median']} / {ql['p5']}-{ql['p95']} / {ql['min']}-{ql['max']}"),
    ]
    if column:  # the counts the dataset card shows (one source), then what the detector says of the judged rows
        out += [(f"languages (`{column}` column, as in the card)", _top(lang["declared"])),
                (f"languages detected on the query text (py3langid){_judged(s)}", _top(lang["detected"])),
                (f"`{column}` differs from detected{_judged(s)}", str(lang["mismatch"]))]
    else:
        out += [("languages (detected)", _top(lang["detected"])),
                ("declared language differs from detected", str(lang["mismatch"]))]
    out += [
        ("copy rate: mean / median", f"{cr['mean']:.3f} / {cr['median']}" if cr["n"] else "- (no passage text)"),
        (f"copy rate >= {cr['threshold']}", f"{cr['at_or_above']} ({_pct(cr['share_at_or_above'])})" if cr["n"] else "-"),
        ("exact duplicates", _dups(dup, "exact")),
        (f"near duplicates (Jaccard >= {dup['threshold']})", _dups(dup, "near")),
    ]
    if "attempts_by_reason" in fail:
        out += [("failed attempts by reason", ", ".join(f"{k}: {v}" for k, v in fail["attempts_by_reason"].items()) or "0"),
                ("slots without a row (failure rate)", f"{fail['failed_slots']} ({_pct(fail['rate'])})")]
    elif "removed_by_reason" in fail:
        out += [("removed by reason", ", ".join(f"{k}: {v}" for k, v in fail["removed_by_reason"].items()) or "0"),
                ("removed (share of input queries)", f"{fail['removed']} ({_pct(fail['rate'])})")]
    else:
        out += [("queries with repaired rerank windows", f"{fail['queries_with_repaired_windows']} ({_pct(fail['rate'])})")]
    if "labels" in s:
        lab = s["labels"]
        pr = lab["positive_ranks"]
        out += [("positives per query: mean (min-max)", (f"{lab['positives_per_query']['mean']:.2f} "
                 f"({lab['positives_per_query']['min']}-{lab['positives_per_query']['max']})")),
                ("negatives per query: mean (min-max)", (f"{lab['negatives_per_query']['mean']:.2f} "
                 f"({lab['negatives_per_query']['min']}-{lab['negatives_per_query']['max']})")),
                ("rank of positives", _top(pr["histogram"], 8)),]
    if "contamination" in s:
        c = s["contamination"]
        out += [("contaminated queries", str(c["query_leaks"])), ("contaminated passages", str(c["passage_leaks"]))]
    return out


def _margin(sample: dict) -> float:
    """The 95% margin (points) of a rate judged on ``sample['rows']`` random rows."""
    return 100 * 1.96 * (0.25 / max(sample["rows"], 1)) ** 0.5


def section(s: dict, figs: list[tuple[str, str]]) -> str:
    """The card's ``## Quality report`` section (Markdown; ``cards/quality_report.md.j2``)."""
    sample = s.get("sample") or {}
    sampled = bool(sample) and not sample.get("complete", True)
    return render_card("quality_report.md.j2", start=START, end=END, rows=rows_of(s), figs=figs,
                       report_dir=REPORT_DIR, sample=sample, sampled=sampled,
                       margin=_margin(sample) if sampled else None, contamination=s.get("contamination"),
                       list_limit=LIST_LIMIT)


def compare_page(table: str, figs: list[tuple[str, str]]) -> str:
    """``compare.md`` of a side-by-side report: ``table`` (:func:`compare_text`) and the overlaid figures
    (``cards/compare.md.j2``)."""
    return render_card("compare.md.j2", table=table, figs=figs)


def _put_section(readme: Path, text: str) -> None:
    card = readme.read_text(encoding="utf-8")
    if START in card and END in card:
        a, b = card.index(START), card.index(END) + len(END)
        card = card[:a] + text.rstrip("\n") + card[b:]
    else:
        marker = "\n## Licence"
        at = card.find(marker)
        card = (card[:at] + "\n" + text + card[at:]) if at >= 0 else card.rstrip("\n") + "\n\n" + text
    tmp = readme.with_suffix(".md.tmp")
    tmp.write_text(card, encoding="utf-8")
    os.replace(tmp, readme)


def report_folder(folder: str | Path, *, contamination: list[str] | None = None, split: str = "test",
                  index=None) -> dict:
    """Report on one dataset folder (see module doc); returns the numbers (as written to quality.json)."""
    folder = Path(folder)
    s = dataset_stats(folder)
    if contamination or index is not None:
        from drama_data.report.contamination import check_folder, load_index

        index = index or load_index(list(contamination), split)
        s["contamination"] = check_folder(index, folder, s["kind"])
    out = folder / REPORT_DIR
    figs = figures.write_figures({folder.name: s}, out)
    (out / "quality.json").write_text(json.dumps(s, indent=1, ensure_ascii=False, default=str),
                                      encoding="utf-8")
    _put_section(folder / "README.md", section(s, figs))
    return s


def compare_text(stats: dict[str, dict]) -> str:
    """A side-by-side Markdown table of several datasets' numbers (``{label: stats}``; ``cards/compare_table.md.j2``)."""
    labels = list(stats)
    rows = {label: dict(rows_of(s)) for label, s in stats.items()}
    metrics: list[str] = []
    for label in labels:
        metrics += [m for m in rows[label] if m not in metrics]
    return render_card("compare_table.md.j2", labels=labels, metrics=metrics, rows=rows).removesuffix("\n")


def report_after_run(folder: str | Path, contamination: list[str] | None = None, echo=print) -> str:
    """The report at the end of ``generate``/``build``: never fails the run (a problem is reported instead).
    Returns the line to show."""
    import logging

    try:
        s = report_folder(folder, contamination=contamination or None)
    except Exception as exc:  # the data is written; a report problem must not turn the run into a failure
        logging.getLogger(__name__).debug("report failed", exc_info=True)
        line = f"  report           not written ({type(exc).__name__}: {exc}); run `drama-data report {folder}`"
    else:
        leaks = ""
        if "contamination" in s:
            c = s["contamination"]
            leaks = f"; contamination: {c['query_leaks']} queries, {c['passage_leaks']} passages"
        line = (f"  report           {Path(folder) / 'README.md'} (Quality report), {Path(folder) / REPORT_DIR}/*.png"
                f"{leaks}")
    if echo:
        echo(line)
    return line
