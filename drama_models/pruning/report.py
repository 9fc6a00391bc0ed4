"""Parameter counts (embedding / non-embedding) and perplexity on held-out text.

Embedding parameters are the input embedding table plus an *untied* LM head (a tied head shares the table and
is counted once); everything else is non-embedding. This is the split the DRAMA paper's sizes refer to
("0.1B", "0.3B": non-embedding parameters; the full Llama-3 vocabulary adds 128256 x hidden).
"""
from __future__ import annotations

import math

import torch
from tqdm.auto import tqdm

from drama_models.pruning.lm_data import batches


def parameter_counts(model: torch.nn.Module) -> dict[str, int]:
    """``{"embedding": .., "non_embedding": .., "total": ..}`` counting shared tensors once."""
    embed = model.get_input_embeddings()
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    emb_ids = {id(embed.weight)}
    if head is not None:
        emb_ids.add(id(head.weight))
    seen: set[int] = set()
    embedding = total = 0
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        if id(p) in emb_ids:
            embedding += p.numel()
    return {"embedding": embedding, "non_embedding": total - embedding, "total": total}


def lm_loss(model, input_ids: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy of a causal LM over a batch of packed blocks (no padding)."""
    logits = model(input_ids=input_ids).logits[:, :-1].float()
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), input_ids[:, 1:].reshape(-1))


@torch.no_grad()
def perplexity(model, blocks: torch.Tensor, batch_size: int = 4, desc: str = "perplexity", progress: bool = True) -> float:
    """exp(mean next-token NLL) over ``blocks`` ``[N, seq_len]``; every block has the same number of targets."""
    if len(blocks) == 0:
        raise ValueError("no held-out blocks to measure perplexity on")
    was_training = model.training
    model.train(False)  # inference mode (nn.Module.eval)
    device = next(model.parameters()).device
    total, n = 0.0, 0
    for batch in tqdm(list(batches(blocks, batch_size)), desc=desc, disable=not progress, leave=False):
        loss = lm_loss(model, batch.to(device))
        total += float(loss) * len(batch)
        n += len(batch)
    model.train(was_training)
    return math.exp(total / n)


def format_counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v / 1e6:.2f}M" for k, v in counts.items())
