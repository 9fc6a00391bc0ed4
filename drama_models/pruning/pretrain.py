"""Continued pretraining with the language-modelling loss, to recover after pruning.

Sheared-LLaMA (Xia et al. 2024) continues pretraining the pruned model on the
pretraining mixture (lr 1e-4, cosine schedule); DRAMA does the same before contrastive training. Here (the
floor of the cosine, ``min_lr_ratio``, is our choice):

- data: texts (``text_source.py``) tokenized and packed into ``seq_len`` blocks (``lm_data.py``); every epoch
  visits the blocks in a seeded permutation, and the blocks of global step ``k`` depend only on ``k``, so a
  resumed run sees exactly the data the uninterrupted run would have seen;
- optimiser AdamW, linear warm-up then cosine decay to ``min_lr_ratio * lr``, gradient clipping at 1.0,
  gradient accumulation;
- checkpoints ``OUT/checkpoint-STEP/`` (model + tokenizer + ``trainer_state.pt`` with optimiser, scheduler,
  step and history, + ``rng_state_RANK.pt``), the last ``keep_checkpoints`` kept; ``resume=True`` continues from
  the newest one;
- ``torchrun --nproc-per-node N``: when ``WORLD_SIZE > 1`` the model is wrapped in DDP (NCCL on GPUs, Gloo on
  CPU), each rank takes its slice of every global batch, and only rank 0 writes;
- bf16 autocast on CUDA; fp32 on CPU (bf16 matmuls were slower than fp32 on the CPUs we measured).

The steps, schedule, checkpoints, RNG state, resuming and progress bar are the one training loop's
(:mod:`drama_models.training.loop`, shared with contrastive training), DDP set-up is
:mod:`drama_models.training.distributed`'s; this module adds the data and the loss (:class:`LanguageModelling`).

Input: a model (path/id or loaded model + tokenizer), a corpus, an output folder. Output: the trained model saved
in ``OUT`` and ``OUT/pretrain.json`` (settings, per-step loss, perplexities when a held-out set is given).
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from drama_models.pruning.errors import PruningError
from drama_models.pruning.lm_data import text_blocks
from drama_models.pruning.loading import load_causal_lm, load_tokenizer
from drama_models.pruning.report import lm_loss, perplexity
from drama_models.pruning.text_source import read_texts
from drama_models.training import distributed as D
from drama_models.training.loop import (
    STATE_FILE,
    LoopSettings,
    Objective,
    TrainingLoop,
    autocast,
    find_checkpoint,
    lr_lambda,
    seed_everything,
)

STATE_NAME = STATE_FILE  # the old name, kept for callers


@dataclass
class PretrainSettings:
    steps: int = 1000
    batch_size: int = 8  # blocks per rank per micro-batch
    grad_accum: int = 1
    seq_len: int = 256
    lr: float = 1e-4  # Sheared-LLaMA's continued-pretraining learning rate
    min_lr_ratio: float = 0.1
    warmup_steps: int = 0
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    save_every: int = 200
    keep_checkpoints: int = 2
    max_docs: int | None = None
    heldout_docs: int = 0  # documents at the end of the corpus kept out of training for perplexity
    heldout: str | None = None  # or a separate held-out text (BEIR folder / .jsonl / .txt) ...
    heldout_skip_docs: int = 0  # ... whose first documents are skipped
    heldout_blocks: int = 32  # perplexity is measured on at most this many blocks
    seed: int = 0
    stop_after: int | None = None  # stop this run after so many steps (time-sliced jobs); resume later
    progress: bool = True


def latest_checkpoint(out: str | Path) -> Path | None:
    """The newest complete ``checkpoint-STEP`` folder in ``out``, or None."""
    return find_checkpoint(out, "auto")


def _global_batch(n_blocks: int, step: int, size: int, seed: int) -> torch.Tensor:
    """Block indices of global step ``step`` (epochs are seeded permutations; depends only on ``step``)."""
    per_epoch = n_blocks // size
    epoch, k = divmod(step, per_epoch)
    perm = torch.randperm(n_blocks, generator=torch.Generator().manual_seed(seed + epoch))
    return perm[k * size : (k + 1) * size]


class LanguageModelling(Objective):
    """The language-modelling loss on packed text blocks: optimizer step ``k`` takes this rank's slice of the
    global batch of step ``k`` (:func:`_global_batch`), in ``grad_accum`` micro-batches. Keeps the per-step
    history and the held-out perplexity before training (both in ``trainer_state.pt`` and ``pretrain.json``)."""

    def __init__(self, net, tokenizer, blocks: torch.Tensor, st: PretrainSettings, dist: D.DistInfo):
        self.net = net
        self.train_net = net  # DDP-wrapped by pretrain() once the held-out perplexity is measured
        self.tokenizer = tokenizer
        self.blocks = blocks
        self.st = st
        self.dist = dist
        self.history: list[dict] = []
        self.ppl_before: float | None = None

    def backward(self, step: int) -> float:
        st, rank = self.st, self.dist.rank
        per_rank = st.batch_size * st.grad_accum
        idx = _global_batch(len(self.blocks), step, per_rank * self.dist.world_size, st.seed)
        mine = idx[rank * per_rank : (rank + 1) * per_rank]
        total = 0.0
        for micro in range(st.grad_accum):
            batch = self.blocks[mine[micro * st.batch_size : (micro + 1) * st.batch_size]].to(self.dist.device)
            with autocast(self.dist.device, self.dist.device.type == "cuda"):  # bf16 on CUDA, fp32 on CPU
                loss = lm_loss(self.train_net, batch) / st.grad_accum
            loss.backward()
            total += float(loss.detach())
        return total

    def after_step(self, step: int, loss: float, lr: float) -> None:
        self.history.append({"step": step, "loss": loss, "lr": lr})

    def save_model(self, path: Path, checkpoint: bool = False) -> None:
        if self.dist.is_main:
            Path(path).mkdir(parents=True, exist_ok=True)
            self.net.save_pretrained(path)
            self.tokenizer.save_pretrained(path)

    def state_dict(self) -> dict:
        return {"history": self.history, "settings": asdict(self.st), "ppl_before": self.ppl_before}

    def load_state_dict(self, state: dict) -> None:
        self.history = list(state["history"])
        self.ppl_before = state.get("ppl_before")


def _texts(corpus, st: PretrainSettings) -> tuple[list[str], list[str]]:
    """``(training texts, held-out texts)``: the corpus less its last ``heldout_docs`` documents and those
    documents, or (``heldout``) a separate held-out text."""
    texts = read_texts(corpus, max_docs=st.max_docs, option="--corpus")
    heldout_texts = texts[len(texts) - st.heldout_docs :] if st.heldout_docs else []
    train_texts = texts[: len(texts) - st.heldout_docs] if st.heldout_docs else texts
    if st.heldout:
        heldout_texts = read_texts(st.heldout, skip_docs=st.heldout_skip_docs, option="--heldout")
    return train_texts, heldout_texts


def _blocks(corpus, tokenizer, texts: list[str], heldout_texts: list[str], st: PretrainSettings, global_size: int):
    """``(training blocks, held-out blocks or None)`` of ``seq_len`` tokens; too little text is one
    ``PruningError``."""
    blocks = text_blocks(tokenizer, texts, st.seq_len)
    if len(blocks) < global_size:
        raise PruningError(
            f"--corpus {corpus}: {len(blocks)} blocks of {st.seq_len} tokens, fewer than one global batch "
            f"({global_size} = batch size x grad accum x world size); give more text or smaller --batch-size/--seq-len"
        )
    heldout = text_blocks(tokenizer, heldout_texts, st.seq_len, st.heldout_blocks) if heldout_texts else None
    if heldout is not None and len(heldout) == 0:
        raise PruningError(f"held-out text gives no block of {st.seq_len} tokens; give more (--heldout / --heldout-docs)")
    return blocks, heldout


def pretrain(
    model,
    corpus: str | Path,
    out: str | Path,
    settings: PretrainSettings | None = None,
    tokenizer=None,
    resume: bool = True,
    dtype: str = "float32",
    gguf_file: str | None = None,
    trust_remote_code: bool = False,
) -> dict:
    """Continue pretraining ``model`` (a path/Hub id, or a loaded causal LM with ``tokenizer``) on ``corpus``.

    Returns the summary also written to ``OUT/pretrain.json``.
    """
    st = settings or PretrainSettings()
    if st.steps < 1 or st.batch_size < 1 or st.grad_accum < 1 or st.seq_len < 2:
        raise PruningError("pretrain: --steps, --batch-size, --grad-accum must be >= 1 and --seq-len >= 2")
    out = Path(out)
    dist = D.setup()
    world, rank = dist.world_size, dist.rank
    train_texts, heldout_texts = _texts(corpus, st)
    if isinstance(model, (str, Path)):
        tokenizer = tokenizer or load_tokenizer(str(model), gguf_file, trust_remote_code)
    elif tokenizer is None:
        raise PruningError("pretrain: pass the tokenizer together with a loaded model")
    global_size = st.batch_size * st.grad_accum * world
    blocks, heldout = _blocks(corpus, tokenizer, train_texts, heldout_texts, st, global_size)

    ckpt = latest_checkpoint(out) if resume else None
    source = ckpt or model
    if isinstance(source, (str, Path)):
        net = load_causal_lm(str(source), dtype=dtype, gguf_file=None if ckpt else gguf_file,
                             trust_remote_code=trust_remote_code)
    else:
        net = source
    net.to(dist.device)
    net.train()
    seed_everything(st.seed + rank)
    opt = torch.optim.AdamW(net.parameters(), lr=st.lr, weight_decay=st.weight_decay)
    objective = LanguageModelling(net, tokenizer, blocks, st, dist)
    loop = TrainingLoop(
        objective, net, opt, lr_lambda("cosine", st.warmup_steps, st.steps, floor=st.min_lr_ratio),
        LoopSettings(output_dir=out, max_steps=st.steps, max_grad_norm=st.max_grad_norm, save_steps=st.save_every,
                     save_total_limit=st.keep_checkpoints, logging_steps=None, show_progress=st.progress,
                     desc="pretrain"),
        dist,
    )
    if ckpt is not None:
        loop.load_checkpoint(ckpt)
    start = loop.step
    if heldout is not None and start == 0 and rank == 0:
        objective.ppl_before = perplexity(net, heldout, st.batch_size, "perplexity (before)", st.progress)
        net.train()
    objective.train_net = D.wrap(net, dist)

    end = st.steps if st.stop_after is None else min(st.steps, start + st.stop_after)
    t0 = time.time()
    loop.run(until=end)
    finished = end >= st.steps
    if not finished:
        if end % st.save_every:
            loop.save_checkpoint()
        summary = {"finished": False, "step": end, "steps": st.steps}
        return summary
    net.train(False)  # inference mode (nn.Module.eval)
    objective.save_model(out)
    D.barrier()
    summary = {
        "finished": True,
        "steps": st.steps,
        "tokens_seen": st.steps * global_size * st.seq_len,
        "train_blocks": len(blocks),
        "seconds_this_run": round(time.time() - t0, 1),
        "settings": asdict(st),
        "history": objective.history,
    }
    if heldout is not None and rank == 0:
        summary["heldout_perplexity_before"] = objective.ppl_before
        summary["heldout_perplexity_after"] = perplexity(net, heldout, st.batch_size, "perplexity (after)", st.progress)
    if rank == 0:
        (out / "pretrain.json").write_text(json.dumps(summary, indent=2))
    return summary
