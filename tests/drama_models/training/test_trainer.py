"""The training loop: logging, checkpoints + resume, GradCache path, DDP under torchrun, and a real scifact run."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import datasets
import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from tiny_models import (  # noqa: F401 (one_torch_thread: a fixture, used by name below)
    SAMPLE_TEXTS,
    one_torch_thread,
    scifact_heldout,
    scifact_texts,
    scifact_training_rows,
    tiny_model_dir,
    tiny_tokenizer,
)

from drama_models.training.config import TrainConfig
from drama_models.training.trainer import Trainer, lr_lambda, train

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see tiny_models.one_torch_thread

DATA_ROOT = Path(__file__).resolve().parents[3].parent / "shared" / "data"
REPO = Path(__file__).resolve().parents[3]


def synthetic_rows(n=24):
    texts = sorted(set(SAMPLE_TEXTS))
    out = []
    for i in range(n):
        pos = texts[i % len(texts)]
        out.append({
            "query_id": str(i),
            "query": " ".join(pos.split()[: 3 + i % 3]),
            "positive_passages": [{"docid": f"p{i}", "title": "", "text": pos}],
            "negative_passages": [
                {"docid": f"n{i}.{j}", "title": "", "text": texts[(i + j + 1) % len(texts)]} for j in range(3)
            ],
        })
    return out


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("trainer")
    model = tiny_model_dir(root / "llama", "llama", tokenizer=tiny_tokenizer())
    data = root / "train.parquet"
    datasets.Dataset.from_list(synthetic_rows()).to_parquet(str(data))
    return model, data


def config(model, data, out, **kw):
    values = dict(model=str(model), output_dir=str(out), datasets=[str(data)], batch_size=8, train_group_size=2,
                  temperature=0.05, learning_rate=5e-3, max_steps=4, warmup_steps=1, query_max_len=16,
                  passage_max_len=32, logging_steps=1, save_steps=0, resume="none", show_progress=False, seed=3,
                  bf16="false")  # float32: the equivalence tests compare losses to 1e-4
    values.update(kw)
    cfg = TrainConfig(**values)
    cfg.validate()
    return cfg


def logged(out):
    return [json.loads(l) for l in (Path(out) / "train_log.jsonl").read_text().splitlines()]


def weights(folder):
    return load_file(Path(folder) / "model.safetensors")


def test_lr_schedule_warmup_then_linear_decay():
    f = lr_lambda("linear", warmup=2, total=10)
    assert [round(f(s), 3) for s in (0, 1, 2, 6, 10)] == [0.5, 1.0, 1.0, 0.5, 0.0]
    assert lr_lambda("constant", 0, 10)(9) == 1.0
    assert lr_lambda("cosine", 0, 10)(5) == pytest.approx(0.5)


def test_training_logs_and_saves_a_loadable_model(setup, tmp_path):
    from sentence_transformers import SentenceTransformer

    from drama_models.encoder import DramaEncoder

    model, data = setup
    out = train(config(model, data, tmp_path / "run", max_steps=6, matryoshka_dims=[128, 32]))
    log = logged(out)
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5, 6]
    assert set(log[0]) == {"step", "loss", "lr", "samples_per_s", "seconds_per_step"}
    assert log[-1]["loss"] < log[0]["loss"]
    assert log[-1]["lr"] == 0.0 and log[0]["samples_per_s"] > 0
    enc = DramaEncoder.from_pretrained(out)
    st = SentenceTransformer(str(out), device="cpu")
    np.testing.assert_allclose(st.encode_query(["a question"]), enc.encode_queries(["a question"]), atol=1e-5)
    assert not np.allclose(
        DramaEncoder.from_pretrained(model).encode_queries(["a question"]), enc.encode_queries(["a question"])
    )


def test_resume_continues_exactly(setup, tmp_path):
    model, data = setup
    straight = train(config(model, data, tmp_path / "straight"))

    cfg = config(model, data, tmp_path / "interrupted", resume="auto", save_steps=2)
    first = Trainer(cfg)
    first.training_step()
    first.training_step()
    ckpt = first.save_checkpoint()
    assert ckpt.name == "checkpoint-2" and (ckpt / "model" / "modules.json").is_file()
    del first  # "crash" after the checkpoint
    resumed = Trainer(cfg)
    assert resumed.step == 2
    resumed.train()
    for name, tensor in weights(straight).items():
        torch.testing.assert_close(weights(tmp_path / "interrupted")[name], tensor, atol=1e-6, rtol=1e-5, msg=name)
    assert [r["step"] for r in logged(tmp_path / "interrupted")] == [3, 4]


def test_matryoshka_dim_larger_than_model_is_named(setup, tmp_path):
    model, data = setup
    with pytest.raises(ValueError, match=r"option `matryoshka_dims` has 256, larger than the model's embedding size 128"):
        Trainer(config(model, data, tmp_path / "x", matryoshka_dims=[256, 64]))


def test_checkpoints_rotate(setup, tmp_path):
    model, data = setup
    train(config(model, data, tmp_path / "rot", max_steps=6, save_steps=1, save_total_limit=2, keep_checkpoints=True))
    assert sorted(p.name for p in (tmp_path / "rot").glob("checkpoint-*")) == ["checkpoint-4", "checkpoint-5"]


def test_only_the_final_model_stays_after_success(setup, tmp_path):
    model, data = setup
    out = train(config(model, data, tmp_path / "run", max_steps=3, save_steps=1))
    assert not list(out.glob("*checkpoint-*")) and (out / "config.json").is_file()
    # the same command again: already trained, nothing happens (no retraining from scratch)
    stamp = (out / "config.json").stat().st_mtime_ns
    assert train(config(model, data, tmp_path / "run", max_steps=3, save_steps=1, logging_steps=2,
                        resume="auto")) == out
    assert (out / "config.json").stat().st_mtime_ns == stamp
    # another config trains anew
    train(config(model, data, tmp_path / "run", max_steps=4, save_steps=1, resume="auto"))
    assert (out / "config.json").stat().st_mtime_ns != stamp


def test_gradcache_training_matches_plain_training(setup, tmp_path):
    model, data = setup
    plain = train(config(model, data, tmp_path / "plain", max_steps=3))
    cached = train(config(model, data, tmp_path / "cached", max_steps=3, gradcache_chunk_size=3))
    chunked = train(config(model, data, tmp_path / "chunked", max_steps=3, encode_chunk_size=5))
    for other in (cached, chunked):
        assert [r["loss"] for r in logged(other)] == pytest.approx([r["loss"] for r in logged(plain)], abs=1e-4)


DDP_SCRIPT = textwrap.dedent("""
    import json, sys
    from drama_models.training.config import TrainConfig
    from drama_models.training.trainer import train
    train(TrainConfig(**json.loads(sys.argv[1])))
""")


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["ddp", "fsdp"])
def test_two_process_cross_device_negatives_match_one_process(setup, tmp_path, mode):
    """torchrun --nproc_per_node 2 (gloo, CPU), each rank with half the batch and GradCache, negatives gathered
    across ranks: the losses (step 2 also checks the gradients of step 1) equal one process on the whole batch."""
    model, data = setup
    single = train(config(model, data, tmp_path / "single", max_steps=2, matryoshka_dims=[128, 64]))
    values = config(model, data, tmp_path / mode, max_steps=2, matryoshka_dims=[128, 64], gradcache_chunk_size=3,
                    fsdp=mode == "fsdp", save_steps=1, keep_checkpoints=True).to_dict()  # the checkpoint path runs too
    script = tmp_path / "run_ddp.py"
    script.write_text(DDP_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         str(script), json.dumps(values)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got, want = logged(tmp_path / mode), logged(single)
    assert [r["loss"] for r in got] == pytest.approx([r["loss"] for r in want], abs=1e-4)
    # (weights are not compared: Adam turns float-noise-sized gradients of unused embedding rows into +-lr steps)
    ckpt = tmp_path / mode / "checkpoint-1"
    assert {p.name for p in ckpt.iterdir()} == {"model", "trainer_state.pt", "rng_state_0.pt", "rng_state_1.pt"}


@pytest.mark.slow
def test_real_training_on_scifact_raises_ndcg(tmp_path):
    """A tiny Llama (tokenizer trained on scifact text) trained on 320 scifact train queries with BM25 hard
    negatives: the loss falls and nDCG@10 on held-out scifact test queries rises above the untrained model."""
    if not (DATA_ROOT / "scifact" / "corpus.jsonl.gz").is_file():
        pytest.skip(f"{DATA_ROOT}/scifact not found")
    from drama_models.evaluation import evaluate

    corpus, queries, _ = scifact_texts(DATA_ROOT)
    rows = scifact_training_rows(DATA_ROOT, n_queries=320, n_negatives=3, passage_chars=400)
    datasets.Dataset.from_list(rows).to_parquet(str(tmp_path / "train.parquet"))
    heldout = scifact_heldout(DATA_ROOT, tmp_path / "heldout", n_distractors=500, passage_chars=400)
    tok = tiny_tokenizer(vocab_size=2000, texts=[c[:400] for c in list(corpus.values())[:2000]] + list(queries.values()))
    model = tiny_model_dir(tmp_path / "tiny", "llama", tokenizer=tok, hidden_size=64, intermediate_size=128,
                           num_attention_heads=2, num_key_value_heads=1, head_dim=32)
    before = evaluate(str(model), [heldout], show_progress=False)[0]["ndcg@10"]
    out = train(TrainConfig(
        model=str(model), output_dir=str(tmp_path / "out"), datasets=[str(tmp_path / "train.parquet")],
        batch_size=32, train_group_size=2, temperature=0.05, learning_rate=2e-3, max_steps=60, warmup_steps=5,
        query_max_len=32, passage_max_len=96, logging_steps=5, save_steps=0, resume="none", show_progress=False,
    ))
    log = logged(out)
    after = evaluate(str(out), [heldout], show_progress=False)[0]["ndcg@10"]
    assert log[-1]["loss"] < 0.5 * log[0]["loss"], log
    print(f"nDCG@10 untrained {before:.4f} -> trained {after:.4f}; loss {log[0]['loss']:.3f} -> {log[-1]['loss']:.3f}")
    assert after > before + 0.05, (before, after)


def test_distillation_adds_the_teacher_term_on_both_paths(setup, tmp_path):
    """distill_weight > 0: the loss grows by the KL term (a teacher that disagrees with the student), GradCache
    and plain training agree on it, and data without teacher scores is refused in one line."""
    model, data = setup
    scored = tmp_path / "scored.parquet"
    rows = synthetic_rows()
    for r in rows:  # a teacher that prefers the last negative: the student cannot agree at step 1
        for j, p in enumerate(r["positive_passages"] + r["negative_passages"]):
            p["score"] = float(j)
    datasets.Dataset.from_list(rows).to_parquet(str(scored))
    base = train(config(model, scored, tmp_path / "base", max_steps=2))
    plain = train(config(model, scored, tmp_path / "plain", max_steps=2, distill_weight=1.0))
    cached = train(config(model, scored, tmp_path / "cached", max_steps=2, distill_weight=1.0,
                          gradcache_chunk_size=3))
    assert logged(plain)[0]["loss"] > logged(base)[0]["loss"] + 0.1
    assert [r["loss"] for r in logged(cached)] == pytest.approx([r["loss"] for r in logged(plain)], abs=1e-4)
    # pure distillation (GPL-style): the loss is the KL term alone
    pure = train(config(model, scored, tmp_path / "pure", max_steps=1, distill_weight=1.0, contrastive_weight=0))
    assert logged(pure)[0]["loss"] == pytest.approx(logged(plain)[0]["loss"] - logged(base)[0]["loss"], abs=1e-4)
    with pytest.raises(ValueError, match="no teacher scores"):
        Trainer(config(model, data, tmp_path / "refused", distill_weight=1.0))
    with pytest.raises(ValueError, match="contrastive_weight"):
        config(model, data, tmp_path / "nothing", contrastive_weight=0)
