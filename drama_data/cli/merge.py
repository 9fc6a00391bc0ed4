"""``drama-data merge``: join the shard folders of one generate run into one dataset."""
from __future__ import annotations

import click

from drama_data.cli.common import clean_errors


@click.command()
@click.argument("shards", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("--output", required=True, type=click.Path(file_okay=False))
@click.option("--overwrite", is_flag=True)
@clean_errors
def command(shards, output, overwrite):
    """Merge SHARDS (outputs of generate --num-shards N --shard-index I, for every I) into OUTPUT."""
    from drama_data.datasets.merge import merge_shards

    merged = merge_shards(shards, output, overwrite=overwrite)
    click.echo(f"merged {len(shards)} shards: {merged['counts'].get('rows', 0)} rows -> {output}")
