"""Golden numbers of the contrastive training loop (issue 27 item 3: one loop for train and pretrain).

Recorded on CPU, float32, one torch thread, with the loop as it was before the refactor (commit 448b47e): the
per-step losses and a checksum of the final weights of a tiny random Llama trained 4 steps with plain InfoNCE,
with GradCache, with Matryoshka dims and with teacher distillation; and a run resumed from its step-2 checkpoint,
which must give the uninterrupted curve and weights. A refactor that changes any of them fails here.
Regenerate (only for an intended change of behaviour): ``python tests/drama_models/training/test_trainer_golden.py``.
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import datasets
import pytest
import torch
from safetensors.torch import load_file

if __name__ == "__main__":  # run as a script: the repository first, then tests/ for tiny_models
    sys.path[:0] = [str(Path(__file__).resolve().parents[3])]
    sys.path.append(str(Path(__file__).resolve().parents[2]))
from tiny_models import SAMPLE_TEXTS, one_torch_thread, tiny_model_dir, tiny_tokenizer  # noqa: F401

from drama_models.training.config import TrainConfig
from drama_models.training.trainer import train

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CASES = {
    "infonce": {},
    "gradcache": {"gradcache_chunk_size": 3},
    "matryoshka": {"matryoshka_dims": [128, 32], "matryoshka_weights": [1.0, 0.5]},
    "distill": {"distill_weight": 0.5},
}

# case -> (per-step losses, (sum of all weights, sum of their squares)); float32 on CPU, one thread
GOLDEN = {
    'infonce': ([0.6043218374252319, 1.5595977306365967, 0.693313717842102, 0.6263015270233154], (635.5056115480902, 824.2302346803068)),
    'gradcache': ([0.6043218374252319, 1.559596300125122, 0.693313717842102, 0.6263015866279602], (635.5055159957226, 824.2302399710206)),
    'matryoshka': ([0.9311771392822266, 2.0464539527893066, 1.0554916858673096, 1.068770408630371], (634.3719832727378, 824.0781021895123)),
    'distill': ([2.7164878845214844, 3.1184229850769043, 1.9193392992019653, 2.4118032455444336], (634.7868042447913, 824.3908573255536)),
}


def _rows(n=16):
    texts = sorted(set(SAMPLE_TEXTS))
    return [{
        "query_id": str(i),
        "query": " ".join(texts[i % len(texts)].split()[: 3 + i % 3]),
        "positive_passages": [{"docid": f"p{i}", "title": "", "text": texts[i % len(texts)], "score": 2.0}],
        "negative_passages": [{"docid": f"n{i}.{j}", "title": "", "text": texts[(i + j + 1) % len(texts)],
                               "score": float(j)} for j in range(3)],
    } for i in range(n)]


def _inputs(root: Path) -> tuple[Path, Path]:
    model = tiny_model_dir(root / "llama", "llama", tokenizer=tiny_tokenizer())
    data = root / "train.parquet"
    datasets.Dataset.from_list(_rows()).to_parquet(str(data))
    return model, data


def _config(model, data, out, **kw) -> TrainConfig:
    values = {"model": str(model), "output_dir": str(out), "datasets": [str(data)], "batch_size": 4,
              "train_group_size": 3, "temperature": 0.05, "learning_rate": 1e-3, "max_steps": 4, "warmup_steps": 2,
              "lr_scheduler": "linear", "query_max_len": 16, "passage_max_len": 32, "logging_steps": 1,
              "save_steps": 0, "resume": "none", "show_progress": False, "seed": 7, "bf16": "false"}
    values.update(kw)
    return TrainConfig(**values)


def losses(out) -> list[float]:
    return [json.loads(line)["loss"] for line in (Path(out) / "train_log.jsonl").read_text().splitlines()]


def checksum(folder) -> tuple[float, float]:
    tensors = load_file(Path(folder) / "model.safetensors")
    return (sum(float(t.double().sum()) for t in tensors.values()),
            sum(float(t.double().pow(2).sum()) for t in tensors.values()))


def run_case(name: str, root: Path) -> tuple[list[float], tuple[float, float]]:
    model, data = _inputs(root / "in")
    out = train(_config(model, data, root / name, **CASES[name]))
    return losses(out), checksum(out)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return _inputs(tmp_path_factory.mktemp("golden"))


def _check(name, got_losses, got_sum):
    want_losses, want_sum = GOLDEN[name]
    assert got_losses == pytest.approx(want_losses, abs=1e-6), name
    assert got_sum == pytest.approx(want_sum, rel=1e-6), name


@pytest.mark.parametrize("name", sorted(CASES))
def test_losses_and_weights_match_the_golden_run(inputs, tmp_path, name):
    model, data = inputs
    out = train(_config(model, data, tmp_path / name, **CASES[name]))
    _check(name, losses(out), checksum(out))


def test_resumed_run_gives_the_uninterrupted_curve(inputs, tmp_path):
    """A run stopped after its step-2 checkpoint (the checkpoint copied into a fresh folder) and resumed with
    ``resume: auto`` logs steps 3-4 with the uninterrupted run's losses and ends with its weights."""
    model, data = inputs
    full = train(_config(model, data, tmp_path / "full", save_steps=2, keep_checkpoints=True))
    want_losses, want_sum = GOLDEN["infonce"]
    _check("infonce", losses(full), checksum(full))
    part = tmp_path / "part"
    part.mkdir()
    shutil.copytree(full / "checkpoint-2", part / "checkpoint-2")
    resumed = train(_config(model, data, part, resume="auto"))
    assert losses(resumed) == pytest.approx(want_losses[2:], abs=1e-6)
    assert checksum(resumed) == pytest.approx(want_sum, rel=1e-6)


if __name__ == "__main__":
    import tempfile

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        for case in CASES:
            print(f"    {case!r}: {run_case(case, Path(tmp))!r},")
