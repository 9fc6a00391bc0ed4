"""Add the query figure (length and language distribution, :func:`cards.figures.query_stats`) to a dataset
folder written by the toolkit: ``<folder>/query_stats.png`` and a section linking it at the end of the
folder's README.md (once; rerunning replaces the figure, not the section)."""
from __future__ import annotations

from pathlib import Path

from cards.figures import query_stats

FIGURE = "query_stats.png"
SECTION = "\n## Queries at a glance\n\n![Query length and language distribution](query_stats.png)\n"


def add_query_figure(folder: str | Path, config: str) -> Path | None:
    """Draw the figure for the ``query``/``language`` columns of ``config`` in ``folder``; None if no rows."""
    from drama_data.datasets.folder import read_table

    folder = Path(folder)
    try:
        table = read_table(folder, config)
    except Exception:  # noqa: BLE001 - a folder without that config (e.g. every row removed) gets no figure
        return None
    if table.num_rows == 0 or "query" not in table.column_names:
        return None
    langs = table.column("language").to_pylist() if "language" in table.column_names else [""] * table.num_rows
    path = query_stats([q or "" for q in table.column("query").to_pylist()], [x or "" for x in langs],
                       folder / FIGURE, title=config)
    readme = folder / "README.md"
    if path is not None and readme.is_file():
        text = readme.read_text(encoding="utf-8")
        if FIGURE not in text:
            readme.write_text(text.rstrip("\n") + "\n" + SECTION, encoding="utf-8")
    return path
