"""Where the toolkit keeps its per-user state: ``$DRAMA_CACHE``, else ``$XDG_CACHE_HOME/drama``, else ``~/.cache/drama``."""
from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The toolkit's cache root (created on first use)."""
    root = os.environ.get("DRAMA_CACHE")
    if root:
        path = Path(root)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        path = Path(base) / "drama"
    path.mkdir(parents=True, exist_ok=True)
    return path


def requests_cache_path() -> Path:
    """Default content-addressed request store (one SQLite file shared by all runs of this user)."""
    return cache_dir() / "requests.sqlite"
