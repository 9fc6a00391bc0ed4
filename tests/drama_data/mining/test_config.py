"""MineConfig: one object for the CLI, the Python API and the recipe stage; combinations checked in one place,
errors naming the flag (or recipe key) the user wrote; --encoder choices from the encoder registry."""
import pytest
from click.testing import CliRunner

from drama_data.errors import ConfigError
from drama_data.mining import encoders
from drama_data.mining.config import MineConfig
from drama_data.mining.encoders import EncoderKind, EncoderRegistry


def cfg(**kw):
    return MineConfig(queries="q", output="o", **kw)


@pytest.mark.parametrize("kw, message", [
    ({"k": 0}, "-k must be at least 1"),
    ({"chunk_size": 0}, "--chunk-size and --batch-size must be at least 1"),
    ({"ray_workers": 2}, "--ray applies to --retriever dense only"),
    ({"encode_batch_size": 8}, "--encode-batch-size applies to --retriever dense or hybrid only"),
    ({"bf16": "true"}, "--bf16 applies to --retriever dense or hybrid only"),
    ({"retriever": "rank-bm25", "threads": 2}, "--retriever rank-bm25 does not take option(s) --threads"),
    # named --encoder-kind before (no such flag)
    ({"encoder_kind": "drama"}, "--retriever bm25s does not take option(s) --encoder"),
    ({"retriever": "bm25s", "weight": 0.5, "model": "m"}, "does not take option(s) --model, --weight"),
    ({"cross_lingual": "sideways"}, "--cross-lingual: 'sideways' is not one of auto, query"),
    ({"retriever": "bm26"}, "--retriever: 'bm26' is not one of bm25s"),
])
def test_combinations_are_checked_naming_the_flag(kw, message):
    with pytest.raises(ConfigError) as err:
        cfg(**kw).validate()
    assert message in str(err.value) and "\n" not in str(err.value)


def test_recipe_keys_name_the_stage_key():
    with pytest.raises(ConfigError, match=r"stages.mine.ray applies to stages.mine.retriever dense only"):
        cfg(retriever="hybrid", model="m", ray="x").validate(name=lambda f: f"stages.mine.{f}")


def test_retriever_keywords_and_flag_defaults():
    dense = cfg(retriever="dense", model="m", encode_batch_size=16, include_title=False, ray_workers=3)
    assert dense.retriever_kwargs() == {"model": "m", "include_title": False, "batch_size": 16, "ray": "local",
                                        "ray_workers": 3, "bf16": "auto", "progress": True}
    assert cfg(k1=1.2).retriever_kwargs() == {"k1": 1.2, "progress": True}  # no bf16 for BM25
    c = MineConfig.from_flags({"queries": "q", "output": "o", "no_title": True, "no_progress": True,
                               "title_field": "t", "as_json": True})
    assert c.include_title is False and c.progress is False and c.fields.title == "t" and c.fields.id is None


def test_cli_errors_are_one_line_naming_the_flag(tmp_path):
    from drama_data.cli import main

    (tmp_path / "q").mkdir()
    for args, message in ((["--ray"], "--ray applies to --retriever dense only"),
                          (["--encoder", "sentence-transformers"], "does not take option(s) --encoder")):
        res = CliRunner().invoke(main, ["mine", "--queries", str(tmp_path / "q"), "--output", str(tmp_path / "o"),
                                        *args])
        assert res.exit_code == 2 and message in res.output, res.output
        assert len(res.output.strip().splitlines()) == 1  # was click's usage block for --ray
    assert not (tmp_path / "o").exists()


def test_encoder_choices_come_from_the_registry(tmp_path, monkeypatch):
    """A kind registered by a plug-in is a valid --encoder value and listed in --help (the list was hard-coded)."""
    from drama_data.cli import main

    reg = EncoderRegistry()
    reg._loaded = True
    reg.add_kind(EncoderKind("toy", load=lambda *a, **k: None, recognises=lambda p: False))
    monkeypatch.setattr(encoders, "_REGISTRY", reg)
    res = CliRunner().invoke(main, ["mine", "--help"])
    assert res.exit_code == 0 and "toy" in res.output and "drama" not in res.output.split("--encoder")[1][:80]
    (tmp_path / "q").mkdir()
    res = CliRunner().invoke(main, ["mine", "--queries", str(tmp_path / "q"), "--output", str(tmp_path / "o"),
                                    "--encoder", "toy"])
    assert "does not take option(s) --encoder" in res.output  # toy accepted by the parser, refused for bm25s
    res = CliRunner().invoke(main, ["mine", "--queries", str(tmp_path / "q"), "--output", str(tmp_path / "o"),
                                    "--encoder", "nope"])
    assert res.exit_code == 2 and "'nope' is not one of 'auto', 'sentence-transformers', 'toy'" in res.output


def test_config_and_keyword_calls_write_the_same(tmp_path, sample_dir, sample_queries, sample_qrels):
    from mining_helpers import write_queries

    from drama_data.chunking import load_passages
    from drama_data.datasets.folder import read_table
    from drama_data.mining.mine import mine

    passages, _ = load_passages(str(sample_dir))
    first = {}
    for p in passages:
        first.setdefault(p.doc_id, p.id)
    q = write_queries(tmp_path / "q", [{"query_id": qid, "query": t, "passage_id": first[sample_qrels[qid][0]]}
                                       for qid, t in sample_queries[:6]])
    a = mine(q, str(sample_dir), tmp_path / "a", k=5, work_dir=tmp_path / "w", progress=False,
             retriever_options={"k1": 1.1})
    b = mine(MineConfig(queries=q, corpus=str(sample_dir), output=tmp_path / "b", k=5, work_dir=tmp_path / "w",
                        progress=False, k1=1.1))
    assert a.queries == b.queries == 6 and b.index_reused
    assert read_table(tmp_path / "a", "candidates").equals(read_table(tmp_path / "b", "candidates"))
    with pytest.raises(TypeError):
        mine(MineConfig(queries=q, output=tmp_path / "c"), k=3)
