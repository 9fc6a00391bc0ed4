"""Read plain texts for calibration, continued pretraining and perplexity.

Input (``source``): one of
  - a BEIR folder (holding ``corpus.jsonl`` or ``corpus.jsonl.gz``; ``title`` and ``text`` are joined),
  - a ``.jsonl`` / ``.jsonl.gz`` file (field ``text``, else ``contents``; a ``title`` field is prepended),
  - a ``.txt`` / ``.txt.gz`` file (one document per non-empty line).
Output: a list of non-empty strings, in file order (so a split into calibration / held-out is reproducible).

This is deliberately small: the full corpus readers (HF datasets, parquet, chunking) live in ``drama_data``.
"""
from __future__ import annotations

import gzip
import json
from pathlib import Path

from drama_models.pruning.errors import PruningError

TEXT_FIELDS = ("text", "contents")


def _open(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def resolve_text_file(source: str | Path, option: str = "--calibration") -> Path:
    """The file behind ``source`` (a BEIR folder resolves to its corpus file); raises ``PruningError``."""
    path = Path(source)
    if path.is_dir():
        for name in ("corpus.jsonl", "corpus.jsonl.gz"):
            if (path / name).is_file():
                return path / name
        raise PruningError(f"{option} {source}: folder has no corpus.jsonl or corpus.jsonl.gz (BEIR layout expected)")
    if not path.is_file():
        raise PruningError(f"{option} {source}: no such file or folder")
    name = path.name.lower()
    if not name.endswith((".jsonl", ".jsonl.gz", ".json.gz", ".txt", ".txt.gz")):
        raise PruningError(
            f"{option} {source}: unsupported file type; give a BEIR folder, a .jsonl(.gz) file or a .txt(.gz) file"
        )
    return path


def read_texts(
    source: str | Path, max_docs: int | None = None, skip_docs: int = 0, option: str = "--calibration"
) -> list[str]:
    """Read up to ``max_docs`` documents of ``source`` after skipping the first ``skip_docs``.

    ``option`` is the CLI option the source came from; it is named in error messages.
    """
    path = resolve_text_file(source, option)
    is_jsonl = ".jsonl" in path.name.lower() or ".json.gz" in path.name.lower()
    texts: list[str] = []
    seen = 0
    with _open(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            if is_jsonl:
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as err:
                    raise PruningError(f"{option} {path}: line {lineno} is not JSON ({err})") from None
                body = next((row[k] for k in TEXT_FIELDS if isinstance(row.get(k), str)), None)
                if body is None:
                    raise PruningError(f"{option} {path}: line {lineno} has no 'text' or 'contents' string field")
                title = row.get("title") or ""
                text = f"{title}. {body}" if title and body else (title or body)
            else:
                text = line
            text = text.strip()
            if not text:
                continue
            seen += 1
            if seen <= skip_docs:
                continue
            texts.append(text)
            if max_docs is not None and len(texts) >= max_docs:
                break
    return texts
