"""``drama-data publish``: upload a dataset folder to the Hugging Face Hub."""
from __future__ import annotations

import click

from drama_data.cli.common import clean_errors


@click.command()
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--repo-id", required=True, help="ORG/NAME of the dataset repo.")
@click.option("--private", is_flag=True, help="Create the repo as private.")
@click.option("--dry-run", is_flag=True, help="List exactly what would be uploaded; upload nothing.")
@click.option("--revision", default=None, help="Branch to upload to.")
@click.option("--message", default=None, help="Commit message.")
@clean_errors
def command(folder, repo_id, private, dry_run, revision, message):
    """Upload FOLDER (a dataset written by drama-data) to the Hub; the token comes from HF_TOKEN or `hf auth login`."""
    from drama_data.datasets.publish import publish

    files = publish(folder, repo_id, private=private, dry_run=dry_run, revision=revision, commit_message=message)
    verb = "would upload" if dry_run else "uploaded"
    for f in files:
        click.echo(f"{f.size:>12,}  {f.path}")
    click.echo(f"{verb} {len(files)} files ({sum(f.size for f in files):,} bytes) to datasets/{repo_id}"
               + (" (private)" if private else ""))
