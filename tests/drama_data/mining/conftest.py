"""Shared fixtures of the mining tests: the shipped SciFact sample as passages and queries."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

import drama_data
from drama_data.chunking import load_passages

SAMPLE = Path(drama_data.__file__).parent / "samples" / "scifact-sample"


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    return SAMPLE


@pytest.fixture(scope="session")
def sample_passages():
    """The sample's 50 abstracts as whole-document passages (no chunking)."""
    passages, _ = load_passages(str(SAMPLE), max_tokens=10**9)
    return passages


@pytest.fixture(scope="session")
def sample_queries() -> list[tuple[str, str]]:
    return [(o["_id"], o["text"]) for o in map(json.loads, (SAMPLE / "queries.jsonl").read_text().splitlines())]


@pytest.fixture(scope="session")
def sample_qrels() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    with open(SAMPLE / "qrels" / "test.tsv", encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            out.setdefault(row["query-id"], []).append(row["corpus-id"])
    return out
