"""The one training loop with a toy objective: steps, schedule, log, checkpoints, resume, RNG; and that train and
pretrain both run on it (issue 27 item 3: before, trainer.py and pretrain.py each had their own copy)."""
from __future__ import annotations

import json

import pytest
import torch

from drama_models.training import distributed as D
from drama_models.training.loop import (
    LoopSettings,
    Objective,
    TrainingLoop,
    find_checkpoint,
    lr_lambda,
    seed_everything,
)


class Regression(Objective):
    """Least squares on random data drawn from torch's generator each step (so the RNG state matters), with
    dropout on the input (so does the RNG at resume)."""

    def __init__(self, model):
        self.model = model
        self.seen: list[int] = []

    def backward(self, step):
        x = torch.nn.functional.dropout(torch.randn(8, 4), 0.2)
        loss = (self.model(x).squeeze(-1) - x.sum(-1)).pow(2).mean()
        loss.backward()
        return float(loss.detach())

    def after_step(self, step, loss, lr):
        self.seen.append(step)

    def save_model(self, path, checkpoint=False):
        path.mkdir(parents=True, exist_ok=True)
        torch.save(self.model.state_dict(), path / "weights.pt")

    def state_dict(self):
        return {"seen": list(self.seen)}

    def load_state_dict(self, state):
        self.seen = list(state["seen"])


def make(out, **kw):
    seed_everything(5)
    model = torch.nn.Linear(4, 1)
    objective = Regression(model)
    settings = LoopSettings(output_dir=out, max_steps=6, max_grad_norm=1.0, logging_steps=2, samples_per_step=8,
                            show_progress=False, **kw)
    opt = torch.optim.AdamW(model.parameters(), lr=0.05)
    out.mkdir(parents=True, exist_ok=True)
    return TrainingLoop(objective, model, opt, lr_lambda("cosine", 2, 6, floor=0.1), settings, D.DistInfo()), model


def log(out):
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


def test_schedule_warmup_then_decay_to_the_floor():
    f = lr_lambda("linear", warmup=2, total=10)
    assert [round(f(s), 3) for s in (0, 1, 2, 6, 10)] == [0.5, 1.0, 1.0, 0.5, 0.0]
    g = lr_lambda("cosine", warmup=0, total=10, floor=0.1)
    assert g(0) == 1.0 and g(10) == pytest.approx(0.1) and g(5) == pytest.approx(0.55)
    assert lr_lambda("constant", 3, 10)(9) == 1.0


def test_log_checkpoints_rotation_and_exact_resume(tmp_path):
    straight, model = make(tmp_path / "a")
    straight.run()
    assert [r["step"] for r in log(tmp_path / "a")] == [2, 4, 6]
    assert set(log(tmp_path / "a")[0]) == {"step", "loss", "lr", "samples_per_s", "seconds_per_step"}
    want = model.weight.detach().clone()

    part, _ = make(tmp_path / "b", save_steps=2, save_total_limit=2)
    part.run(until=5)  # "crash" after step 5: checkpoints 2 and 4 written (limit 2 keeps both)
    assert [p.name for p in sorted((tmp_path / "b").glob("checkpoint-*"))] == ["checkpoint-2", "checkpoint-4"]
    ckpt = find_checkpoint(tmp_path / "b", "auto")
    assert {p.name for p in ckpt.iterdir()} == {"weights.pt", "trainer_state.pt", "rng_state_0.pt"}
    resumed, model_b = make(tmp_path / "b", save_steps=1, save_total_limit=1)
    model_b.load_state_dict(torch.load(ckpt / "weights.pt"))
    resumed.load_checkpoint(ckpt)
    assert resumed.step == 4 and resumed.objective.seen == [1, 2, 3, 4]
    resumed.run()
    torch.testing.assert_close(model_b.weight, want, rtol=0, atol=0)
    assert resumed.objective.seen == [1, 2, 3, 4, 5, 6]
    assert [p.name for p in (tmp_path / "b").glob("*checkpoint-*")] == ["checkpoint-5"]  # the newest 1 kept


def test_old_pretrain_checkpoints_resume(tmp_path):
    """pretrain's checkpoints from before the one loop kept rank 0's torch RNG state inside trainer_state.pt."""
    straight, model = make(tmp_path / "a")
    straight.run()
    part, _ = make(tmp_path / "b", save_steps=3)
    part.run(until=3)
    ckpt = tmp_path / "b" / "checkpoint-3"
    state = torch.load(ckpt / "trainer_state.pt", weights_only=False)
    state["rng"] = torch.load(ckpt / "rng_state_0.pt", weights_only=False)["torch"]
    del state["world_size"]
    torch.save(state, ckpt / "trainer_state.pt")
    (ckpt / "rng_state_0.pt").unlink()
    resumed, model_b = make(tmp_path / "b")
    model_b.load_state_dict(torch.load(ckpt / "weights.pt"))
    resumed.load_checkpoint(ckpt)
    resumed.run()
    torch.testing.assert_close(model_b.weight, model.weight.detach(), rtol=0, atol=0)


def test_resume_names_a_missing_checkpoint(tmp_path):
    assert find_checkpoint(tmp_path, "none") is None and find_checkpoint(tmp_path / "nowhere", "auto") is None
    with pytest.raises(ValueError, match=r"option `resume`='.*x': .*trainer_state.pt not found"):
        find_checkpoint(tmp_path, str(tmp_path / "x"))


def test_train_and_pretrain_share_the_loop_and_the_distributed_helpers():
    """One place each for the schedule, checkpoint lookup, RNG and multi-process helpers (issue 27 item 3)."""
    import importlib

    from drama_models.training import loop, losses, trainer

    pretrain = importlib.import_module("drama_models.pruning.pretrain")

    assert trainer.lr_lambda is loop.lr_lambda and trainer.find_checkpoint is loop.find_checkpoint
    assert issubclass(trainer.ContrastiveObjective, Objective) and issubclass(pretrain.LanguageModelling, Objective)
    for name in ("gather_across_devices", "backward_scale", "distributed_ready"):
        assert getattr(losses, name) is getattr(D, name)
    for module in (trainer, pretrain):
        for private in ("_rng_state", "_set_rng_state", "_dist", "_schedule", "_transformer_blocks"):
            assert not hasattr(module, private), (module.__name__, private)
