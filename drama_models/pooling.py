"""Pooling of token states into one vector per text, and Matryoshka truncation.

In: ``hidden`` ``[batch, seq, dim]`` token states and the tokenizer's ``attention_mask`` ``[batch, seq]``
(1 = real token, 0 = padding; left or right padding both work). Out: ``[batch, dim]``.

DRAMA (Ma et al. 2025, section 3.3) mean-pools the last layer over all real tokens (BOS and EOS included)
and L2-normalises; ``eos`` (last real token) and ``cls`` (first token) are there for other checkpoints.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

POOLING_MODES = ("mean", "eos", "cls")

# our name -> sentence-transformers' Pooling mode (and back)
ST_POOLING_NAMES = {"mean": "mean", "eos": "lasttoken", "cls": "cls"}
FROM_ST_POOLING_NAMES = {v: k for k, v in ST_POOLING_NAMES.items()}


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average of the states of real tokens; padding positions contribute nothing. Computed in float32."""
    mask = attention_mask.to(torch.float32).unsqueeze(-1)
    summed = (hidden.to(torch.float32) * mask).sum(dim=1)
    return summed / mask.sum(dim=1).clamp(min=1e-9)


def eos_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """State of the last real token of each row (the appended EOS when the encoder adds one)."""
    positions = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    last = (attention_mask.to(positions.dtype) * positions).argmax(dim=1)
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last].to(torch.float32)


def cls_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """State of the first position (``[CLS]`` for BERT-like encoders; assumes right padding)."""
    return hidden[:, 0].to(torch.float32)


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, mode: str) -> torch.Tensor:
    """Dispatch to ``mean_pool`` / ``eos_pool`` / ``cls_pool`` by ``mode``."""
    if mode == "mean":
        return mean_pool(hidden, attention_mask)
    if mode == "eos":
        return eos_pool(hidden, attention_mask)
    if mode == "cls":
        return cls_pool(hidden, attention_mask)
    raise ValueError(f"unknown pooling {mode!r}; option `pooling` must be one of {POOLING_MODES}")


def truncate(embeddings: torch.Tensor, dim: int | None, normalize: bool = True) -> torch.Tensor:
    """Matryoshka cut: keep the first ``dim`` coordinates, then re-normalise to unit length when ``normalize``.

    ``dim=None`` returns ``embeddings`` unchanged. A ``dim`` larger than the embedding size or below 1 raises
    ``ValueError`` naming the option.
    """
    if dim is None:
        return embeddings
    full = embeddings.shape[-1]
    if not isinstance(dim, int) or dim < 1 or dim > full:
        raise ValueError(
            f"option `dim`={dim!r} is not a valid Matryoshka dimension for this model: "
            f"it must be an integer between 1 and the model's embedding size {full}"
        )
    cut = embeddings[..., :dim]
    return F.normalize(cut, p=2, dim=-1) if normalize else cut
