"""The ``sentence-transformers`` config of ``build`` (:mod:`drama_data.build.st_layout`): its columns, what it does
with short rows and missing scores, that ``load_dataset(folder, "sentence-transformers")`` reads it, that
sentence-transformers' collator and losses take its batches, and its flags and YAML keys."""
import pyarrow as pa
import pytest
from click.testing import CliRunner

from drama_data.build import build
from drama_data.build.config import load_config
from drama_data.build.st_layout import CONFIG, passage_text, st_columns, st_table
from drama_data.datasets.folder import read_card, read_table, write_dataset
from drama_data.errors import ConfigError
from drama_data.mining.mine import CANDIDATES_SCHEMA, PASSAGES_SCHEMA


def D(i):
    return f"d{i}"


def q(i):
    return f"query number {i} about topic {i * 7 % 11} and more"


def candidates_folder(folder, n_queries):
    """A ``mine`` output: queries q0..q{n-1}, each with candidates d1..d50 (score 100 - rank), d1 its source."""
    cands = [{"docid": D(r), "score": float(100 - r), "rank": r, "is_source": r == 1} for r in range(1, 51)]
    rows = [{"query_id": f"q{i}", "query": q(i), "source": "qgen", "language": "en", "source_passage_id": D(1),
             "source_rank": 1, "candidates": cands, "retriever": "test"} for i in range(n_queries)]
    passages = [{"id": D(r), "doc_id": D(r), "title": f"title {D(r)}", "text": f"text of passage {D(r)}"}
                for r in range(1, 51)]
    write_dataset(folder, {"candidates": pa.Table.from_pylist(rows, schema=CANDIDATES_SCHEMA),
                           "passages": pa.Table.from_pylist(passages, schema=PASSAGES_SCHEMA)},
                  default="candidates", card_body="test", card_meta={"drama_mine": {"k": 50, "k_effective": 50}})
    return str(folder)


def cfg(tmp_path, n_queries):
    return load_config(None, inputs=[{"candidates": candidates_folder(tmp_path / "c", n_queries)}],
                       output=str(tmp_path / "out"), miner="strong")


def P(d, score=None, title=None):
    return {"docid": d, "title": f"title {d}" if title is None else title, "text": f"text {d}", "score": score}


def train_row(query, pos, neg):
    return {"query": query, "positive_passages": pos, "negative_passages": neg}


def test_columns_first_positive_hardest_negatives_short_rows_and_scores():
    rows = [train_row("a", [P("p1", 9.0), P("p2", 8.0)], [P(f"n{i}", 5.0 - i) for i in range(5)]),
            train_row("b", [P("p3", 7.0, title="")], [P("m1", 2.0), P("m2", 1.0)])]
    table, stats = st_table(rows, negatives=3)
    assert table.column_names == ["anchor", "positive", "negative_1", "negative_2", "negative_3", "scores"]
    got = table.to_pylist()
    assert got[0]["anchor"] == "a" and got[0]["positive"] == "title p1 text p1"
    assert [got[0][f"negative_{i}"] for i in (1, 2, 3)] == ["title n0 text n0", "title n1 text n1", "title n2 text n2"]
    assert got[0]["scores"] == [9.0, 5.0, 4.0, 3.0]
    # a row with 2 negatives repeats its own, in order, to fill 3 columns; an empty title is left out
    assert got[1]["positive"] == "text p3"
    assert [got[1][f"negative_{i}"] for i in (1, 2, 3)] == ["title m1 text m1", "title m2 text m2", "title m1 text m1"]
    assert (stats.rows, stats.padded_rows, stats.extra_positives, stats.scores) == (2, 1, 1, True)
    assert str(table.schema.field("scores").type) == "list<item: float>"


def test_rows_without_negatives_or_scores_are_counted_never_silently_lost():
    rows = [train_row("a", [P("p1", 1.0)], [P("n1", None)]), train_row("b", [P("p2", 1.0)], [])]
    table, stats = st_table(rows, negatives=2)
    assert table.column_names == st_columns(2, scores=False) == ["anchor", "positive", "negative_1", "negative_2"]
    assert (stats.rows, stats.rows_without_negatives, stats.rows_without_scores) == (1, 1, 1)
    pairs, stats0 = st_table(rows, negatives=0)  # pairs: every row fits, the scores of the positives are whole
    assert pairs.column_names == ["anchor", "positive", "scores"] and stats0.rows == 2
    with pytest.raises(ValueError, match="negatives"):
        st_table(rows, negatives=-1)
    assert passage_text({"title": "  ", "text": "t"}) == "t"


def test_load_dataset_reads_the_config_aligned_with_train(tmp_path):
    from datasets import load_dataset

    build(cfg(tmp_path, 6), progress=False)
    st = load_dataset(str(tmp_path / "out"), CONFIG, split="train")
    train = load_dataset(str(tmp_path / "out"), "train", split="train")
    assert st.column_names == ["anchor", "positive", *(f"negative_{i}" for i in range(1, 8)), "scores"]
    assert len(st) == len(train) == 6
    for s, t in zip(st, train):
        assert s["anchor"] == t["query"]
        assert s["positive"] == "title {0} text of passage {0}".format(t["positive_passages"][0]["docid"])
        assert s["negative_1"].startswith("title " + t["negative_passages"][0]["docid"] + " ")
        assert s["scores"] == pytest.approx([t["positive_passages"][0]["score"],
                                             *(p["score"] for p in t["negative_passages"][:7])])
    meta, body = read_card(tmp_path / "out")
    assert "sentence-transformers" in meta["tags"] and "## Training with sentence-transformers" in body
    assert f'load_dataset("path/to/this/folder", "{CONFIG}", split="train")' in body


def test_the_collator_and_losses_take_its_batches(tmp_path):
    """sentence-transformers' collator takes ``scores`` as the label and the text columns in order; MNRL,
    MarginMSELoss and DistillKLDivLoss accept the shapes (embeddings stand in for a model)."""
    import torch
    from sentence_transformers.sentence_transformer.data_collator import SentenceTransformerDataCollator
    from sentence_transformers.sentence_transformer.losses import (
        DistillKLDivLoss,
        MarginMSELoss,
        MultipleNegativesRankingLoss,
    )

    build(cfg(tmp_path, 4), progress=False)
    features = read_table(tmp_path / "out", CONFIG).to_pylist()
    seen = []

    def preprocess(texts, prompt=None, task=None):
        seen.append(texts)
        return {"input_ids": torch.zeros(len(texts), 2, dtype=torch.long)}

    batch = SentenceTransformerDataCollator(preprocess_fn=preprocess)(features)
    assert batch["label"].shape == (4, 8) and len(seen) == 9 and seen[0] == [f["anchor"] for f in features]
    embeddings = [torch.nn.functional.normalize(torch.randn(4, 16), dim=-1) for _ in range(9)]
    for loss in (MarginMSELoss(model=None), DistillKLDivLoss(model=None), MultipleNegativesRankingLoss(model=None)):
        value = loss.compute_loss_from_embeddings(embeddings, batch["label"])
        assert torch.isfinite(value), type(loss).__name__


def test_flags_and_yaml_keys(tmp_path):
    from drama_data.cli import main

    cands_dir = candidates_folder(tmp_path / "c", 3)
    base = ["build", "--candidates", cands_dir, "--no-progress", "--no-report"]
    res = CliRunner().invoke(main, [*base, "--output", str(tmp_path / "a"), "--st-negatives", "2", "--miner", "strong"])
    assert res.exit_code == 0, res.output
    assert "config sentence-transformers: 3 rows (anchor, positive, negative_1..negative_2, scores)" in res.output
    assert read_table(tmp_path / "a", CONFIG).column_names == ["anchor", "positive", "negative_1", "negative_2",
                                                                "scores"]
    res = CliRunner().invoke(main, [*base, "--output", str(tmp_path / "b"), "--no-sentence-transformers"])
    assert res.exit_code == 0, res.output
    meta, _ = read_card(tmp_path / "b")
    assert [c["config_name"] for c in meta["configs"]] == ["train", "removed"] and CONFIG not in res.output
    res = CliRunner().invoke(main, [*base, "--output", str(tmp_path / "c2"), "--st-negatives", "-1"])
    assert res.exit_code == 2 and "--st-negatives" in res.output and "Traceback" not in res.output
    (tmp_path / "b.yaml").write_text(f"inputs: [{{candidates: {cands_dir}}}]\nsentence_transformers: {{negatives: x}}\n")
    with pytest.raises(ConfigError, match=r"^sentence_transformers\.negatives: must be an integer"):
        load_config(tmp_path / "b.yaml")
    (tmp_path / "c.yaml").write_text(f"inputs: [{{candidates: {cands_dir}}}]\nsentence_transformers: {{size: 3}}\n")
    with pytest.raises(ConfigError, match="size"):
        load_config(tmp_path / "c.yaml")


def test_require_scores_leaves_out_rows_without_them_so_that_the_column_is_there(tmp_path):
    rows = [train_row("a", [P("p1", None)], [P("n1", 1.0)]), train_row("b", [P("p2", 2.0)], [P("n2", 1.0)])]
    table, stats = st_table(rows, negatives=1, require_scores=True)
    assert table.column_names == ["anchor", "positive", "negative_1", "scores"] and table["anchor"].to_pylist() == ["b"]
    assert (stats.rows, stats.rows_without_scores, stats.require_scores) == (1, 1, True)

    from drama_data.cli import main

    # the flag and the YAML key reach the config (the rows' leaving out is checked above)
    folder = candidates_folder(tmp_path / "c", 3)
    res = CliRunner().invoke(main, ["build", "--candidates", folder, "--output", str(tmp_path / "o"), "--no-progress",
                                    "--no-report", "--st-require-scores", "--json"])
    assert res.exit_code == 0, res.output
    assert '"require_scores": true' in res.output
    assert load_config(None, inputs=[{"candidates": folder}], st_require_scores=True).st_require_scores is True
    (tmp_path / "r.yaml").write_text(f"inputs: [{{candidates: {folder}}}]\nsentence_transformers: {{require_scores: 1}}\n")
    with pytest.raises(ConfigError, match=r"^sentence_transformers\.require_scores: must be true or false"):
        load_config(tmp_path / "r.yaml")
