"""Slice a model to a :class:`PruningPlan`: a plain transformers checkpoint whose config matches the target.

Input: a ``*ForCausalLM`` (or headless) Llama / Qwen2 / Gemma3 model, a plan, and optionally ``scales`` (a
:class:`MaskSet` over the source whose *kept* entries are not 1, e.g. Sheared-LLaMA's deterministic mask values);
those are folded into the weights (``o_proj`` columns for heads, ``down_proj`` columns for neurons, the residual
writers / norm weights for layers and hidden channels), so the sliced model computes what the source computes
under the same masks (``masked.py``). Output: a new model of the same class; nothing else is needed to load it
(``AutoModel.from_pretrained(dir)`` reads it with no custom code).

Two exact corrections keep the function unchanged:

- Gemma3 scales embeddings by ``sqrt(hidden_size)``, which shrinks with the hidden size; the embedding rows are
  multiplied by ``c = sqrt(D_src / D_new)`` so the residual stream is the same. With tied embeddings the LM head
  then sees weights ``c`` times larger, so the final norm is divided by ``c``: logits are unchanged, the final
  hidden states are ``1/c`` of the masked model's (a uniform scale; mean-pooled, L2-normalised embeddings are
  unchanged).
- RMSNorms of the sliced model average over fewer channels; the masked model does the same (see ``masked.py``).
"""
from __future__ import annotations

import math

import torch

from drama_models.pruning.arch import FamilyAdapter, adapter_for
from drama_models.pruning.masked import MaskSet
from drama_models.pruning.plan import PruningPlan
from drama_models.pruning.targets import Shape


def pruned_config(config, plan: PruningPlan):
    """A copy of ``config`` with the target's sizes, ``head_dim`` explicit and per-layer lists sliced."""
    data = config.to_dict()
    data.pop("quantization_config", None)
    t = plan.target
    data.update(
        hidden_size=t.hidden,
        intermediate_size=t.ffn,
        num_attention_heads=t.heads,
        num_key_value_heads=t.kv_heads,
        num_hidden_layers=t.layers,
        head_dim=t.head_dim,
    )
    if isinstance(data.get("layer_types"), list):
        data["layer_types"] = [data["layer_types"][l] for l in plan.layers]
    if isinstance(data.get("max_window_layers"), int):  # Qwen2: layers below it use full attention
        data["max_window_layers"] = sum(1 for l in plan.layers if l < data["max_window_layers"])
    new = type(config).from_dict(data)
    if hasattr(config, "_attn_implementation"):
        new._attn_implementation = config._attn_implementation
    return new


def _empty_model(cls, cfg):
    """``cls(cfg)`` without spending time on random initialisation (every weight is overwritten)."""
    try:
        from transformers.initialization import no_init_weights
    except ImportError:  # older/newer transformers: plain (slower) construction
        return cls(cfg)
    with no_init_weights():
        model = cls(cfg)
    if getattr(cfg, "tie_word_embeddings", False) and hasattr(model, "tie_weights"):
        model.tie_weights()
    return model


def _rows(indices: list[int], width: int) -> torch.Tensor:
    if not indices:
        return torch.zeros(0, dtype=torch.long)
    return torch.cat([torch.arange(i * width, (i + 1) * width) for i in indices])


def _scale_out(module: torch.nn.Module, scale: torch.Tensor, a: FamilyAdapter) -> None:
    """Multiply a module's output channels by ``scale`` (a Linear's rows, or an RMSNorm's weight)."""
    if isinstance(module, torch.nn.Linear):
        module.weight.data.mul_(scale.to(module.weight.dtype)[:, None])
        if module.bias is not None:
            module.bias.data.mul_(scale.to(module.bias.dtype))
    else:
        a.scale_norm_(module, scale)


@torch.no_grad()
def slice_model(model: torch.nn.Module, plan: PruningPlan, scales: MaskSet | None = None) -> torch.nn.Module:
    """Return a new, smaller model of ``type(model)`` built from ``plan`` (see the module docstring)."""
    a = adapter_for(model.config)
    src_shape = Shape.from_config(model.config)
    if src_shape != plan.source:
        raise ValueError(f"plan was made for {plan.source.as_text()}, model is {src_shape.as_text()}")
    plan.check()
    scales = scales or MaskSet()
    dtype, dev = next(model.parameters()).dtype, next(model.parameters()).device
    cfg = pruned_config(model.config, plan)
    new = _empty_model(type(model), cfg).to(device=dev, dtype=dtype)
    if getattr(model, "generation_config", None) is not None and hasattr(new, "generation_config"):
        new.generation_config = model.generation_config
    hd, t = plan.target.head_dim, plan.target
    hid = torch.tensor(plan.hidden, dtype=torch.long, device=dev)
    z_hid = scales.hidden.to(dev)[hid].float() if scales.hidden is not None else torch.ones(t.hidden, device=dev)

    # embeddings / LM head / final norm
    c = math.sqrt(plan.source.hidden / t.hidden) if a.scaled_embedding else 1.0
    tied = a.tied(model)
    a.embed(new).weight.copy_((a.embed(model).weight[:, hid].float() * z_hid * c).to(dtype))
    head_src, head_new = a.lm_head(model), a.lm_head(new)
    if head_new is not None and not tied:
        head_new.weight.copy_(head_src.weight[:, hid])
        if getattr(head_src, "bias", None) is not None:
            head_new.bias.copy_(head_src.bias)
    elif head_new is not None and not a.tied(new):
        raise RuntimeError("the source ties its LM head to the embeddings but the new model does not")
    final_new = a.final_norm(new)
    final_new.weight.copy_(a.final_norm(model).weight[hid])
    a.scale_norm_(final_new, torch.full((t.hidden,), 1.0 / c, device=dev) if tied else z_hid)

    src_layers, new_layers = a.layers(model), a.layers(new)
    for j, l in enumerate(plan.layers):
        src, dst = src_layers[l], new_layers[j]
        s_attn, d_attn = a.attn(src), a.attn(dst)
        q_rows = _rows(plan.heads[j], hd).to(dev)
        kv_rows = _rows(plan.kv_heads[j], hd).to(dev)
        for name, rows in (("q_proj", q_rows), ("k_proj", kv_rows), ("v_proj", kv_rows)):
            s_lin, d_lin = getattr(s_attn, name), getattr(d_attn, name)
            d_lin.weight.copy_(s_lin.weight[rows][:, hid])
            if s_lin.bias is not None:
                d_lin.bias.copy_(s_lin.bias[rows])
        o_w = s_attn.o_proj.weight[hid][:, q_rows].float()
        if scales.head is not None:
            o_w = o_w * scales.head[l, plan.heads[j]].to(dev).float().repeat_interleave(hd)[None, :]
        d_attn.o_proj.weight.copy_(o_w.to(dtype))
        if s_attn.o_proj.bias is not None:
            d_attn.o_proj.bias.copy_(s_attn.o_proj.bias[hid])
        for name in ("q_norm", "k_norm"):
            if hasattr(s_attn, name):
                getattr(d_attn, name).weight.copy_(getattr(s_attn, name).weight)

        s_mlp, d_mlp = a.mlp(src), a.mlp(dst)
        neurons = torch.tensor(plan.ffn[j], dtype=torch.long, device=dev)
        for name in ("gate_proj", "up_proj"):
            getattr(d_mlp, name).weight.copy_(getattr(s_mlp, name).weight[neurons][:, hid])
        down = s_mlp.down_proj.weight[hid][:, neurons].float()
        if scales.ffn is not None:
            down = down * scales.ffn[l].to(dev)[neurons].float()[None, :]
        d_mlp.down_proj.weight.copy_(down.to(dtype))

        for s_norm, d_norm in zip(a.hidden_norms(src), a.hidden_norms(dst)):
            d_norm.weight.copy_(s_norm.weight[hid])
            if scales.hidden is not None:
                a.scale_norm_(d_norm, z_hid)
        if scales.hidden is not None:
            for writer in (d_attn.o_proj, d_mlp.down_proj):
                _scale_out(writer, z_hid, a)
        if scales.layer is not None:
            z_l = scales.layer[l].to(dev).float().expand(t.hidden)
            for name in (a.attn_out, a.mlp_out):
                _scale_out(a.get(dst, name), z_l, a)

    got = Shape.from_config(new.config)
    if got != t:
        raise RuntimeError(f"sliced config {got.as_text()} != target {t.as_text()}")
    return new
