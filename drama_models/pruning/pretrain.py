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
  RNG and step), the last ``keep_checkpoints`` kept; ``resume=True`` continues from the newest one;
- ``torchrun --nproc-per-node N``: when ``WORLD_SIZE > 1`` the model is wrapped in DDP (NCCL on GPUs, Gloo on
  CPU), each rank takes its slice of every global batch, and only rank 0 writes;
- bf16 autocast on CUDA; fp32 on CPU (bf16 matmuls were slower than fp32 on the CPUs we measured).

Input: a model (path/id or loaded model + tokenizer), a corpus, an output folder. Output: the trained model saved
in ``OUT`` and ``OUT/pretrain.json`` (settings, per-step loss, perplexities when a held-out set is given).
"""
from __future__ import annotations

import json
import math
import os
import re
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from drama_models.pruning.errors import PruningError
from drama_models.pruning.lm_data import text_blocks
from drama_models.pruning.loading import load_causal_lm, load_tokenizer
from drama_models.pruning.report import lm_loss, perplexity
from drama_models.pruning.text_source import read_texts

STATE_NAME = "trainer_state.pt"
_CKPT = re.compile(r"^checkpoint-(\d+)$")


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


def _dist():
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend=backend)
    rank = torch.distributed.get_rank() if world > 1 else 0
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    return world, rank, device


def latest_checkpoint(out: str | Path) -> Path | None:
    out = Path(out)
    if not out.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in out.iterdir() if (m := _CKPT.match(p.name)) and (p / STATE_NAME).is_file()]
    return max(found)[1] if found else None


def _schedule(st: PretrainSettings):
    def factor(step: int) -> float:
        if st.warmup_steps and step < st.warmup_steps:
            return (step + 1) / st.warmup_steps
        span = max(1, st.steps - st.warmup_steps)
        progress = min(1.0, (step - st.warmup_steps) / span)
        return st.min_lr_ratio + (1 - st.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def _global_batch(n_blocks: int, step: int, size: int, seed: int) -> torch.Tensor:
    """Block indices of global step ``step`` (epochs are seeded permutations; depends only on ``step``)."""
    per_epoch = n_blocks // size
    epoch, k = divmod(step, per_epoch)
    perm = torch.randperm(n_blocks, generator=torch.Generator().manual_seed(seed + epoch))
    return perm[k * size : (k + 1) * size]


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
    world, rank, device = _dist()
    texts = read_texts(corpus, max_docs=st.max_docs, option="--corpus")
    heldout_texts = texts[len(texts) - st.heldout_docs :] if st.heldout_docs else []
    train_texts = texts[: len(texts) - st.heldout_docs] if st.heldout_docs else texts
    if st.heldout:
        heldout_texts = read_texts(st.heldout, skip_docs=st.heldout_skip_docs, option="--heldout")
    if isinstance(model, (str, Path)):
        tokenizer = tokenizer or load_tokenizer(str(model), gguf_file, trust_remote_code)
    elif tokenizer is None:
        raise PruningError("pretrain: pass the tokenizer together with a loaded model")
    global_size = st.batch_size * st.grad_accum * world
    blocks = text_blocks(tokenizer, train_texts, st.seq_len)
    if len(blocks) < global_size:
        raise PruningError(
            f"--corpus {corpus}: {len(blocks)} blocks of {st.seq_len} tokens, fewer than one global batch "
            f"({global_size} = batch size x grad accum x world size); give more text or smaller --batch-size/--seq-len"
        )
    heldout = text_blocks(tokenizer, heldout_texts, st.seq_len, st.heldout_blocks) if heldout_texts else None
    if heldout is not None and len(heldout) == 0:
        raise PruningError(f"held-out text gives no block of {st.seq_len} tokens; give more (--heldout / --heldout-docs)")

    ckpt = latest_checkpoint(out) if resume else None
    source = ckpt or model
    if isinstance(source, (str, Path)):
        net = load_causal_lm(str(source), dtype=dtype, gguf_file=None if ckpt else gguf_file,
                             trust_remote_code=trust_remote_code)
    else:
        net = source
    net.to(device)
    net.train()
    torch.manual_seed(st.seed + rank)
    opt = torch.optim.AdamW(net.parameters(), lr=st.lr, weight_decay=st.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(st))
    start, history = 0, []
    if ckpt is not None:
        state = torch.load(ckpt / STATE_NAME, map_location="cpu", weights_only=False)
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        start, history = state["step"], state["history"]
        ppl_before = state.get("ppl_before")
    else:
        ppl_before = None
    if heldout is not None and start == 0 and rank == 0:
        ppl_before = perplexity(net, heldout, st.batch_size, "perplexity (before)", st.progress)
        net.train()
    train_net = net
    if world > 1:
        ids = [device.index] if device.type == "cuda" else None
        train_net = torch.nn.parallel.DistributedDataParallel(net, device_ids=ids)
    if device.type == "cuda":
        autocast = torch.autocast("cuda", dtype=torch.bfloat16)
    else:
        autocast = torch.autocast("cpu", enabled=False)

    def save(step: int, final: bool = False) -> None:
        if rank == 0:
            target = out if final else out / f"checkpoint-{step}"
            target.mkdir(parents=True, exist_ok=True)
            net.save_pretrained(target)
            tokenizer.save_pretrained(target)
            if not final:
                torch.save({"step": step, "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                            "rng": torch.get_rng_state(), "history": history, "settings": asdict(st),
                            "ppl_before": ppl_before},
                           target / STATE_NAME)
                ckpts = sorted((int(m.group(1)), p) for p in out.iterdir() if (m := _CKPT.match(p.name)))
                for _, old in ckpts[: -st.keep_checkpoints] if st.keep_checkpoints > 0 else []:
                    shutil.rmtree(old, ignore_errors=True)
        if world > 1:
            torch.distributed.barrier()

    end = st.steps if st.stop_after is None else min(st.steps, start + st.stop_after)
    t0 = time.time()
    bar = tqdm(range(start, end), initial=start, total=st.steps, desc="pretrain", disable=not st.progress or rank != 0)
    for step in bar:
        idx = _global_batch(len(blocks), step, global_size, st.seed)
        mine = idx[rank * st.batch_size * st.grad_accum : (rank + 1) * st.batch_size * st.grad_accum]
        opt.zero_grad(set_to_none=True)
        total = 0.0
        for micro in range(st.grad_accum):
            batch = blocks[mine[micro * st.batch_size : (micro + 1) * st.batch_size]].to(device)
            with autocast:
                loss = lm_loss(train_net, batch) / st.grad_accum
            loss.backward()
            total += float(loss.detach())
        if st.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(net.parameters(), st.max_grad_norm)
        opt.step()
        sched.step()
        history.append({"step": step + 1, "loss": total, "lr": sched.get_last_lr()[0]})
        bar.set_postfix(loss=f"{total:.3f}")
        if (step + 1) % st.save_every == 0 and step + 1 < st.steps:
            save(step + 1)
    finished = end >= st.steps
    if not finished:
        if end % st.save_every:
            save(end)
        summary = {"finished": False, "step": end, "steps": st.steps}
        return summary
    net.train(False)  # inference mode (nn.Module.eval)
    save(st.steps, final=True)
    summary = {
        "finished": True,
        "steps": st.steps,
        "tokens_seen": st.steps * global_size * st.seq_len,
        "train_blocks": len(blocks),
        "seconds_this_run": round(time.time() - t0, 1),
        "settings": asdict(st),
        "history": history,
    }
    if heldout is not None and rank == 0:
        summary["heldout_perplexity_before"] = ppl_before
        summary["heldout_perplexity_after"] = perplexity(net, heldout, st.batch_size, "perplexity (after)", st.progress)
    if rank == 0:
        (out / "pretrain.json").write_text(json.dumps(summary, indent=2))
    return summary
