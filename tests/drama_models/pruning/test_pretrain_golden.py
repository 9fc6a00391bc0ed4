"""Golden numbers of continued pretraining (issue 27 item 3: one loop for train and pretrain).

Recorded on CPU, float32, one torch thread, with ``pretrain`` as it was before the refactor (commit 448b47e): the
per-step losses and learning rates and a checksum of the final weights of a tiny random Llama pretrained 4 steps
(warm-up, cosine to a floor, gradient accumulation, clipping); a run stopped after 3 steps and resumed gives the
same history and weights. Regenerate (only for an intended change of behaviour):
``python tests/drama_models/pruning/test_pretrain_golden.py``.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

if __name__ == "__main__":  # run as a script: the repository first, then tests/ for tiny_models
    sys.path[:0] = [str(Path(__file__).resolve().parents[3])]
    sys.path.append(str(Path(__file__).resolve().parents[2]))
from tiny_models import pruning_corpus_texts, tiny_causal_lm, tiny_tokenizer

from drama_models.pruning.pretrain import PretrainSettings, pretrain

SETTINGS = {"steps": 4, "batch_size": 2, "grad_accum": 2, "seq_len": 32, "lr": 1e-3, "min_lr_ratio": 0.1,
            "warmup_steps": 1, "weight_decay": 0.01, "max_grad_norm": 1.0, "save_every": 2, "keep_checkpoints": 5,
            "seed": 3, "progress": False}

# (per-step losses, per-step learning rates, (sum of all weights, sum of their squares))
GOLDEN = (
    [6.277401685714722, 6.172898054122925, 6.028900146484375, 5.988299131393433],
    [0.001, 0.0007750000000000001, 0.00032500000000000015, 0.0001],
    (1153.284975152535, 1504.9124098964353),
)


def _inputs(root: Path) -> tuple[Path, Path]:
    tok = tiny_tokenizer()
    model = root / "tiny-llama"
    tiny_causal_lm("llama", vocab_size=len(tok)).save_pretrained(model)
    tok.save_pretrained(model)
    corpus = root / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"_id": str(i), "title": "", "text": t}) + "\n"
                              for i, t in enumerate(pruning_corpus_texts())), encoding="utf-8")
    return model, corpus


def checksum(folder) -> tuple[float, float]:
    tensors = load_file(Path(folder) / "model.safetensors")
    return (sum(float(t.double().sum()) for t in tensors.values()),
            sum(float(t.double().pow(2).sum()) for t in tensors.values()))


def run(model, corpus, out, **kw):
    summary = pretrain(str(model), corpus, out, PretrainSettings(**{**SETTINGS, **kw}))
    return [h["loss"] for h in summary["history"]], [h["lr"] for h in summary["history"]], checksum(out)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return _inputs(tmp_path_factory.mktemp("pretrain-golden"))


def _check(got):
    want_losses, want_lrs, want_sum = GOLDEN
    assert got[0] == pytest.approx(want_losses, abs=1e-6)
    assert got[1] == pytest.approx(want_lrs, rel=1e-9)
    assert got[2] == pytest.approx(want_sum, rel=1e-6)


def test_pretrain_matches_the_golden_run(inputs, tmp_path):
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _check(run(*inputs, tmp_path / "a"))
        # stopped after 3 steps (a time-sliced job), then resumed from checkpoint-3: the same history and weights
        assert pretrain(str(inputs[0]), inputs[1], tmp_path / "b",
                        PretrainSettings(**{**SETTINGS, "stop_after": 3}))["finished"] is False
        _check(run(*inputs, tmp_path / "b"))
    finally:
        torch.set_num_threads(before)


if __name__ == "__main__":
    import tempfile

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        print(run(*_inputs(Path(tmp)), Path(tmp) / "out"))
