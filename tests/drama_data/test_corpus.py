import gzip
import json

import pytest
from conftest import SMALL_DOCS, write_jsonl

from drama_data.corpus import Fields, read_documents
from drama_data.errors import InputError


def test_beir_folder_and_gz(tmp_path, small_corpus):
    docs, report = read_documents(small_corpus)
    assert [d.id for d in docs] == [d["_id"] for d in SMALL_DOCS]
    gz = tmp_path / "gz"
    gz.mkdir()
    with gzip.open(gz / "corpus.jsonl.gz", "wt", encoding="utf-8") as fh:
        for d in SMALL_DOCS:
            fh.write(json.dumps(d, ensure_ascii=False) + "\n")
    docs2, _ = read_documents(gz)
    assert docs2 == docs
    assert report.documents == 6 and not report.skipped


def test_parquet_and_custom_fields(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"pid": ["a", "b"], "body": ["x y", "z"], "head": ["T", ""]}), tmp_path / "c.parquet")
    docs, _ = read_documents(tmp_path / "c.parquet", fields=Fields(id="pid", text="body", title="head"))
    assert [(d.id, d.title, d.text) for d in docs] == [("a", "T", "x y"), ("b", "", "z")]


def test_hf_dataset_folder(tmp_path):
    import datasets

    datasets.Dataset.from_list([{"id": 1, "text": "hello"}, {"id": 2, "text": "world"}]).save_to_disk(tmp_path / "hf")
    docs, _ = read_documents(tmp_path / "hf")
    assert [d.id for d in docs] == ["1", "2"]


@pytest.mark.parametrize(
    "content, message",
    [
        (b'{"_id": "a", "text": "x"}\n{"_id": "a", "text": "y"}\n', "c.jsonl:2: duplicate document id 'a'"),
        (b'{"_id": "a", "text": "x"}\n{oops\n', "c.jsonl:2: malformed JSON"),
        (b'{"_id": "a", "text": "x"}\n{"_id": "b", "text": "\xff\xfe"}\n', "c.jsonl:2: not valid UTF-8"),
        (b'{"_id": "a", "abstract": "x"}\n', "c.jsonl:1: no text field"),
        (b'{"text": "x"}\n', "c.jsonl:1: no id field"),
        (b'[1, 2]\n', "c.jsonl:1: expected a JSON object"),
    ],
)
def test_bad_input_names_file_and_line(tmp_path, content, message):
    (tmp_path / "c.jsonl").write_bytes(content)
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        read_documents(tmp_path / "c.jsonl")


def test_empty_text_is_counted_skip_or_error(tmp_path):
    p = write_jsonl(tmp_path / "c.jsonl", [{"_id": "a", "text": "x"}, {"_id": "b", "text": "  "}])
    docs, report = read_documents(p)
    assert [d.id for d in docs] == ["a"]
    assert report.skipped == [{"id": "b", "where": f"{p}:2", "reason": "empty text"}]
    with pytest.raises(InputError, match="document 'b' has an empty text"):
        read_documents(p, on_empty="error")


def test_missing_and_empty(tmp_path):
    with pytest.raises(InputError, match="no such file or folder"):
        read_documents(tmp_path / "nope.jsonl")
    (tmp_path / "e.jsonl").write_text("")
    with pytest.raises(InputError, match="no documents"):
        read_documents(tmp_path / "e.jsonl")


def test_a_mistyped_corpus_path_is_one_line_without_a_hub_lookup(tmp_path, monkeypatch):
    """The README's `--corpus data/scifact` in a clone without data/: before, a 25 s Hub lookup and a traceback."""
    import datasets

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: pytest.fail("a Hub lookup for a local path"))
    for value in ("data/scifact", "scifact/corpus.jsonl", "./scifact", "~/no-such-corpus-xyz"):
        with pytest.raises(InputError, match=f"^--corpus: no such file or folder: {value}"):
            read_documents(value)


def test_a_hub_name_whose_load_fails_is_one_line(tmp_path, monkeypatch):
    import datasets

    def unreachable(*a, **k):
        raise ConnectionError("Couldn't reach 'BeIR/nothere' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # no request to the Hub: the loader alone answers
    monkeypatch.setattr(datasets, "load_dataset", unreachable)
    with pytest.raises(InputError) as err:
        read_documents("BeIR/nothere")
    assert str(err.value) == ("--corpus BeIR/nothere: not a local file or folder, so it was tried as a Hugging Face "
                              "Hub dataset id: HF_HUB_OFFLINE is set and it is not in the Hugging Face cache")
