"""``drama-data publish``: upload a dataset folder to the Hugging Face Hub."""
from __future__ import annotations

import click

from drama_data.cli.common import clean_errors
from drama_data.cli.options import Command, json_option, print_summary


@click.command(name="publish", cls=Command, groups={"Input": ["folder"], "Output": ["repo_id", "private", "revision", "message",
                                                                      "dry_run"]}, examples=[
    "drama-data publish out/qgen --repo-id my-org/scifact-qgen --dry-run",
])
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--repo-id", required=True, help="ORG/NAME of the dataset repo.")
@click.option("--private", is_flag=True, help="Create the repo as private.")
@click.option("--dry-run", is_flag=True, help="List exactly what would be uploaded; upload nothing.")
@click.option("--revision", default=None, help="Branch to upload to.")
@click.option("--message", default=None, help="Commit message.")
@json_option
@clean_errors
def command(folder, repo_id, private, dry_run, revision, message, as_json):
    """Upload FOLDER (a dataset written by drama-data) to the Hub; the token comes from HF_TOKEN or `hf auth login`."""
    from drama_data.datasets.publish import publish
    from drama_data.plurals import plural

    files = publish(folder, repo_id, private=private, dry_run=dry_run, revision=revision, commit_message=message)
    verb = "would upload" if dry_run else "uploaded"
    size = sum(f.size for f in files)
    text = "\n".join([*(f"{f.size:>12,}  {f.path}" for f in files),
                      f"{verb} {plural(len(files), 'file')} ({size:,} byte{'' if size == 1 else 's'}) "
                      f"to datasets/{repo_id}" + (" (private)" if private else "")])
    print_summary({"repo_id": repo_id, "dry_run": dry_run, "private": private, "revision": revision,
                   "files": [{"path": f.path, "size": f.size} for f in files], "bytes": size}, text, as_json=as_json)
