"""Tevatron-format training data: sources, group sampling, weighted mixing, resumable position, bad rows."""
import collections
import json

import datasets
import pytest

from drama_models.training.config import DatasetSpec, TrainConfig
from drama_models.training.data import GroupStream, load_rows


def rows(prefix: str, n: int, n_neg: int = 3):
    return [
        {
            "query_id": f"{prefix}{i}",
            "query": f"{prefix} question {i}",
            "positive_passages": [{"docid": f"{prefix}p{i}", "title": "T", "text": f"{prefix} positive {i}"}],
            "negative_passages": [
                {"docid": f"{prefix}n{i}.{j}", "title": "", "text": f"{prefix} negative {i}.{j}"} for j in range(n_neg)
            ],
        }
        for i in range(n)
    ]


@pytest.fixture
def sources(tmp_path):
    ds = datasets.Dataset.from_list(rows("a", 10))
    ds.to_parquet(str(tmp_path / "a.parquet"))
    with open(tmp_path / "b.jsonl", "w") as f:
        for r in rows("b", 6):
            f.write(json.dumps(r) + "\n")
    folder = tmp_path / "hub_like"
    (folder / "data").mkdir(parents=True)
    datasets.Dataset.from_list(rows("c", 4)).to_parquet(str(folder / "data" / "train-00000-of-00001.parquet"))
    datasets.Dataset.from_list(rows("d", 5)).save_to_disk(str(tmp_path / "saved"))
    return tmp_path


def test_every_source_kind_loads(sources):
    assert len(load_rows(DatasetSpec(str(sources / "a.parquet")))) == 10
    assert len(load_rows(DatasetSpec(str(sources / "b.jsonl")))) == 6
    assert len(load_rows(DatasetSpec(str(sources / "hub_like")))) == 4
    assert len(load_rows(DatasetSpec(str(sources / "saved")))) == 5
    with pytest.raises(ValueError, match="no such file or folder"):
        load_rows(DatasetSpec(str(sources / "nothing.parquet")))


def test_groups_have_one_positive_then_negatives(sources):
    stream = GroupStream.from_specs([DatasetSpec(str(sources / "a.parquet"))], group_size=3, seed=1)
    batch = stream.next_batch(4)
    assert len(batch) == 4
    for g in batch:
        i = g.query_id[1:]
        assert g.query == f"a question {i}"
        assert g.passages[0] == f"T a positive {i}"  # title + text
        assert len(g.passages) == 3 and all(p.startswith(f"a negative {i}.") for p in g.passages[1:])
        assert len(set(g.passages[1:])) == 2  # sampled without replacement when there are enough
    # an epoch visits every row once before any repeats
    stream = GroupStream.from_specs([DatasetSpec(str(sources / "a.parquet"))], group_size=1, seed=1)
    first = [g.query_id for _ in range(5) for g in stream.next_batch(2)]
    assert sorted(first) == sorted(f"a{i}" for i in range(10))


def test_few_negatives_are_sampled_with_replacement(tmp_path):
    datasets.Dataset.from_list(rows("a", 3, n_neg=1)).to_parquet(str(tmp_path / "x.parquet"))
    stream = GroupStream.from_specs([DatasetSpec(str(tmp_path / "x.parquet"))], group_size=4)
    g = stream.next_batch(1)[0]
    assert len(g.passages) == 4 and len(set(g.passages[1:])) == 1


def test_mixing_by_weight_is_seeded_and_resumable(sources):
    specs = [DatasetSpec(str(sources / "a.parquet"), weight=3.0), DatasetSpec(str(sources / "b.jsonl"), weight=1.0)]
    stream = GroupStream.from_specs(specs, group_size=2, seed=7)
    drawn = [g.query_id[0] for _ in range(50) for g in stream.next_batch(16)]
    share = collections.Counter(drawn)["a"] / len(drawn)
    assert 0.7 < share < 0.8  # weight 3:1

    again = GroupStream.from_specs(specs, group_size=2, seed=7)
    first = [[(g.query_id, g.passages) for g in again.next_batch(8)] for _ in range(3)]
    state = again.state_dict()
    later = [[(g.query_id, g.passages) for g in again.next_batch(8)] for _ in range(2)]
    resumed = GroupStream.from_specs(specs, group_size=2, seed=7)
    resumed.load_state_dict(state)
    assert [[(g.query_id, g.passages) for g in resumed.next_batch(8)] for _ in range(2)] == later
    fresh = GroupStream.from_specs(specs, group_size=2, seed=7)
    assert [[(g.query_id, g.passages) for g in fresh.next_batch(8)] for _ in range(3)] == first
    other_seed = GroupStream.from_specs(specs, group_size=2, seed=8)
    assert [[(g.query_id, g.passages) for g in other_seed.next_batch(8)] for _ in range(3)] != first


def test_rank_slices_partition_the_global_batch(sources):
    spec = [DatasetSpec(str(sources / "a.parquet"))]
    whole = [g.query_id for g in GroupStream.from_specs(spec, 2, seed=3).next_batch(8)]
    r0 = [g.query_id for g in GroupStream.from_specs(spec, 2, seed=3).next_batch(8, rank=0, world_size=2)]
    r1 = [g.query_id for g in GroupStream.from_specs(spec, 2, seed=3).next_batch(8, rank=1, world_size=2)]
    assert r0 + r1 == whole
    with pytest.raises(ValueError, match="not divisible"):
        GroupStream.from_specs(spec, 2).next_batch(7, rank=0, world_size=2)


def test_row_without_positive_is_named(tmp_path):
    bad = rows("a", 5)
    bad[3]["positive_passages"] = []
    datasets.Dataset.from_list(bad).to_parquet(str(tmp_path / "bad.parquet"))
    with pytest.raises(ValueError, match=r"1 row\(s\) has no positive passage: row 3 \(query_id 'a3'\)"):
        GroupStream.from_specs([DatasetSpec(str(tmp_path / "bad.parquet"))], group_size=2)


def test_row_without_negative_is_named_when_negatives_are_needed(tmp_path):
    bad = rows("a", 4)
    bad[1]["negative_passages"] = []
    datasets.Dataset.from_list(bad).to_parquet(str(tmp_path / "bad.parquet"))
    spec = [DatasetSpec(str(tmp_path / "bad.parquet"))]
    with pytest.raises(ValueError, match=r"has no negative passage .*row 1 \(query_id 'a1'\)"):
        GroupStream.from_specs(spec, group_size=4)
    GroupStream.from_specs(spec, group_size=1).next_batch(4)  # in-batch negatives only: fine


def test_missing_columns_are_named(tmp_path):
    datasets.Dataset.from_list([{"question": "q", "answer": "a"}]).to_parquet(str(tmp_path / "x.parquet"))
    with pytest.raises(ValueError, match=r"x.parquet: not a training set \(missing column\(s\) query, positive_passages; found question, answer\)"):
        load_rows(DatasetSpec(str(tmp_path / "x.parquet")))


def test_config_parsing_and_errors(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "model: m\noutput_dir: o\ndatasets:\n  - a.parquet:2\n  - {path: b, weight: 0.5, split: dev}\n"
        "learning_rate: 1e-4\nmatryoshka_dims: 64,32\n"
    )
    cfg = TrainConfig.from_yaml(recipe, overrides={"max_steps": 5, "temperature": None})
    assert cfg.datasets == [DatasetSpec("a.parquet", 2.0), DatasetSpec("b", 0.5, "dev")]
    assert cfg.learning_rate == 1e-4 and cfg.matryoshka_dims == [64, 32] and cfg.max_steps == 5
    assert cfg.temperature == 0.01
    recipe.write_text("model: m\noutput_dir: o\ndatasets: [a]\nlearning_rat: 1\n")
    with pytest.raises(ValueError, match=r"r\.yaml: unknown training option `learning_rat`; did you mean `learning_rate`\?"):
        TrainConfig.from_yaml(recipe)
    with pytest.raises(ValueError, match="option `matryoshka_weights` needs one weight per dim"):
        TrainConfig.from_yaml(None, {"model": "m", "output_dir": "o", "datasets": ["a"],
                                     "matryoshka_dims": [8, 4], "matryoshka_weights": [1.0]})
    with pytest.raises(ValueError, match="option `datasets` needs at least one"):
        TrainConfig.from_yaml(None, {"model": "m", "output_dir": "o"})
