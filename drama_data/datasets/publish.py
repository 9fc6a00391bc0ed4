"""Publish a dataset folder to the Hugging Face Hub (``huggingface_hub``; token from the environment/login).

``publish(folder, repo_id)`` checks that the folder is a loadable dataset (README.md with ``configs``), lists
the files it will upload (hidden and temporary files excluded), creates the repo if needed and uploads
exactly those files. ``dry_run=True`` returns the list without touching the network.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from drama_data.datasets.folder import read_card
from drama_data.errors import ConfigError, InputError


@dataclass(frozen=True)
class UploadFile:
    path: str  # relative to the folder, posix
    size: int


def files_to_upload(folder: str | Path) -> list[UploadFile]:
    """The files ``publish`` uploads: everything under ``folder`` except hidden paths (``.*``)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such dataset folder")
    meta, _ = read_card(folder) if (folder / "README.md").is_file() else ({}, "")
    if not meta.get("configs"):
        raise InputError(f"{folder}: not a dataset folder (README.md with YAML 'configs' missing); "
                         "write it with drama-data generate/mine/build first")
    for cfg in meta["configs"]:
        for df in cfg.get("data_files", []):
            if not list(folder.glob(df["path"])):
                raise InputError(f"{folder}: config {cfg['config_name']!r} has no files matching {df['path']!r}")
    out = []
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if p.is_file() and not any(part.startswith(".") for part in rel.parts):
            out.append(UploadFile(rel.as_posix(), p.stat().st_size))
    return out


def publish(folder: str | Path, repo_id: str, *, private: bool = False, dry_run: bool = False,
            revision: str | None = None, commit_message: str | None = None) -> list[UploadFile]:
    """Upload ``folder`` to the dataset repo ``repo_id``; return the uploaded (or, dry run, planned) files."""
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise ConfigError(f"--repo-id {repo_id!r}: expected ORG/NAME")
    files = files_to_upload(folder)
    if dry_run:
        return files
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    api.upload_folder(
        folder_path=str(folder), repo_id=repo_id, repo_type="dataset", revision=revision,
        allow_patterns=[f.path for f in files],
        commit_message=commit_message or f"Upload {len(files)} files with drama-data publish",
    )
    return files
