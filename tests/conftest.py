"""Session-wide fixtures: an isolated cache dir, small corpora on disk, and the tiny models."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Keep request caches of tests out of the user's cache, but reuse the embedded model if prepared."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    yield


@pytest.fixture()
def cache_dir(tmp_path) -> Path:
    d = tmp_path / "cache"
    d.mkdir()
    return d


def write_jsonl(path: Path, rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    return path


SMALL_DOCS = [
    {"_id": "d1", "title": "Aspirin", "text": "Aspirin inhibits cyclooxygenase. It lowers the risk of heart attack in patients."},
    {"_id": "d2", "title": "Everest", "text": "Mount Everest is the highest mountain on Earth. It lies in the Himalaya."},
    {"_id": "d3", "title": "", "text": "Photosynthesis converts light into chemical energy. It happens in chloroplasts of plant cells."},
    {"_id": "d4", "title": "Zugspitze", "text": "Die Zugspitze ist der höchste Berg Deutschlands. Sie liegt an der Grenze zu Österreich."},
    {"_id": "d5", "title": "Wall", "text": "长城是中国古代的军事防御工程。现存的长城主要建于明朝。"},
    {"_id": "d6", "title": "Python", "text": "Python is a programming language created by Guido van Rossum. It is widely used in science."},
]


@pytest.fixture()
def small_corpus(tmp_path) -> Path:
    """A six-document BEIR folder (English, German, Chinese)."""
    folder = tmp_path / "corpus"
    write_jsonl(folder / "corpus.jsonl", SMALL_DOCS)
    return folder
