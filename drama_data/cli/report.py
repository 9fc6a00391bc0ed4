"""``drama-data report``: quality report of dataset folders (card section + PNG figures), side by side for several."""
from __future__ import annotations

import click

from drama_data.cli.common import clean_errors
from drama_data.cli.options import (
    Command,
    echo_info,
    json_option,
    output_option,
    print_summary,
)


@click.command(name="report", cls=Command, groups={"Input": ["folders", "contamination", "split"]}, examples=[
    "drama-data report out/qgen --contamination data/scifact",
    "drama-data report out/qgen-gemma out/qgen-qwen --output out/compare",
])
@click.argument("folders", nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--contamination", multiple=True, type=click.Path(exists=True, file_okay=False),
              help="Evaluation collection (BEIR folder) to check for overlap with; repeat for several.")
@click.option("--split", default="test", show_default=True, help="Qrels split of the --contamination collections.")
@output_option("--compare-output", help="With several folders: also write compare.md and overlaid figures here.")
@json_option
@clean_errors
def command(folders, contamination, split, output, as_json):
    """Add a quality section with figures to each dataset's card; with two or more, show them side by side."""
    from pathlib import Path

    from drama_data.report import compare_text, report_folder
    from drama_data.report.contamination import load_index

    index = load_index(list(contamination), split) if contamination else None
    stats, written = {}, []
    for folder in folders:
        label = Path(folder).name if Path(folder).name not in stats else folder
        stats[label] = report_folder(folder, index=index)
        written.append({"folder": str(folder), "label": label, "card": str(Path(folder) / "README.md"),
                        "report": str(Path(folder) / "report"), "quality": stats[label]})
        click.echo(f"report written: {Path(folder) / 'README.md'} (section 'Quality report'), {Path(folder) / 'report'}/",
                   err=True)
    text = compare_text(stats)
    compare = None
    if output and len(stats) > 1:
        from drama_data.report import figures
        from drama_data.report.render import compare_page

        out = Path(output)
        figs = figures.write_figures(stats, out)
        compare = out / "compare.md"
        compare.write_text(compare_page(text, figs), encoding="utf-8")
    print_summary({"datasets": written, "table": text, "compare": str(compare) if compare else None}, text,
                  as_json=as_json)
    if compare:
        echo_info(f"comparison written: {compare}", as_json=True)
