"""Importance for retrieval: first-order Taylor scores of a contrastive query-passage loss.

Instead of the LM loss, measure what the *retrieval* objective needs. Pseudo pairs come from the calibration
text the way DRAMA's cropped-sentence augmentation does (Ma et al. 2025, "Sent"): one sentence of a
document is the query (prefixed ``"Query: "`` as DRAMA's encoder does), the rest of the document is its passage;
the other passages of the batch are negatives (InfoNCE with in-batch negatives, temperature ``0.05``).
The model encodes as the DRAMA encoder does: bidirectional attention (``config.is_causal = False``, as
``drama_models/encoder.py``), BOS prepended, EOS appended, mean pooling, L2 normalisation.

Every structure gets a gate ``z = 1`` (``masked.MaskSet``: layers, heads, FFN neurons, hidden channels); the
importance of a structure is the accumulated squared gradient ``sum_batches (dL/dz)^2``, the first-order Taylor
estimate of the loss change from removing it (Molchanov et al. 2019, "Importance Estimation for Neural Network
Pruning", with the gate formulation). Only the gates take gradients; the weights are frozen.

Input: a causal LM (or headless decoder), its tokenizer, calibration texts. Output: :class:`plan.Scores`.
"""
from __future__ import annotations

import contextlib
import random
import re
from collections.abc import Sequence

import torch
from tqdm.auto import tqdm

from drama_models.pruning.arch import adapter_for
from drama_models.pruning.masked import MaskedModel, MaskSet
from drama_models.pruning.plan import Scores

QUERY_PREFIX = "Query: "
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])")


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if len(s.strip()) >= 8]


def make_pairs(texts: Sequence[str], n_pairs: int, seed: int = 0) -> list[tuple[str, str]]:
    """Up to ``n_pairs`` (query, passage) pairs: a random sentence of a document vs. the rest of it.

    Documents with fewer than two sentences are skipped. Deterministic for a given ``seed``.
    """
    rng = random.Random(seed)
    order = list(range(len(texts)))
    rng.shuffle(order)
    pairs = []
    for i in order:
        sentences = split_sentences(texts[i])
        if len(sentences) < 2:
            continue
        k = rng.randrange(len(sentences))
        passage = " ".join(sentences[:k] + sentences[k + 1 :])
        pairs.append((QUERY_PREFIX + sentences[k], passage))
        if len(pairs) >= n_pairs:
            break
    return pairs


_MISSING = object()


@contextlib.contextmanager
def bidirectional(model):
    """Switch a decoder to bidirectional attention for the duration (``encoder.py``'s mechanism: the mask
    builders read ``config.is_causal``, the attention kernels each module's ``is_causal``)."""
    config = model.config
    saved_config = config.__dict__.get("is_causal", _MISSING)
    saved_modules = [(m, m.is_causal) for m in model.modules() if isinstance(getattr(m, "is_causal", None), bool)]
    config.is_causal = False
    for module, _ in saved_modules:
        module.is_causal = False
    try:
        yield model
    finally:
        for module, value in saved_modules:
            module.is_causal = value
        if saved_config is _MISSING:
            config.__dict__.pop("is_causal", None)
        else:
            config.is_causal = saved_config


def encode_batch(tokenizer, texts: Sequence[str], max_length: int) -> dict[str, torch.Tensor]:
    """BOS + tokens + EOS, right-padded (DRAMA's input format)."""
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (eos if eos is not None else 0)
    room = max_length - (bos is not None) - (eos is not None)
    rows = []
    for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]:
        rows.append(([bos] if bos is not None else []) + ids[:room] + ([eos] if eos is not None else []))
    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        input_ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = 1
    return {"input_ids": input_ids, "attention_mask": mask}


def embed(base, features: dict[str, torch.Tensor]) -> torch.Tensor:
    hidden = base(**features).last_hidden_state.float()
    mask = features["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1)
    return torch.nn.functional.normalize(pooled, dim=-1)


def retrieval_importance(
    model,
    tokenizer,
    texts: Sequence[str],
    n_pairs: int = 256,
    batch_size: int = 16,
    max_length: int = 128,
    temperature: float = 0.05,
    seed: int = 0,
    progress: bool = True,
) -> Scores:
    """Taylor importance of every structure for an InfoNCE loss on pseudo pairs (see the module docstring)."""
    pairs = make_pairs(texts, n_pairs, seed)
    if len(pairs) < 2:
        raise ValueError("retrieval importance needs at least 2 documents with two or more sentences")
    a = adapter_for(model.config)
    base = a.base(model)
    device = next(model.parameters()).device
    gates = MaskSet.ones(model.config, requires_grad=True, device=device)
    grads = {name: torch.zeros_like(value) for name, value in gates.items()}
    flags = [(p, p.requires_grad) for p in model.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    was_training = model.training
    model.train(False)  # inference mode (nn.Module.eval)
    try:
        with bidirectional(base), MaskedModel(model, gates):
            steps = [pairs[i : i + batch_size] for i in range(0, len(pairs), batch_size)]
            steps = [s for s in steps if len(s) >= 2]
            for step in tqdm(steps, desc="importance (retrieval)", disable=not progress):
                q = encode_batch(tokenizer, [p[0] for p in step], max_length)
                d = encode_batch(tokenizer, [p[1] for p in step], max_length)
                qe = embed(base, {k: v.to(device) for k, v in q.items()})
                de = embed(base, {k: v.to(device) for k, v in d.items()})
                logits = qe @ de.T / temperature
                loss = torch.nn.functional.cross_entropy(logits, torch.arange(len(step), device=device))
                values = [v for _, v in gates.items()]
                for (name, _), g in zip(gates.items(), torch.autograd.grad(loss, values)):
                    grads[name] += g.detach().pow(2)
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
        model.train(was_training)
    return Scores(layer=grads["layer"].cpu(), hidden=grads["hidden"].cpu(), head=grads["head"].cpu(), ffn=grads["ffn"].cpu())
