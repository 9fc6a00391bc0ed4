"""The one training loop, under contrastive training (``trainer.py``) and continued pretraining (``pretrain.py``).

The loop owns what every run needs, written once: the optimizer step (gradient clipping, LR schedule, zeroing),
the step counter, the progress bar and the log (console + ``<output_dir>/train_log.jsonl``), checkpoints
(``checkpoint-<step>/`` written atomically, the newest N kept, looked up for resume), the RNG state of every rank,
and resuming. What differs between runs is an :class:`Objective` plug-in: it turns optimizer step ``k`` into
gradients (its data, its forward, its loss and backward: InfoNCE / Matryoshka / distillation, with or without
GradCache, or the language-modelling loss) and says how its model is saved and what else a checkpoint holds.
Multi-process set-up (DDP / FSDP2 under torchrun) is in :mod:`drama_models.training.distributed`.

A checkpoint folder holds the objective's model (where :meth:`Objective.save_model` puts it),
``trainer_state.pt`` (step, optimizer, scheduler, world size and the objective's own state) and one
``rng_state_<rank>.pt`` per process (Python, NumPy, torch and CUDA generators).

Why our own loop rather than the Hugging Face ``Trainer`` (which sentence-transformers' trainer subclasses), checked
against transformers 5.19 / sentence-transformers 6.2: its linear warm-up starts at 0 (``step / warmup``; ours at
``1 / warmup``), so the same config would train on another curve; its checkpoints (``optimizer.pt``,
``scheduler.pt``, ``trainer_state.json``, ``rng_state_N.pth``, data position by skipping batches of a DataLoader)
cannot resume ours, which carry the weighted multi-dataset stream's position; and sentence-transformers' GradCache
(``CachedLossMixin``) runs its backward from a hook on the loss inside the Trainer's step, switches gradient sync
off for DDP only (not FSDP2) and gathers negatives with ``all_gather_with_grad`` rather than our local shard times
the world size: the same gradient in exact arithmetic, not the same floats, so not the same loss curve.
"""
from __future__ import annotations

import json
import logging
import math
import random
import re
import shutil
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from cards.train_log import LOG_FILE
from drama_models.training import distributed as D

logger = logging.getLogger(__name__)

STATE_FILE = "trainer_state.pt"
_CHECKPOINT = re.compile(r"checkpoint-(\d+)")


# ---------------------------------------------------------------------- schedule


def lr_lambda(kind: str, warmup: int, total: int, floor: float = 0.0):
    """Multiplier of the peak learning rate at step ``s``: linear warmup over ``warmup`` steps, then ``linear``
    decay, ``cosine`` decay (both from 1 down to ``floor`` at ``total``), or ``constant``."""

    def f(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        if kind == "constant":
            return 1.0
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        if kind == "cosine":
            return floor + (1 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
        return floor + (1 - floor) * max(0.0, 1.0 - progress)

    return f


# ---------------------------------------------------------------------- RNG


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's generators (every rank passes its own ``seed + rank``)."""
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed)


def rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ---------------------------------------------------------------------- checkpoints on disk


def checkpoints(output_dir: str | Path, complete: bool = True) -> list[tuple[int, Path]]:
    """``(step, folder)`` of the ``checkpoint-<step>`` folders in ``output_dir``, oldest first; with
    ``complete`` only those holding ``trainer_state.pt``."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        return []
    return sorted(
        (int(m.group(1)), p) for p in output_dir.iterdir()
        if (m := _CHECKPOINT.fullmatch(p.name)) and (not complete or (p / STATE_FILE).is_file())
    )


def find_checkpoint(output_dir: str | Path, resume: str) -> Path | None:
    """The checkpoint to resume from: ``none`` -> None; ``auto`` -> newest complete ``checkpoint-*``; else the path."""
    if resume in ("none", "no", "false", ""):
        return None
    if resume != "auto":
        path = Path(resume)
        if not (path / STATE_FILE).is_file():
            raise ValueError(f"option `resume`={resume!r}: {path / STATE_FILE} not found")
        return path
    found = checkpoints(output_dir)
    return found[-1][1] if found else None


def remove_checkpoints(output_dir: Path) -> None:
    """Remove every ``checkpoint-<step>`` (and unfinished ``.tmp-checkpoint-<step>``) folder."""
    for path in Path(output_dir).glob("*checkpoint-*"):
        if path.is_dir() and re.fullmatch(r"(\.tmp-)?checkpoint-\d+", path.name):
            shutil.rmtree(path, ignore_errors=True)
            logger.info("removed %s", path)


def autocast(device: torch.device, bf16: bool):
    """bf16 autocast on ``device`` when ``bf16``, else a no-op context."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16) if bf16 else nullcontext()


# ---------------------------------------------------------------------- the plug-in


class Objective:
    """What one kind of training adds to the loop. Subclasses implement :meth:`backward` and
    :meth:`save_model`; the other hooks default to nothing."""

    def backward(self, step: int) -> float:
        """Accumulate into ``.grad`` the gradients of optimizer step ``step`` (0-based, global); return its loss."""
        raise NotImplementedError

    def save_model(self, path: Path, checkpoint: bool) -> None:
        """Save the model into checkpoint folder ``path`` (``checkpoint``) or the final folder. Every rank calls
        it (FSDP gathers the weights collectively); only rank 0 writes."""
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """Extra entries for ``trainer_state.pt`` (e.g. the data position)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Read back what :meth:`state_dict` wrote (``state`` is the whole ``trainer_state.pt``)."""

    def after_step(self, step: int, loss: float, lr: float) -> None:
        """Called after optimizer step ``step`` (1-based) with its loss and learning rate."""


@dataclass
class LoopSettings:
    """The loop's own settings. ``logging_steps``: console + ``train_log.jsonl`` every N steps (None: neither);
    ``samples_per_step``: for the throughput in that log; ``save_steps``: a checkpoint every N steps (0: none
    during the run); ``save_total_limit``: the newest N checkpoints kept (None or 0: all)."""

    output_dir: Path
    max_steps: int
    max_grad_norm: float | None = None
    save_steps: int = 0
    save_total_limit: int | None = None
    logging_steps: int | None = None
    samples_per_step: int = 0
    show_progress: bool = True
    desc: str = "train"
    fsdp: bool = False


class TrainingLoop:
    """Optimizer steps of ``objective`` on ``model`` (the unwrapped module whose parameters the optimizer holds)
    with ``optimizer`` and the LR multiplier ``schedule``, until ``settings.max_steps``."""

    def __init__(self, objective: Objective, model: torch.nn.Module, optimizer: torch.optim.Optimizer, schedule,
                 settings: LoopSettings, dist: D.DistInfo):
        self.objective = objective
        self.model = model
        self.optimizer = optimizer
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        self.settings = settings
        self.dist = dist
        self.output_dir = Path(settings.output_dir)
        self.step = 0

    # ------------------------------------------------------------------ stepping

    def one_step(self) -> float:
        """One optimizer step: the objective's gradients, clipping, AdamW, schedule; returns the loss."""
        loss = self.objective.backward(self.step)
        if self.settings.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.settings.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        self.objective.after_step(self.step, loss, self.scheduler.get_last_lr()[0])
        return loss

    def run(self, until: int | None = None) -> None:
        """Step until ``until`` (default ``max_steps``), logging and checkpointing on the way."""
        st = self.settings
        end = st.max_steps if until is None else min(until, st.max_steps)
        bar = tqdm(total=st.max_steps, initial=self.step, desc=st.desc, unit="step", dynamic_ncols=True,
                   disable=not (self.dist.is_main and st.show_progress))
        window_loss, window_steps, window_start = 0.0, 0, time.perf_counter()
        try:
            while self.step < end:
                loss = self.one_step()
                window_loss += loss
                window_steps += 1
                bar.update(1)
                if st.logging_steps is None:
                    if self.dist.is_main:
                        bar.set_postfix(loss=f"{loss:.4f}", lr=f"{self.scheduler.get_last_lr()[0]:.2e}")
                elif self.step % st.logging_steps == 0 or self.step == st.max_steps:
                    self._log(bar, window_loss / window_steps, window_steps, time.perf_counter() - window_start)
                    window_loss, window_steps, window_start = 0.0, 0, time.perf_counter()
                if st.save_steps and self.step % st.save_steps == 0 and self.step < st.max_steps:
                    self.save_checkpoint()
        finally:
            bar.close()

    def _log(self, bar, loss: float, steps: int, elapsed: float) -> None:
        record = {
            "step": self.step,
            "loss": loss,
            "lr": self.scheduler.get_last_lr()[0],
            "samples_per_s": steps * self.settings.samples_per_step / max(elapsed, 1e-9),
            "seconds_per_step": elapsed / steps,
        }
        if not self.dist.is_main:
            return
        bar.set_postfix(loss=f"{record['loss']:.4f}", lr=f"{record['lr']:.2e}")
        tqdm.write(f"step {self.step}/{self.settings.max_steps}  loss {record['loss']:.4f}  lr {record['lr']:.3e}  "
                   f"{record['samples_per_s']:.1f} samples/s")
        with open(self.output_dir / LOG_FILE, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    # ------------------------------------------------------------------ checkpoints

    def _optimizer_state(self) -> dict | None:
        if self.settings.fsdp:
            from torch.distributed.checkpoint.state_dict import (
                StateDictOptions,
                get_optimizer_state_dict,
            )

            return get_optimizer_state_dict(
                self.model, self.optimizer, options=StateDictOptions(full_state_dict=True, cpu_offload=True)
            )
        return self.optimizer.state_dict()

    def save_checkpoint(self) -> Path:
        """Write ``checkpoint-<step>`` atomically (a temporary folder renamed when complete); keep the newest few."""
        final = self.output_dir / f"checkpoint-{self.step}"
        tmp = self.output_dir / f".tmp-checkpoint-{self.step}"
        if self.dist.is_main and tmp.exists():
            shutil.rmtree(tmp)
        D.barrier()
        self.objective.save_model(tmp, checkpoint=True)
        optim_state = self._optimizer_state()  # collective under FSDP
        if self.dist.is_main:
            tmp.mkdir(parents=True, exist_ok=True)
            torch.save({"step": self.step, "optimizer": optim_state, "scheduler": self.scheduler.state_dict(),
                        "world_size": self.dist.world_size, **self.objective.state_dict()}, tmp / STATE_FILE)
        D.barrier()
        torch.save(rng_state(), tmp / f"rng_state_{self.dist.rank}.pt")
        D.barrier()
        if self.dist.is_main:
            if final.exists():
                shutil.rmtree(final)
            tmp.rename(final)
            limit = self.settings.save_total_limit
            for _, path in checkpoints(self.output_dir, complete=False)[:-limit] if limit and limit > 0 else []:
                shutil.rmtree(path, ignore_errors=True)
            logger.info("saved %s", final)
        D.barrier()
        return final

    def load_checkpoint(self, ckpt: Path) -> None:
        """Optimizer, scheduler, step, this rank's RNG streams and the objective's state from ``ckpt``."""
        state = torch.load(ckpt / STATE_FILE, map_location="cpu", weights_only=False)
        if state.get("world_size", self.dist.world_size) != self.dist.world_size:
            logger.warning(
                "%s was written with %s process(es), resuming with %d: data order is kept, RNG streams are not",
                ckpt, state.get("world_size"), self.dist.world_size,
            )
        if self.settings.fsdp:
            from torch.distributed.checkpoint.state_dict import (
                StateDictOptions,
                set_optimizer_state_dict,
            )

            set_optimizer_state_dict(self.model, self.optimizer, optim_state_dict=state["optimizer"],
                                     options=StateDictOptions(full_state_dict=True))
        else:
            self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.step = int(state["step"])
        self.objective.load_state_dict(state)
        rng_file = ckpt / f"rng_state_{self.dist.rank}.pt"
        if rng_file.is_file():
            set_rng_state(torch.load(rng_file, map_location="cpu", weights_only=False))
        elif "rng" in state:  # checkpoints of pretrain before the one loop kept rank 0's torch state here
            torch.set_rng_state(state["rng"])
        if self.dist.is_main:
            logger.info("resumed from %s at step %d", ckpt, self.step)
