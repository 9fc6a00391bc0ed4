"""``drama-data merge``: join the shard folders of one generate run into one dataset."""
from __future__ import annotations

import click

from drama_data.cli.common import clean_errors
from drama_data.cli.options import Command, json_option, output_option, print_summary


@click.command(name="merge", cls=Command, groups={"Input": ["shards"]}, examples=[
    "drama-data merge out/qgen-shard0 out/qgen-shard1 --output out/qgen",
])
@click.argument("shards", nargs=-1, required=True, type=click.Path(file_okay=False))
@output_option(required=True, help="Dataset folder to write.")
@click.option("--overwrite", is_flag=True, help="Replace an existing OUTPUT folder.")
@json_option
@clean_errors
def command(shards, output, overwrite, as_json):
    """Merge SHARDS (outputs of generate --num-shards N --shard-index I, for every I) into OUTPUT."""
    from drama_data.datasets.merge import merge_shards
    from drama_data.plurals import plural

    merged = merge_shards(shards, output, overwrite=overwrite)
    rows = merged["counts"].get("rows", 0)
    print_summary({"output": str(output), "shards": len(shards), "rows": rows, "counts": merged["counts"]},
                  f"merged {plural(len(shards), 'shard')}: {plural(rows, 'row')} -> {output}", as_json=as_json)
