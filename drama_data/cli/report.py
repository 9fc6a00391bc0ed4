"""``drama-data report``: quality report of dataset folders (card section + PNG figures), side by side for several."""
from __future__ import annotations

import click

from drama_data.cli.common import clean_errors


@click.command(name="report")
@click.argument("folders", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--contamination", multiple=True, type=click.Path(exists=True, file_okay=False),
              help="Evaluation collection (BEIR folder) to check for overlap with; repeat for several.")
@click.option("--split", default="test", show_default=True, help="Qrels split of the --contamination collections.")
@click.option("--compare-output", default=None, type=click.Path(file_okay=False),
              help="With several folders: also write compare.md and overlaid figures here.")
@clean_errors
def command(folders, contamination, split, compare_output):
    """Add a quality section with figures to each dataset's card; with two or more, show them side by side.

    \b
    drama-data report out/qgen --contamination data/scifact
    drama-data report out/qgen-gemma out/qgen-qwen --compare-output out/compare
    """
    from pathlib import Path

    from drama_data.report import compare_text, report_folder
    from drama_data.report.contamination import load_index

    index = load_index(list(contamination), split) if contamination else None
    stats = {}
    for folder in folders:
        label = Path(folder).name if Path(folder).name not in stats else folder
        stats[label] = report_folder(folder, index=index)
        click.echo(f"report written: {Path(folder) / 'README.md'} (section 'Quality report'), {Path(folder) / 'report'}/",
                   err=True)
    text = compare_text(stats)
    click.echo(text)
    if compare_output and len(stats) > 1:
        from drama_data.report import figures
        from drama_data.report.render import compare_page

        out = Path(compare_output)
        figs = figures.write_figures(stats, out)
        (out / "compare.md").write_text(compare_page(text, figs), encoding="utf-8")
        click.echo(f"comparison written: {out / 'compare.md'}", err=True)
