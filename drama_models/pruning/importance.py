"""Activation-based importance of layers, hidden channels, attention heads and FFN neurons (Minitron).

Minitron (Muralidharan et al. 2024, "Compact Language Models via Pruning and Knowledge Distillation") ranks
width by activations on a small calibration set (they use 1024 samples) with forward passes only, aggregating
over the sequence with the mean and over the batch with the L2 norm (the combination they found best). We follow
that, measured on packed calibration blocks:

- hidden channel ``d``: over the outputs of the norms that feed computation - each layer's pre-attention and
  pre-MLP norm and the final norm (Minitron's "LayerNorm outputs" of a pre-LN transformer) -
  ``sqrt(sum_b (mean_s |a_bsd|)^2)``, summed over the norms. Gemma-3's *post*-norms are left out: they normalise
  what a block writes, not what the residual stream carries, and including them made the choice much worse
  (Gemma-3-270M, 640 -> 512 channels: held-out perplexity 3806 with them, 262 without; source 19.7);
- head ``h`` of layer ``l``: the L2 norm of the head's contribution *after* ``o_proj``,
  ``||a_h W_o[:, h]^T||`` per token (Minitron uses the head output; including ``o_proj`` also sees a head whose
  output projection is dead), aggregated the same way;
- FFN neuron ``i``: ``|a_i| * ||W_down[:, i]||`` per token (the neuron's contribution size), same aggregation;
- layer ``l`` (``layer_metric="bi"``): Block Influence, ``1 - cos(x_in, x_out)`` averaged over tokens (Men et
  al. 2024, "ShortGPT"; Minitron's depth ranking uses it alongside LM loss); ``layer_metric="loss"``: the increase
  of the calibration LM loss when the layer alone is removed (one extra pass per layer).

Input: a causal LM and calibration blocks ``[N, seq_len]`` (``lm_data.py``). Output: :class:`plan.Scores`.
"""
from __future__ import annotations

import torch
from tqdm.auto import tqdm

from drama_models.pruning.arch import adapter_for
from drama_models.pruning.lm_data import batches
from drama_models.pruning.masked import MaskedModel, MaskSet
from drama_models.pruning.plan import Scores
from drama_models.pruning.report import lm_loss

LAYER_METRICS = ("bi", "loss")


class _Accumulator:
    """Sum over sequences of (per-sequence mean over tokens)^2, for the L2-over-batch aggregation."""

    def __init__(self):
        self.sq: torch.Tensor | None = None

    def add(self, per_token: torch.Tensor) -> None:  # [B, S, K]
        per_seq = per_token.float().mean(dim=1)
        value = per_seq.pow(2).sum(dim=0)
        self.sq = value if self.sq is None else self.sq + value

    def result(self) -> torch.Tensor:
        return self.sq.sqrt()


@torch.no_grad()
def activation_importance(
    model, blocks: torch.Tensor, batch_size: int = 4, layer_metric: str = "bi", progress: bool = True
) -> Scores:
    """Minitron-style :class:`Scores` for ``model`` on ``blocks`` (see the module docstring)."""
    if layer_metric not in LAYER_METRICS:
        raise ValueError(f"layer_metric must be one of {LAYER_METRICS}, got {layer_metric!r}")
    a = adapter_for(model.config)
    cfg = model.config
    n_heads = cfg.num_attention_heads
    device = next(model.parameters()).device
    layers = a.layers(model)
    hidden_acc: list[_Accumulator] = []
    head_acc = [_Accumulator() for _ in layers]
    ffn_acc = [_Accumulator() for _ in layers]
    bi_sum = torch.zeros(len(layers), dtype=torch.float64)
    bi_count = [0]
    handles = []

    def norm_hook(acc):
        def hook(module, args, output):
            acc.add(output.abs())

        return hook

    def head_hook(idx, layer):
        o_w = a.attn(layer).o_proj.weight.float()  # [D, H*hd]
        hd = o_w.shape[1] // n_heads
        w = o_w.view(o_w.shape[0], n_heads, hd)
        gram = torch.einsum("dhi,dhj->hij", w, w)  # W_h^T W_h per head

        def hook(module, args):
            x = args[0].float()
            x = x.view(*x.shape[:-1], n_heads, hd)
            sq = torch.einsum("bshi,hij,bshj->bsh", x, gram.to(x.device), x).clamp_min(0)
            head_acc[idx].add(sq.sqrt())

        return hook

    def ffn_hook(idx, layer):
        col_norm = a.mlp(layer).down_proj.weight.float().norm(dim=0)  # [F]

        def hook(module, args):
            ffn_acc[idx].add(args[0].float().abs() * col_norm.to(args[0].device))

        return hook

    def bi_hook(idx):
        def hook(module, args, kwargs, output):
            x_in = args[0] if args else kwargs["hidden_states"]
            x_out = output[0] if isinstance(output, tuple) else output
            cos = torch.nn.functional.cosine_similarity(x_in.float(), x_out.float(), dim=-1)
            bi_sum[idx] += float((1 - cos).mean()) * len(x_in)
            if idx == 0:
                bi_count[0] += len(x_in)

        return hook

    for idx, layer in enumerate(layers):
        for name in a.input_norms:
            norm = getattr(layer, name)
            hidden_acc.append(_Accumulator())
            handles.append(norm.register_forward_hook(norm_hook(hidden_acc[-1])))
        handles.append(a.attn(layer).o_proj.register_forward_pre_hook(head_hook(idx, layer)))
        handles.append(a.mlp(layer).down_proj.register_forward_pre_hook(ffn_hook(idx, layer)))
        handles.append(layer.register_forward_hook(bi_hook(idx), with_kwargs=True))
    hidden_acc.append(_Accumulator())
    handles.append(a.final_norm(model).register_forward_hook(norm_hook(hidden_acc[-1])))
    base = a.base(model)
    was_training = model.training
    model.train(False)  # inference mode (nn.Module.eval)
    try:
        for batch in tqdm(list(batches(blocks, batch_size)), desc="importance (activations)", disable=not progress):
            base(input_ids=batch.to(device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)

    if layer_metric == "bi":
        layer_scores = (bi_sum / max(bi_count[0], 1)).float()
    else:
        layer_scores = layer_loss_importance(model, blocks, batch_size, progress)
    return Scores(
        layer=layer_scores,
        hidden=torch.stack([acc.result() for acc in hidden_acc]).sum(0).cpu(),
        head=torch.stack([acc.result() for acc in head_acc]).cpu(),
        ffn=torch.stack([acc.result() for acc in ffn_acc]).cpu(),
    )


@torch.no_grad()
def layer_loss_importance(model, blocks: torch.Tensor, batch_size: int = 4, progress: bool = True) -> torch.Tensor:
    """Increase of the LM loss on ``blocks`` when each layer alone is dropped (``[L]``, higher = keep)."""
    n = model.config.num_hidden_layers
    device = next(model.parameters()).device

    def mean_loss() -> float:
        losses = [float(lm_loss(model, b.to(device))) * len(b) for b in batches(blocks, batch_size)]
        return sum(losses) / len(blocks)

    base = mean_loss()
    deltas = torch.zeros(n)
    with MaskedModel(model) as mm:
        for l in tqdm(range(n), desc="importance (layer drop loss)", disable=not progress):
            z = torch.ones(n, device=device)
            z[l] = 0
            mm.masks = MaskSet(layer=z)
            deltas[l] = mean_loss() - base
    return deltas
