"""Reading calibration / training text from BEIR folders, .jsonl(.gz) and .txt files."""
from __future__ import annotations

import gzip
import json

import pytest

from drama_models.pruning.errors import PruningError
from drama_models.pruning.text_source import read_texts


def test_beir_folder_with_gzipped_corpus(tmp_path):
    with gzip.open(tmp_path / "corpus.jsonl.gz", "wt", encoding="utf-8") as f:
        f.write(json.dumps({"_id": "1", "title": "Title", "text": "Body one."}) + "\n")
        f.write(json.dumps({"_id": "2", "title": "", "text": "Body two."}) + "\n")
        f.write("\n")
        f.write(json.dumps({"_id": "3", "title": "Only title", "text": ""}) + "\n")
    assert read_texts(tmp_path) == ["Title. Body one.", "Body two.", "Only title"]
    assert read_texts(tmp_path, max_docs=1, skip_docs=1) == ["Body two."]


def test_txt_and_contents_field(tmp_path):
    (tmp_path / "a.txt").write_text("first line\n\n second line \n", encoding="utf-8")
    assert read_texts(tmp_path / "a.txt") == ["first line", "second line"]
    (tmp_path / "b.jsonl").write_text(json.dumps({"contents": "pyserini style"}) + "\n", encoding="utf-8")
    assert read_texts(tmp_path / "b.jsonl") == ["pyserini style"]


def test_real_beir_corpus_reads():
    texts = read_texts("/work/shared/data/scifact", max_docs=3)
    if not texts:
        pytest.skip("shared data not present")
    assert len(texts) == 3 and all(len(t) > 20 for t in texts)


@pytest.mark.parametrize(
    "setup, words",
    [
        (lambda p: p / "missing.jsonl", "no such file"),
        (lambda p: p, "no corpus.jsonl"),
        (lambda p: (p / "x.csv").write_text("a") and p / "x.csv", "unsupported file type"),
        (lambda p: (p / "x.jsonl").write_text("{bad\n") and p / "x.jsonl", "not JSON"),
        (lambda p: (p / "y.jsonl").write_text('{"body": "x"}\n') and p / "y.jsonl", "no 'text'"),
    ],
)
def test_errors_name_the_option(tmp_path, setup, words):
    with pytest.raises(PruningError, match="--calibration") as err:
        read_texts(setup(tmp_path))
    assert words in str(err.value)
