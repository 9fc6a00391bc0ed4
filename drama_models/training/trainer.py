"""The training loop: one stage of contrastive fine-tuning (DRAMA, Ma et al. 2025, section 4.1).

``train(TrainConfig)`` -> path of the final model (a folder :class:`DramaEncoder` and sentence-transformers load).

Per step: the :class:`~drama_models.training.data.GroupStream` yields this rank's slice of the global batch of
``batch_size`` queries with ``train_group_size`` passages each; queries and passages are tokenized and encoded
(length-sorted chunks; GradCache when ``gradcache_chunk_size`` is set), the InfoNCE / Matryoshka loss is
computed over the whole global batch (negatives gathered across devices), AdamW steps, and the learning rate
follows linear warmup then linear (or cosine / constant) decay.

Runs unchanged under ``python -m drama_models.cli train`` and ``torchrun --nproc_per_node N`` (DDP; FSDP2 with
``fsdp: true``). bf16 autocast when asked for (``bf16: auto`` = on CUDA with bf16 support). Rank 0 logs loss,
learning rate and throughput to the console and ``<output_dir>/train_log.jsonl``. Every ``save_steps`` a
checkpoint ``<output_dir>/checkpoint-<step>/`` holds the model (loadable as is), the optimizer, scheduler, step,
data position and every rank's RNG state; ``resume: auto`` continues from the newest one. After a successful run
the checkpoints are removed and only the final model stays (``keep_checkpoints: true`` keeps them).
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
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from cards.train_log import LOG_FILE, read_train_log  # noqa: F401  (read_train_log: re-exported)
from drama_models.training import distributed as D
from drama_models.training.batching import encode_in_chunks, tokenize_groups
from drama_models.training.config import TrainConfig
from drama_models.training.data import GroupStream
from drama_models.training.gradcache import gradcache_step
from drama_models.training.losses import backward_scale, build_loss, group_distillation

logger = logging.getLogger(__name__)

STATE_FILE = "trainer_state.pt"
DONE_FILE = "training_complete.json"  # written last: the final model in this folder is the one this config trains


def _comparable(cfg: TrainConfig) -> dict:
    """The config without the settings that do not change the model (progress, logging, checkpoints kept)."""
    d = cfg.to_dict()
    for key in ("show_progress", "logging_steps", "keep_checkpoints", "save_total_limit", "resume"):
        d.pop(key, None)
    return d


def finished_run(config: TrainConfig) -> Path | None:
    """``config.output_dir`` when it already holds the final model of this very config (``resume: auto``), else
    ``None``: rerunning a finished training is a no-op instead of a new run (its checkpoints are gone)."""
    done = Path(config.output_dir) / DONE_FILE
    if str(config.resume).lower() != "auto" or not done.is_file():
        return None
    try:
        recorded = json.loads(done.read_text(encoding="utf-8")).get("config")
    except (OSError, ValueError):
        return None
    return Path(config.output_dir) if recorded == json.loads(json.dumps(_comparable(config))) else None


class PairEncoder(torch.nn.Module):
    """The module DDP / FSDP wrap: one forward encodes queries and/or passages with the shared encoder."""

    def __init__(self, encoder, passage_chunk_size: int | None = None):
        super().__init__()
        self.encoder = encoder
        self.passage_chunk_size = passage_chunk_size

    def forward(self, queries: dict | None = None, passages: dict | None = None):
        q = self.encoder.encode(queries) if queries is not None else None
        p = encode_in_chunks(self.encoder.encode, passages, self.passage_chunk_size) if passages is not None else None
        return q, p


def lr_lambda(kind: str, warmup: int, total: int):
    """Multiplier of the peak learning rate at step ``s``: linear warmup over ``warmup`` steps, then
    ``linear`` decay to 0 at ``total``, ``cosine`` decay to 0, or ``constant``."""

    def f(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        if kind == "constant":
            return 1.0
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        if kind == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        return max(0.0, 1.0 - progress)

    return f


def find_checkpoint(output_dir: Path, resume: str) -> Path | None:
    """The checkpoint to resume from: ``none`` -> None; ``auto`` -> newest complete ``checkpoint-*``; else the path."""
    if resume in ("none", "no", "false", ""):
        return None
    if resume != "auto":
        path = Path(resume)
        if not (path / STATE_FILE).is_file():
            raise ValueError(f"option `resume`={resume!r}: {path / STATE_FILE} not found")
        return path
    found = [
        (int(m.group(1)), p)
        for p in output_dir.glob("checkpoint-*")
        if (m := re.fullmatch(r"checkpoint-(\d+)", p.name)) and (p / STATE_FILE).is_file()
    ]
    return max(found)[1] if found else None


def _param_groups(model: torch.nn.Module, weight_decay: float):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or name.endswith(".bias") else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _transformer_blocks(backbone: torch.nn.Module) -> list[torch.nn.Module]:
    for attr in ("layers", "encoder.layer", "layer"):
        obj = backbone
        for part in attr.split("."):
            obj = getattr(obj, part, None)
        if isinstance(obj, torch.nn.ModuleList):
            return list(obj)
    return []


class Trainer:
    """Holds the model, optimizer, scheduler and data stream of one run; :meth:`train` runs it."""

    def __init__(self, config: TrainConfig):
        from drama_models.encoder import DramaEncoder
        from drama_models.model_source import resolve_model

        config.validate()
        self.config = config
        self.dist = D.setup()
        self.output_dir = Path(config.output_dir)
        if self.dist.is_main:
            self.output_dir.mkdir(parents=True, exist_ok=True)
        D.barrier()
        self.resume_from = find_checkpoint(self.output_dir, config.resume)
        torch.manual_seed(config.seed + self.dist.rank)
        random.seed(config.seed + self.dist.rank)
        np.random.seed(config.seed + self.dist.rank)

        if self.resume_from:
            source = self.resume_from / "model"
        else:
            source = resolve_model(config.model, "model", hub_check=False)
        self.encoder = DramaEncoder.from_pretrained(
            source,
            pooling=config.pooling,
            normalize=config.normalize,
            bidirectional=config.bidirectional,
            query_prefix=config.query_prefix,
            document_prefix=config.document_prefix,
            device=self.dist.device,
        )
        self.encoder.train()
        pooler = getattr(self.encoder.backbone, "pooler", None)
        if pooler is not None:  # BERT's pooler is not used by mean/eos/cls pooling of token states
            pooler.requires_grad_(False)
        if config.gradient_checkpointing:
            self.encoder.gradient_checkpointing_enable()
        for dim in config.matryoshka_dims or []:
            if dim > self.encoder.embedding_dim:
                raise ValueError(
                    f"option `matryoshka_dims` has {dim}, larger than the model's embedding size "
                    f"{self.encoder.embedding_dim}"
                )

        self.module = PairEncoder(self.encoder, config.encode_chunk_size)
        if config.fsdp:
            if not self.dist.enabled:
                raise ValueError("option `fsdp` needs torchrun with more than one process")
            from torch.distributed.device_mesh import init_device_mesh
            from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

            mesh = init_device_mesh(self.dist.device.type, (self.dist.world_size,))
            mp = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) if config.use_bf16 else None
            kwargs = {"mesh": mesh, **({"mp_policy": mp} if mp else {})}
            for block in _transformer_blocks(self.encoder.backbone):
                fully_shard(block, **kwargs)
            fully_shard(self.module, **kwargs)
            self.wrapped = self.module
        elif self.dist.enabled:
            self.wrapped = torch.nn.parallel.DistributedDataParallel(
                self.module, device_ids=[self.dist.local_rank] if self.dist.device.type == "cuda" else None
            )
        else:
            self.wrapped = self.module

        self.optimizer = torch.optim.AdamW(
            _param_groups(self.module, config.weight_decay),
            lr=config.learning_rate,
            betas=(config.adam_beta1, config.adam_beta2),
            eps=config.adam_epsilon,
        )
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lr_lambda(config.lr_scheduler, config.warmup_steps, config.max_steps)
        )
        self.stream = GroupStream.from_specs(config.datasets, config.train_group_size, config.seed)
        if config.distill_weight > 0:
            for ds, name in zip(self.stream.datasets, self.stream.names):
                inner = ds.features["positive_passages"]
                inner = inner.feature if hasattr(inner, "feature") else inner[0]
                if "score" not in inner:
                    raise ValueError(
                        f"option `distill_weight`={config.distill_weight}: training dataset {name!r} has no teacher "
                        "scores (a `score` per passage, as `drama-data build` writes from mined candidates); "
                        "set distill_weight 0 or rebuild the data"
                    )
        self.cross_device = config.negatives_cross_device and self.dist.enabled
        self.loss_fn = build_loss(
            config.temperature, self.cross_device, config.matryoshka_dims, config.matryoshka_weights,
            normalize=self.encoder.normalize,
        )
        if config.batch_size % self.dist.world_size:
            raise ValueError(
                f"option `batch_size`={config.batch_size} must be divisible by the number of processes "
                f"({self.dist.world_size})"
            )
        self.local_batch = config.batch_size // self.dist.world_size
        self.step = 0
        if self.resume_from:
            self._load_state(self.resume_from)

    # ------------------------------------------------------------------ one step

    def autocast(self):
        if self.config.use_bf16:
            return torch.autocast(device_type=self.dist.device.type, dtype=torch.bfloat16)
        return nullcontext()

    def training_step(self) -> float:
        """One optimizer step over the next global batch; returns the (global) loss."""
        cfg = self.config
        groups = self.stream.next_batch(cfg.batch_size, self.dist.rank, self.dist.world_size)
        q_feats, p_feats = tokenize_groups(self.encoder, groups, cfg.query_max_len, cfg.passage_max_len)
        scale = backward_scale(self.cross_device)
        loss_fn = self.loss_fn
        if cfg.distill_weight > 0 or cfg.contrastive_weight != 1.0:
            teacher = None
            if cfg.distill_weight:  # only distillation reads the teacher scores
                teacher = torch.tensor([g.scores if g.scores is not None else [float("nan")] * len(g.passages)
                                        for g in groups], dtype=torch.float32, device=self.dist.device)

            def loss_fn(q, p):
                loss = cfg.contrastive_weight * self.loss_fn(q, p) if cfg.contrastive_weight else 0.0
                if teacher is not None:
                    loss = loss + cfg.distill_weight * group_distillation(
                        q, p, teacher, cfg.temperature, cfg.distill_temperature)
                return loss
        if cfg.gradcache_chunk_size:
            loss = gradcache_step(
                lambda feats: self.wrapped(queries=feats)[0],
                q_feats,
                p_feats,
                loss_fn,
                cfg.gradcache_chunk_size,
                loss_scale=scale,
                autocast=self.autocast,
                sync=lambda last: D.grad_sync(self.wrapped, last),
            )
        else:
            with self.autocast():
                q, p = self.wrapped(queries=q_feats, passages=p_feats)
            loss = loss_fn(q.float(), p.float())
            (loss * scale).backward()
            loss = loss.detach()
        if cfg.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(self.module.parameters(), cfg.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        return float(loss)

    # ------------------------------------------------------------------ loop

    def train(self) -> Path:
        cfg = self.config
        if self.dist.is_main:
            (self.output_dir / "train_config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
            logger.info("training %s on %d process(es) from step %d, %s", self.encoder, self.dist.world_size, self.step,
                        f"bf16 autocast on {self.dist.device.type}" if cfg.use_bf16 else "float32")
        bar = tqdm(
            total=cfg.max_steps, initial=self.step, desc="train", unit="step", dynamic_ncols=True,
            disable=not (self.dist.is_main and cfg.show_progress),
        )
        window_loss, window_steps, window_start = 0.0, 0, time.perf_counter()
        try:
            while self.step < cfg.max_steps:
                loss = self.training_step()
                window_loss += loss
                window_steps += 1
                bar.update(1)
                if self.step % cfg.logging_steps == 0 or self.step == cfg.max_steps:
                    elapsed = time.perf_counter() - window_start
                    record = {
                        "step": self.step,
                        "loss": window_loss / window_steps,
                        "lr": self.scheduler.get_last_lr()[0],
                        "samples_per_s": window_steps * cfg.batch_size / max(elapsed, 1e-9),
                        "seconds_per_step": elapsed / window_steps,
                    }
                    if self.dist.is_main:
                        bar.set_postfix(loss=f"{record['loss']:.4f}", lr=f"{record['lr']:.2e}")
                        tqdm.write(
                            f"step {self.step}/{cfg.max_steps}  loss {record['loss']:.4f}  lr {record['lr']:.3e}  "
                            f"{record['samples_per_s']:.1f} samples/s"
                        )
                        with open(self.output_dir / LOG_FILE, "a", encoding="utf-8") as f:
                            f.write(json.dumps(record) + "\n")
                    window_loss, window_steps, window_start = 0.0, 0, time.perf_counter()
                if cfg.save_steps and self.step % cfg.save_steps == 0 and self.step < cfg.max_steps:
                    self.save_checkpoint()
        finally:
            bar.close()
        self.save_model(self.output_dir)
        D.barrier()
        if self.dist.is_main:
            if not cfg.keep_checkpoints:
                self._remove_checkpoints()
            (self.output_dir / DONE_FILE).write_text(json.dumps({"step": self.step, "config": _comparable(cfg)},
                                                                indent=2) + "\n")
        return self.output_dir

    def _remove_checkpoints(self) -> None:
        """After a successful run only the final model stays (``keep_checkpoints: true`` keeps them)."""
        for path in self.output_dir.glob("*checkpoint-*"):
            if path.is_dir() and re.fullmatch(r"(\.tmp-)?checkpoint-\d+", path.name):
                shutil.rmtree(path, ignore_errors=True)
                logger.info("removed %s (keep_checkpoints: false)", path)

    # ------------------------------------------------------------------ saving / resuming

    def _full_state_dict(self) -> dict | None:
        """Backbone weights for saving: the module's own, or (FSDP) the full weights gathered to rank 0."""
        if not self.config.fsdp:
            return None
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        full = get_model_state_dict(self.module, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        prefix = "encoder.backbone."
        return {k[len(prefix):]: v for k, v in full.items() if k.startswith(prefix)}

    def save_model(self, path: Path) -> None:
        state = self._full_state_dict()  # collective under FSDP: every rank calls it
        if self.dist.is_main:
            self.encoder.save_pretrained(path, state_dict=state)

    def _optimizer_state(self) -> dict | None:
        if self.config.fsdp:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

            return get_optimizer_state_dict(
                self.module, self.optimizer, options=StateDictOptions(full_state_dict=True, cpu_offload=True)
            )
        return self.optimizer.state_dict()

    def save_checkpoint(self) -> Path:
        """Write ``checkpoint-<step>`` atomically (a temporary folder renamed when complete); keep the newest few."""
        final = self.output_dir / f"checkpoint-{self.step}"
        tmp = self.output_dir / f".tmp-checkpoint-{self.step}"
        if self.dist.is_main and tmp.exists():
            shutil.rmtree(tmp)
        D.barrier()
        self.save_model(tmp / "model")
        optim_state = self._optimizer_state()
        if self.dist.is_main:
            tmp.mkdir(parents=True, exist_ok=True)
            torch.save(
                {
                    "step": self.step,
                    "optimizer": optim_state,
                    "scheduler": self.scheduler.state_dict(),
                    "data": self.stream.state_dict(),
                    "world_size": self.dist.world_size,
                    "config": self.config.to_dict(),
                },
                tmp / STATE_FILE,
            )
        D.barrier()
        torch.save(_rng_state(), tmp / f"rng_state_{self.dist.rank}.pt")
        D.barrier()
        if self.dist.is_main:
            if final.exists():
                shutil.rmtree(final)
            tmp.rename(final)
            self._rotate_checkpoints()
            logger.info("saved %s", final)
        D.barrier()
        return final

    def _rotate_checkpoints(self) -> None:
        limit = self.config.save_total_limit
        if not limit:
            return
        found = sorted(
            (int(m.group(1)), p) for p in self.output_dir.glob("checkpoint-*")
            if (m := re.fullmatch(r"checkpoint-(\d+)", p.name))
        )
        for _, path in found[:-limit]:
            shutil.rmtree(path, ignore_errors=True)

    def _load_state(self, ckpt: Path) -> None:
        state = torch.load(ckpt / STATE_FILE, map_location="cpu", weights_only=False)
        if state.get("world_size") != self.dist.world_size:
            logger.warning(
                "%s was written with %s process(es), resuming with %d: data order is kept, RNG streams are not",
                ckpt, state.get("world_size"), self.dist.world_size,
            )
        if self.config.fsdp:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

            set_optimizer_state_dict(
                self.module, self.optimizer, optim_state_dict=state["optimizer"],
                options=StateDictOptions(full_state_dict=True),
            )
        else:
            self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.stream.load_state_dict(state["data"])
        self.step = int(state["step"])
        rng_file = ckpt / f"rng_state_{self.dist.rank}.pt"
        if rng_file.is_file():
            _set_rng_state(torch.load(rng_file, map_location="cpu", weights_only=False))
        if self.dist.is_main:
            logger.info("resumed from %s at step %d", ckpt, self.step)


def train(config: TrainConfig) -> Path:
    """Train with ``config`` (see the module docstring); returns the folder of the final model. With ``resume:
    auto`` a folder that already holds this config's final model is returned as is (see :func:`finished_run`)."""
    done = finished_run(config)
    if done is not None:
        logger.warning("%s already holds the final model of this config (%s); nothing to train", done, DONE_FILE)
        return done
    trainer = Trainer(config)
    try:
        return trainer.train()
    finally:
        D.cleanup()
