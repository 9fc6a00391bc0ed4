"""Length-bucketed batches (drama_models/training/buckets.py; issue 30 part 3): parsing, assignment, one bucket per
batch with its size, padding to the batch's longest, seeded order, ranks in step, resume, the trainer and card."""
import json
from pathlib import Path

import datasets
import numpy as np
import pytest
from tiny_models import SAMPLE_TEXTS, one_torch_thread, tiny_model_dir, tiny_tokenizer  # noqa: F401

from drama_models.training.buckets import (
    BucketedGroupStream,
    bucket_of,
    parse_length_buckets,
    positive_lengths,
)
from drama_models.training.config import TrainConfig
from drama_models.training.trainer import Trainer, train

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TEXTS = sorted(set(SAMPLE_TEXTS))


def _rows(n, words=lambda i: 5 + 7 * (i % 4)):
    """Rows whose positive has ``words(i)`` words (lengths spread over several buckets)."""
    out = []
    for i in range(n):
        text = " ".join((" ".join(TEXTS) + " ").split()[: words(i)]) + f" id{i}"
        out.append({"query_id": str(i), "query": f"question {i}",
                    "positive_passages": [{"docid": f"p{i}", "title": "", "text": text}],
                    "negative_passages": [{"docid": f"n{i}", "title": "", "text": TEXTS[i % len(TEXTS)]}]})
    return out


def _stream(lengths, buckets, seed=1, n_datasets=1):
    data = [datasets.Dataset.from_list(_rows(len(lengths))) for _ in range(n_datasets)]
    return BucketedGroupStream(data, [1.0] * n_datasets, [f"d{i}" for i in range(n_datasets)], 2, seed, buckets,
                               [np.asarray(lengths)] * n_datasets)


def test_parse_length_buckets_forms_and_errors():
    want = [[256, 32], [1024, 8], [4096, 2]]
    assert parse_length_buckets("256:32,1024:8,4096:2") == want
    assert parse_length_buckets(["256:32", "1024:8", "4096:2"]) == want
    assert parse_length_buckets([[256, 32], (1024, 8), {"max_len": 4096, "batch_size": 2}]) == want
    assert parse_length_buckets(None) is None and parse_length_buckets("none") is None
    for bad, why in (("256", "MAX_LEN:BATCH_SIZE"), ("256:0", "batch_size >= 1"), ("1024:8,256:32", "increase"),
                     ("a:b", "MAX_LEN:BATCH_SIZE")):
        with pytest.raises(ValueError, match=why):
            parse_length_buckets(bad, "flags")
    cfg = TrainConfig.from_dict({"model": "m", "output_dir": "o", "datasets": ["d"], "length_buckets": "64:4,128:2"})
    assert cfg.length_buckets == [[64, 4], [128, 2]]
    with pytest.raises(ValueError, match="r.yaml: option `length_buckets`"):
        TrainConfig.from_dict({"length_buckets": "64:4,32:2"}, "r.yaml")


def test_rows_land_in_the_first_bucket_that_holds_them_and_long_rows_are_counted():
    assert bucket_of(np.array([1, 256, 257, 1024, 5000]), [256, 1024]).tolist() == [0, 0, 1, 1, 1]
    lengths = [10, 256, 257, 900, 1024, 3000, 20, 5000]
    s = _stream(lengths, [[256, 2], [1024, 2]])
    assert s.rows[0][0].tolist() == [0, 1, 6] and s.rows[0][1].tolist() == [2, 3, 4, 5, 7]
    assert [(b["rows"], b["truncated_rows"]) for b in s.summary()] == [(3, 0), (5, 2)]


def test_every_batch_is_one_bucket_with_its_batch_size_and_the_order_follows_the_seed():
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 400, size=60)
    buckets = [[64, 4], [128, 3], [512, 2]]
    s = _stream(lengths, buckets, n_datasets=2)
    which = bucket_of(lengths, [m for m, _ in buckets])
    seen = []
    for _ in range(40):
        groups, bucket = s.next_batch()
        b = buckets.index(bucket)
        assert len(groups) == bucket[1]
        assert {int(which[int(g.query_id)]) for g in groups} == {b}
        seen.append((b, [g.query_id for g in groups]))
    assert {b for b, _ in seen} == {0, 1, 2}
    assert sum(s.bucket_steps) == 40 and [x["steps"] for x in s.summary()] == s.bucket_steps
    again = _stream(lengths, buckets, n_datasets=2)
    assert [(buckets.index(b), [g.query_id for g in g_]) for g_, b in (again.next_batch() for _ in range(40))] == seen
    other = _stream(lengths, buckets, seed=2, n_datasets=2)
    assert [buckets.index(b) for _, b in (other.next_batch() for _ in range(40))] != [b for b, _ in seen]


def test_ranks_take_the_same_bucket_at_the_same_step_and_split_its_batch():
    lengths = np.random.default_rng(1).integers(5, 400, size=40)
    buckets = [[64, 4], [512, 2]]
    full, r0, r1 = (_stream(lengths, buckets) for _ in range(3))
    for _ in range(15):
        g, b = full.next_batch()
        g0, b0 = r0.next_batch(None, 0, 2)
        g1, b1 = r1.next_batch(None, 1, 2)
        assert b == b0 == b1 and len(g0) == len(g1) == b[1] // 2
        assert [x.query_id for x in g0 + g1] == [x.query_id for x in g]
    with pytest.raises(ValueError, match="not divisible"):
        s = _stream(lengths, [[64, 3]])
        s.next_batch(None, 0, 2)


def test_resume_continues_the_same_sequence():
    lengths = np.random.default_rng(2).integers(5, 400, size=30)
    buckets = [[64, 4], [512, 2]]
    a = _stream(lengths, buckets)
    for _ in range(7):
        a.next_batch()
    state = json.loads(json.dumps(a.state_dict()))
    b = _stream(lengths, buckets)
    b.load_state_dict(state)
    for _ in range(10):
        (ga, ba), (gb, bb) = a.next_batch(), b.next_batch()
        assert ba == bb and [g.query_id for g in ga] == [g.query_id for g in gb]
    c = _stream(lengths, [[64, 4], [1024, 2]])
    with pytest.raises(ValueError, match="same buckets"):
        c.load_state_dict(state)


# ---------------------------------------------------------------------- with a tiny model


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("buckets")
    model = tiny_model_dir(root / "llama", "llama", tokenizer=tiny_tokenizer())
    data = root / "train.parquet"
    datasets.Dataset.from_list(_rows(24)).to_parquet(str(data))
    return model, data


def _config(model, data, out, **kw):
    values = dict(model=str(model), output_dir=str(out), datasets=[str(data)], batch_size=4, train_group_size=2,
                  temperature=0.05, learning_rate=5e-3, max_steps=3, warmup_steps=1, query_max_len=16,
                  passage_max_len=32, logging_steps=1, save_steps=0, resume="none", show_progress=False, seed=3,
                  bf16="false")
    values.update(kw)
    return TrainConfig(**values)


def test_lengths_are_the_encoders_token_counts(tiny):
    from drama_models.encoder import DramaEncoder

    model, data = tiny
    enc = DramaEncoder.from_pretrained(model, device="cpu")
    ds = datasets.Dataset.from_parquet(str(data))
    got = positive_lengths(enc, ds, cap=10_000, batch=5)
    texts = [enc.document_prefix + r["positive_passages"][0]["text"] for r in ds]
    want = [int(enc.tokenize([t], 10_000)["attention_mask"].sum()) for t in texts]
    assert got.tolist() == want
    assert positive_lengths(enc, ds, cap=8).max() == 8


def test_trainer_pads_each_batch_to_its_longest_within_its_bucket(tiny, tmp_path):
    model, data = tiny
    cfg = _config(model, data, tmp_path / "out", length_buckets=[[12, 4], [24, 2], [40, 2]])
    trainer = Trainer(cfg)
    widths = []
    real = trainer.encoder.tokenize

    def spy(texts, max_length=None):
        out = real(texts, max_length)
        natural = max(int(real([t], 10_000)["attention_mask"].sum()) for t in texts)
        widths.append((len(texts), max_length, out["input_ids"].shape[1], natural))
        return out

    trainer.encoder.tokenize = spy
    for _ in range(8):
        trainer.training_step()
    passages = widths[1::2]  # tokenize_groups: queries, then passages
    sizes = {12: 4, 24: 2, 40: 2}
    for n, max_len, width, natural in passages:
        assert n == sizes[max_len] * cfg.train_group_size
        assert width == min(natural, max_len)  # the batch's longest, not the global max
    assert len({m for _, m, _, _ in passages}) > 1
    summary = trainer.objective.summary()
    assert sum(b["steps"] for b in summary["length_buckets"]) == 8
    assert summary["positions"].startswith("rope default")


def test_without_buckets_the_stream_is_the_plain_one(tiny, tmp_path):
    from drama_models.training.data import GroupStream

    model, data = tiny
    trainer = Trainer(_config(model, data, tmp_path / "out"))
    assert type(trainer.stream) is GroupStream


def test_bucket_longer_than_the_positions_is_one_error(tiny, tmp_path):
    model, data = tiny
    with pytest.raises(ValueError, match="longer than the model's 512 positions"):
        Trainer(_config(model, data, tmp_path / "out", length_buckets=[[64, 2], [1024, 2]]))


@pytest.mark.parametrize("family", ["llama", "gemma3"])
def test_tiny_rope_model_trains_a_step_on_a_2k_bucket_and_the_card_states_it(family, tmp_path):
    from cards.model_card import write_model_card

    model = tiny_model_dir(tmp_path / family, family, tokenizer=tiny_tokenizer(), max_position_embeddings=4096)
    long_text = " ".join([" ".join(TEXTS)] * 40)
    rows = _rows(4) + [{"query_id": f"L{i}", "query": f"long {i}",
                        "positive_passages": [{"docid": f"L{i}", "title": "", "text": f"{i} " + long_text}],
                        "negative_passages": [{"docid": f"M{i}", "title": "", "text": long_text[i:]}]}
                       for i in range(2)]
    for i, r in enumerate(rows):  # generate's answer positions may travel along: ignored, never a failure
        r.update(answer_start=i, answer_end=i + 3, answer_depth=0.5)
    data = tmp_path / "train.jsonl"
    datasets.Dataset.from_list(rows).to_json(str(data))
    out = tmp_path / "out"
    cfg = _config(model, data, out, length_buckets="64:4,2048:2", max_steps=4, seed=0)
    train(cfg)
    done = json.loads((out / "training_complete.json").read_text())
    buckets = done["summary"]["length_buckets"]
    assert [(b["rows"], b["truncated_rows"]) for b in buckets] == [(4, 0), (2, 2)]
    assert buckets[1]["steps"] >= 1 and done["summary"]["longest_tokens"] == 2048
    saved = json.loads((out / "tokenizer_config.json").read_text())
    assert saved["model_max_length"] == 2048  # the saved model reads documents as long as it was trained on
    losses = [json.loads(line)["loss"] for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert all(np.isfinite(losses))
    card = write_model_card(out, results=[], system="long", train_config=cfg.to_dict()).read_text()
    assert "| length_buckets | 64:4, 2048:2 |" in card
    assert "| 2048 | 2 | 2 | 2 |" in card and "Positions: rope" in card and "2048 tokens" in card



def test_recipe_train_stage_takes_length_buckets(tmp_path):
    from drama_models.recipes.schema import RecipeError, load_recipe

    text = (Path(__file__).resolve().parents[3] / "recipes" / "cpu-demo.yaml").read_text()
    head, sep, tail = text.partition("\n  train-minilm:")
    first, _, rest = tail.partition("\n")
    for value, ok in (('"64:4,1024:2"', True), ("[[64, 4], [1024, 2]]", True), ("[64:4, 1024:2]", False)):
        path = tmp_path / "r.yaml"
        path.write_text(f"{head}{sep}{first}\n    length_buckets: {value}\n{rest}")
        if ok:
            assert load_recipe(path).stage("train-minilm").options["length_buckets"]
        else:  # YAML 1.1 reads unquoted 64:4 as a base-60 integer: one error saying so
            with pytest.raises(RecipeError, match="base-60"):
                load_recipe(path)


def test_gradcache_works_per_bucket_with_the_same_losses(tiny, tmp_path):
    model, data = tiny
    runs = []
    for name, kw in (("plain", {}), ("gradcache", {"gradcache_chunk_size": 3})):
        out = tmp_path / name
        train(_config(model, data, out, length_buckets=[[12, 4], [40, 2]], max_steps=4, **kw))
        runs.append([json.loads(line)["loss"] for line in (out / "train_log.jsonl").read_text().splitlines()])
    assert np.allclose(runs[0], runs[1], atol=1e-4)


TORCHRUN_SCRIPT = """
import json, sys
from drama_models.training.config import TrainConfig
from drama_models.training.trainer import train
train(TrainConfig(**json.loads(sys.argv[1])))
"""


@pytest.mark.slow
def test_two_processes_take_the_same_bucket_and_match_one_process(tiny, tmp_path):
    """torchrun --nproc_per_node 2 (gloo, CPU), cross-device negatives: every rank is in the same bucket at the same
    step (else the gather of unequal shapes fails), and the losses equal one process on the whole batch."""
    import os
    import subprocess
    import sys

    model, data = tiny
    kw = dict(length_buckets=[[12, 4], [40, 2]], max_steps=4)
    single = tmp_path / "single"
    train(_config(model, data, single, **kw))
    script = tmp_path / "run.py"
    script.write_text(TORCHRUN_SCRIPT)
    repo = Path(__file__).resolve().parents[3]
    values = _config(model, data, tmp_path / "two", gradcache_chunk_size=3, **kw).to_dict()
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(script), json.dumps(values)], cwd=repo, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(repo)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    losses = [[json.loads(line)["loss"] for line in (d / "train_log.jsonl").read_text().splitlines()]
              for d in (single, tmp_path / "two")]
    assert losses[1] == pytest.approx(losses[0], abs=1e-4)
    steps = [json.loads((d / "training_complete.json").read_text())["summary"]["length_buckets"]
             for d in (single, tmp_path / "two")]
    assert steps[0] == steps[1]
