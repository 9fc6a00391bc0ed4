import json

import datasets
import pyarrow.parquet as pq
import pytest
import yaml
from fake_backend import FakeBackend

from drama_data.datasets.folder import read_card, read_table
from drama_data.datasets.merge import merge_shards
from drama_data.errors import InputError
from drama_data.generate.cache import RequestCache
from drama_data.generate.runner import FAILURE_SCHEMA, CorpusOptions, generate
from drama_data.tasks import get_task


def run(corpus, out, cache, backend=None, **kw):
    task = get_task("queries", queries_per_doc=kw.pop("qpd", 1))
    return generate(task, CorpusOptions(str(corpus)), out, backend=backend or FakeBackend(), cache=cache,
                    progress=False, echo=None, **kw)


def test_generate_writes_a_loadable_dataset_with_card_and_failures(small_corpus, tmp_path):
    cache = RequestCache(tmp_path / "c.sqlite")
    summary = run(small_corpus, tmp_path / "out", cache, qpd=2)
    assert summary.rows == 12 and summary.failed_slots == 0
    assert summary.failures == {"no 'Query:' line": 2}  # d3's first attempts, retried with a new seed
    ds = datasets.load_dataset(str(tmp_path / "out"), split="train")
    assert ds.num_rows == 12
    assert ds.features["query"].dtype == "string" and ds.features["seed"].dtype == "int64"
    assert ds[0]["query_id"] == "d1/qgen0" and ds[1]["query_id"] == "d1/qgen1"
    assert ds[0]["source"] == "qgen" and ds[0]["language"] == "en" and ds[0]["model"] == "fake-model"
    retried = [r for r in ds if r["passage_id"] == "d3"]
    assert {r["attempt"] for r in retried} == {1}
    fails = datasets.load_dataset(str(tmp_path / "out"), "failures", split="train")
    assert fails.num_rows == 2 and fails[0]["raw_text"] == "I am not sure what to say." and not fails[0]["final"]
    meta, body = read_card(tmp_path / "out")
    assert {c["config_name"] for c in meta["configs"]} == {"queries", "failures"}
    # datasets ignores (and warns about) a split entry that lacks any of these
    assert all(set(split) == {"name", "num_bytes", "num_examples"}
               for info in meta["dataset_info"] for split in info["splits"])
    assert "queries.chat.j2" in body and "sha256" in body
    prov = json.loads((tmp_path / "out" / "provenance.json").read_text())
    assert prov["prompt"]["id"] == "queries.chat.j2" and prov["task"]["sampling"]["temperature"] == 0.8
    assert prov["counts"]["rows"] == 12


def test_completion_form_for_models_without_chat_template(small_corpus, tmp_path):
    summary = run(small_corpus, tmp_path / "out", None, backend=FakeBackend(chat=False))
    assert summary.rows == 6
    ds = datasets.load_dataset(str(tmp_path / "out"), split="train")
    assert set(ds["prompt_id"]) == {"queries.completion.j2"}


def test_interrupted_then_resumed_equals_uninterrupted(small_corpus, tmp_path):
    run(small_corpus, tmp_path / "full", RequestCache(tmp_path / "a.sqlite"), qpd=2)
    cache = RequestCache(tmp_path / "b.sqlite")
    with pytest.raises(KeyboardInterrupt):
        run(small_corpus, tmp_path / "resumed", cache, backend=FakeBackend(interrupt_after=5), qpd=2)
    assert not (tmp_path / "resumed").exists()  # no half-written output
    assert len(cache) == 5
    again = FakeBackend()
    summary = run(small_corpus, tmp_path / "resumed", cache, backend=again, qpd=2)
    assert summary.stats.cached == 5 and again.generated == 14 - 5
    for config in ("queries", "failures"):
        assert read_table(tmp_path / "resumed", config, FAILURE_SCHEMA).equals(
            read_table(tmp_path / "full", config, FAILURE_SCHEMA))
    # a third run is served entirely from the cache and starts no backend work
    third = FakeBackend()
    run(small_corpus, tmp_path / "resumed", cache, backend=third, qpd=2)
    assert third.generated == 0


def test_shards_merge_to_the_full_run(small_corpus, tmp_path):
    cache = RequestCache(tmp_path / "c.sqlite")
    run(small_corpus, tmp_path / "full", cache)
    shards = []
    for i in range(3):
        run(small_corpus, tmp_path / f"s{i}", cache, num_shards=3, shard_index=i)
        shards.append(tmp_path / f"s{i}")
    sizes = [read_table(s, "queries").num_rows for s in shards]
    assert sum(sizes) == 6
    merge_shards(shards, tmp_path / "merged")
    full = read_table(tmp_path / "full", "queries").sort_by("query_id")
    assert read_table(tmp_path / "merged", "queries").equals(full)
    with pytest.raises(InputError, match="missing"):
        merge_shards(shards[:2], tmp_path / "m2")


def test_bad_corpus_writes_nothing(tmp_path):
    bad = tmp_path / "c.jsonl"
    bad.write_text('{"_id": "a", "text": "x"}\n{"_id": "a", "text": "y"}\n')
    with pytest.raises(InputError, match="duplicate document id 'a'"):
        run(bad, tmp_path / "out", None)
    assert not (tmp_path / "out").exists()


def test_crop_task_needs_no_backend(small_corpus, tmp_path):
    task = get_task("crop", language="en", min_words=3)
    s = generate(task, CorpusOptions(str(small_corpus)), tmp_path / "crop", progress=False, echo=None)
    ds = datasets.load_dataset(str(tmp_path / "crop"), split="train")
    assert s.rows == ds.num_rows >= 4
    for row in ds:
        assert row["query"] in row["text"] and row["source"] == "sent"
    again = tmp_path / "crop2"
    generate(task, CorpusOptions(str(small_corpus)), again, progress=False, echo=None)
    assert read_table(again, "queries").equals(read_table(tmp_path / "crop", "queries"))


def test_limit_and_card_yaml(small_corpus, tmp_path):
    run(small_corpus, tmp_path / "out", None, limit=2)
    text = (tmp_path / "out" / "README.md").read_text()
    meta = yaml.safe_load(text.split("---\n")[1])
    assert meta["task_categories"] == ["text-retrieval"] and "drama-toolkit" in meta["tags"]
    assert pq.read_table(next((tmp_path / "out" / "data" / "queries").glob("*.parquet"))).num_rows == 2


def test_crop_summary_shows_only_what_applies_and_the_bar_has_a_total(small_corpus, tmp_path, capsys):
    task = get_task("crop", language="en", min_words=3)
    s = generate(task, CorpusOptions(str(small_corpus)), tmp_path / "crop", limit=2, progress=True, echo=None)
    bar = capsys.readouterr().err
    assert "2/2" in bar and "100%" in bar, bar  # --limit gives the bar its total (and so an ETA)
    text = s.render()
    assert "requests" not in text and "tokens" not in text and "model" not in text, text
    assert "rows written" in text and "(0 documents or pages skipped)" in text
    # a corpus shorter than --limit: the bar ends full, at the passages there were
    generate(task, CorpusOptions(str(small_corpus)), tmp_path / "crop2", limit=10_000, progress=True, echo=None)
    assert "100%" in capsys.readouterr().err


def test_summary_plurals():
    from collections import Counter

    from drama_data.generate.runner import RunSummary

    one = RunSummary(output="out", task="queries", model="m", skipped_documents=1, failures=Counter(bad=1))
    one.stats.errors = 1
    text = one.render()
    assert "(1 document or page skipped)" in text and "; 1 failed attempt" in text and "1 backend error)" in text
    assert "model            m" in text and "requests" in text and "tokens" in text
    many = RunSummary(output="out", task="queries", skipped_documents=2, failures=Counter(bad=2)).render()
    assert "(2 documents or pages skipped)" in many and "2 failed attempts" in many and "0 backend errors" in many
