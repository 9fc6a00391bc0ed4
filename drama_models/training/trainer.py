"""Contrastive fine-tuning (DRAMA, Ma et al. 2025, section 4.1): the objective plug-in of the one training loop.

``train(TrainConfig)`` -> path of the final model (a folder `DramaEncoder` and sentence-transformers load).

Per step: the `drama_models.training.data.GroupStream` yields this rank's slice of the global batch of
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

The steps, schedule, log, checkpoints, RNG state and resuming are :mod:`drama_models.training.loop`'s (shared
with continued pretraining); DDP/FSDP set-up is :mod:`drama_models.training.distributed`'s. This module adds
:class:`ContrastiveObjective` (data stream, tokenizing, InfoNCE / Matryoshka / distillation loss, GradCache)
and :class:`Trainer`, which builds the model, optimizer, objective and loop of one run.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from cards.train_log import LOG_FILE, read_train_log  # noqa: F401  (re-exported)
from drama_models.training import distributed as D
from drama_models.training.batching import encode_in_chunks, tokenize_groups
from drama_models.training.config import TrainConfig
from drama_models.training.data import GroupStream
from drama_models.training.gradcache import gradcache_step
from drama_models.training.loop import (  # noqa: F401  (lr_lambda, find_checkpoint, STATE_FILE: re-exported)
    STATE_FILE,
    LoopSettings,
    Objective,
    TrainingLoop,
    autocast,
    find_checkpoint,
    lr_lambda,
    remove_checkpoints,
    seed_everything,
)
from drama_models.training.losses import build_loss, group_distillation

logger = logging.getLogger(__name__)

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


def _param_groups(model: torch.nn.Module, weight_decay: float):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or name.endswith(".bias") else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


class ContrastiveObjective(Objective):
    """One step of contrastive training: this rank's slice of the next global batch of groups, tokenized and
    encoded (GradCache when ``gradcache_chunk_size`` is set), the loss (``loss_fn``: InfoNCE or Matryoshka, plus
    teacher distillation when ``distill_weight`` > 0) over the global batch, and its backward."""

    def __init__(self, config: TrainConfig, module: PairEncoder, wrapped: torch.nn.Module, stream: GroupStream,
                 loss_fn, dist: D.DistInfo):
        self.config = config
        self.module = module
        self.encoder = module.encoder
        self.wrapped = wrapped
        self.stream = stream
        self.loss_fn = loss_fn
        self.dist = dist
        self.cross_device = bool(getattr(loss_fn, "cross_device", False))
        self.longest_tokens = 0  # widest passage batch trained on (tokens): the positions the card states

    def autocast(self):
        return autocast(self.dist.device, self.config.use_bf16)

    def _loss(self, groups):
        """``loss_fn``, or (distillation / a contrastive weight) the weighted sum with the teacher term."""
        cfg = self.config
        if not (cfg.distill_weight > 0 or cfg.contrastive_weight != 1.0):
            return self.loss_fn
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

        return loss_fn

    def backward(self, step: int) -> float:
        cfg = self.config
        if cfg.length_buckets:  # one bucket per step: its batch size and its max length (buckets.py)
            groups, (max_len, _) = self.stream.next_batch(None, self.dist.rank, self.dist.world_size)
        else:
            groups, max_len = self.stream.next_batch(cfg.batch_size, self.dist.rank, self.dist.world_size), None
        q_feats, p_feats = tokenize_groups(self.encoder, groups, cfg.query_max_len, max_len or cfg.passage_max_len)
        self.longest_tokens = max(self.longest_tokens, int(p_feats["input_ids"].shape[1]),
                                  int(q_feats["input_ids"].shape[1]))
        scale = D.backward_scale(self.cross_device)
        loss_fn = self._loss(groups)
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
        return float(loss)

    def _full_state_dict(self) -> dict | None:
        """Backbone weights for saving: the module's own, or (FSDP) the full weights gathered to rank 0."""
        if not self.config.fsdp:
            return None
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            get_model_state_dict,
        )

        full = get_model_state_dict(self.module, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        prefix = "encoder.backbone."
        return {k[len(prefix):]: v for k, v in full.items() if k.startswith(prefix)}

    def save_model(self, path: Path, checkpoint: bool = False) -> None:
        """The encoder (sentence-transformers layout) into ``path`` (a checkpoint's ``model/`` subfolder)."""
        state = self._full_state_dict()  # collective under FSDP: every rank calls it
        # a model trained on passages longer than its encoding length says so (tokenizer model_max_length,
        # drama_config.json), so sentence-transformers and evaluate read long documents as trained
        trained = max((n for n, _ in self.config.length_buckets or []), default=self.config.passage_max_len)
        if trained > (self.encoder.max_length or 0):
            self.encoder.max_length = trained
        if self.dist.is_main:
            self.encoder.save_pretrained(Path(path) / "model" if checkpoint else path, state_dict=state)

    def state_dict(self) -> dict:
        return {"data": self.stream.state_dict(), "config": self.config.to_dict(),
                "longest_tokens": self.longest_tokens}

    def load_state_dict(self, state: dict) -> None:
        self.stream.load_state_dict(state["data"])
        self.longest_tokens = int(state.get("longest_tokens", 0))

    def summary(self) -> dict:
        """What the model card states about lengths: the backbone's positions (RoPE type and scaling, or
        absolute), the longest input trained on, and (with ``length_buckets``) rows and steps per bucket."""
        from drama_models.rope import describe_rope

        out = {"positions": describe_rope(self.encoder.backbone.config), "longest_tokens": self.longest_tokens}
        if self.config.length_buckets:
            out["length_buckets"] = self.stream.summary()
        return out


def _load_encoder(config: TrainConfig, resume_from: Path | None, device: torch.device):
    """The encoder to train: ``config.model`` (or the checkpoint's ``model/``), in training mode, with BERT's unused
    pooler frozen and gradient checkpointing when asked; a Matryoshka dim above its size raises ``ValueError``."""
    from drama_models.encoder import DramaEncoder
    from drama_models.model_source import resolve_model

    source = resume_from / "model" if resume_from else resolve_model(config.model, "model", hub_check=False)
    encoder = DramaEncoder.from_pretrained(
        source,
        pooling=config.pooling,
        normalize=config.normalize,
        bidirectional=config.bidirectional,
        query_prefix=config.query_prefix,
        document_prefix=config.document_prefix,
        device=device,
    )
    encoder.train()
    pooler = getattr(encoder.backbone, "pooler", None)
    if pooler is not None:  # BERT's pooler is not used by mean/eos/cls pooling of token states
        pooler.requires_grad_(False)
    if config.gradient_checkpointing:
        encoder.gradient_checkpointing_enable()
    for dim in config.matryoshka_dims or []:
        if dim > encoder.embedding_dim:
            raise ValueError(
                f"option `matryoshka_dims` has {dim}, larger than the model's embedding size {encoder.embedding_dim}"
            )
    return encoder


def _check_teacher_scores(stream: GroupStream, distill_weight: float) -> None:
    """Distillation needs a ``score`` per passage in every training dataset: else ``ValueError`` naming it."""
    for ds, name in zip(stream.datasets, stream.names):
        inner = ds.features["positive_passages"]
        inner = inner.feature if hasattr(inner, "feature") else inner[0]
        if "score" not in inner:
            raise ValueError(
                f"option `distill_weight`={distill_weight}: training dataset {name!r} has no teacher "
                "scores (a `score` per passage, as `drama-data build` writes from mined candidates); "
                "set distill_weight 0 or rebuild the data"
            )


def _bucketed_stream(config: TrainConfig, encoder, world_size: int):
    """The length-bucketed stream (:mod:`drama_models.training.buckets`): every row measured once with the
    encoder's tokenizer. A bucket longer than the encoder's positions, or a batch size not divisible by the
    number of processes, raises ``ValueError`` naming the bucket."""
    from drama_models.training.buckets import BucketedGroupStream

    limit = encoder.context_limit
    for max_len, size in config.length_buckets:
        if limit and max_len > limit:
            raise ValueError(f"option `length_buckets`: bucket {max_len}:{size} is longer than the model's "
                             f"{limit} positions (extend them with rope scaling first, or lower max_len)")
        if size % world_size:
            raise ValueError(f"option `length_buckets`: batch size {size} of bucket {max_len}:{size} is not "
                             f"divisible by the number of processes ({world_size})")
    stream = BucketedGroupStream.from_specs_bucketed(config.datasets, config.train_group_size, config.seed,
                                                     config.length_buckets, encoder)
    for b in stream.summary():
        logger.info("length bucket max_len %d, batch %d: %d rows (%d longer, truncated)", b["max_len"],
                    b["batch_size"], b["rows"], b["truncated_rows"])
    return stream


class Trainer:
    """Builds the model, optimizer, objective and :class:`~drama_models.training.loop.TrainingLoop` of one run;
    :meth:`train` runs it."""

    def __init__(self, config: TrainConfig):
        config.validate()
        self.config = config
        self.dist = D.setup()
        self.output_dir = Path(config.output_dir)
        if self.dist.is_main:
            self.output_dir.mkdir(parents=True, exist_ok=True)
        D.barrier()
        self.resume_from = find_checkpoint(self.output_dir, config.resume)
        seed_everything(config.seed + self.dist.rank)

        self.encoder = _load_encoder(config, self.resume_from, self.dist.device)

        self.module = PairEncoder(self.encoder, config.encode_chunk_size)
        self.wrapped = D.wrap(self.module, self.dist, fsdp=config.fsdp, bf16=config.use_bf16,
                              blocks=D.transformer_blocks(self.encoder.backbone) if config.fsdp else None)
        self.optimizer = torch.optim.AdamW(
            _param_groups(self.module, config.weight_decay),
            lr=config.learning_rate,
            betas=(config.adam_beta1, config.adam_beta2),
            eps=config.adam_epsilon,
        )
        if config.length_buckets:
            self.stream = _bucketed_stream(config, self.encoder, self.dist.world_size)
        else:
            self.stream = GroupStream.from_specs(config.datasets, config.train_group_size, config.seed)
        if config.distill_weight > 0:
            _check_teacher_scores(self.stream, config.distill_weight)
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
        self.objective = ContrastiveObjective(config, self.module, self.wrapped, self.stream, self.loss_fn, self.dist)
        self.loop = TrainingLoop(
            self.objective, self.module, self.optimizer,
            lr_lambda(config.lr_scheduler, config.warmup_steps, config.max_steps),
            LoopSettings(output_dir=self.output_dir, max_steps=config.max_steps, max_grad_norm=config.max_grad_norm,
                         save_steps=config.save_steps, save_total_limit=config.save_total_limit,
                         logging_steps=config.logging_steps, samples_per_step=self._samples_per_step(),
                         show_progress=config.show_progress, desc="train", fsdp=config.fsdp),
            self.dist,
        )
        if self.resume_from:
            self.loop.load_checkpoint(self.resume_from)

    def _samples_per_step(self) -> int:
        """Queries per step for the throughput log: ``batch_size``, or the buckets' expected batch size."""
        if not self.config.length_buckets:
            return self.config.batch_size
        sizes = [b for _, b in self.stream.buckets]
        return max(1, round(float(sum(p * b for p, b in zip(self.stream.bucket_probs, sizes)))))

    @property
    def step(self) -> int:
        return self.loop.step

    @property
    def scheduler(self):
        return self.loop.scheduler

    def autocast(self):
        return self.objective.autocast()

    def training_step(self) -> float:
        """One optimizer step over the next global batch; returns the (global) loss."""
        return self.loop.one_step()

    def save_checkpoint(self) -> Path:
        """Write ``checkpoint-<step>`` (see :meth:`TrainingLoop.save_checkpoint`)."""
        return self.loop.save_checkpoint()

    def save_model(self, path: Path) -> None:
        self.objective.save_model(path)

    def train(self) -> Path:
        cfg = self.config
        if self.dist.is_main:
            (self.output_dir / "train_config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
            logger.info("training %s on %d process(es) from step %d, %s", self.encoder, self.dist.world_size, self.step,
                        f"bf16 autocast on {self.dist.device.type}" if cfg.use_bf16 else "float32")
        self.loop.run()
        self.save_model(self.output_dir)
        D.barrier()
        if self.dist.is_main:
            if not cfg.keep_checkpoints:
                remove_checkpoints(self.output_dir)  # only the final model stays (keep_checkpoints: true keeps them)
            summary = self.objective.summary()
            for b in summary.get("length_buckets", []):
                logger.info("bucket max_len %d (batch %d): %d rows (%d truncated), %d steps", b["max_len"],
                            b["batch_size"], b["rows"], b["truncated_rows"], b["steps"])
            (self.output_dir / DONE_FILE).write_text(json.dumps({"step": self.step, "config": _comparable(cfg),
                                                                 "summary": summary}, indent=2) + "\n")
        return self.output_dir


def train(config: TrainConfig) -> Path:
    """Fine-tune a dense retriever contrastively (InfoNCE, optionally Matryoshka and distillation) as ``config`` says.

    Runs alike in one process and under ``torchrun`` (DDP, or FSDP2 with ``fsdp``). Checkpoints every
    ``save_steps`` into ``output_dir``; with ``resume: auto`` the run continues from the newest one, and a folder
    that already holds this config's final model is returned as is (nothing is trained). After a successful run
    only the final model stays (unless ``keep_checkpoints``).

    Args:
        config: The run's [`TrainConfig`][drama_models.training.config.TrainConfig].

    Returns:
        The folder of the final model, loadable by
            [`DramaEncoder.from_pretrained`][drama_models.encoder.DramaEncoder.from_pretrained] and by
            sentence-transformers.

    Raises:
        ValueError: A config value that cannot work, or a training dataset that cannot be read (missing, not a
            Tevatron layout, no such split), naming the option or the dataset.
    """
    done = finished_run(config)
    if done is not None:
        logger.warning("%s already holds the final model of this config (%s); nothing to train", done, DONE_FILE)
        return done
    trainer = Trainer(config)
    try:
        return trainer.train()
    finally:
        D.cleanup()
