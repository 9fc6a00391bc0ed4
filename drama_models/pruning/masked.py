"""Apply structural masks to an *unpruned* model through forward hooks (no weights are changed).

A :class:`MaskSet` holds, for a model with ``L`` layers, ``H`` query heads, ``F`` FFN neurons and hidden size
``D``: ``layer [L]``, ``head [L, H]``, ``ffn [L, F]``, ``hidden [D]`` (any may be ``None`` = all ones). Values may
be exactly 0/1 (the equivalence test, importance by ablation) or soft and differentiable (Sheared-LLaMA's
hard-concrete masks, gradient-based importance).

What each mask does (Sheared-LLaMA, Xia et al. 2024, and its released ``composer_llama.py``):

- ``head[l, h]`` scales head ``h``'s attention output before ``o_proj`` (GQA: a KV head whose query heads are
  all 0 is simply unused);
- ``ffn[l, i]`` scales neuron ``i``'s activation before ``down_proj``;
- ``layer[l]`` scales the attention and the MLP contribution to the residual stream (``o_proj`` /
  ``down_proj`` output for Llama/Qwen2, the post-norms' output for Gemma3);
- ``hidden[d]`` scales channel ``d`` of the embedding output, of every write to the residual stream and of
  every hidden-size RMSNorm output; and every such RMSNorm computes its mean square **over the kept channels
  only** (``hidden != 0``), exactly what the sliced model will compute over its smaller hidden size.

With those rules a model under 0/1 masks computes the same function as the model sliced to the kept parts
(``slicing.py`` folds any non-binary kept values into the weights), which ``tests/.../test_masked.py`` checks.
Hooks read ``masks`` at call time, so a trainer may assign a new :class:`MaskSet` before every forward.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from drama_models.pruning.arch import FamilyAdapter, adapter_for


@dataclass
class MaskSet:
    """Structural masks; see the module docstring for shapes and meaning."""

    layer: torch.Tensor | None = None
    head: torch.Tensor | None = None
    ffn: torch.Tensor | None = None
    hidden: torch.Tensor | None = None

    @classmethod
    def ones(cls, config, requires_grad: bool = False, dtype=torch.float32, device=None) -> MaskSet:
        """All-ones masks for ``config``'s shape (e.g. the gates of a first-order Taylor importance)."""
        shapes = {
            "layer": (config.num_hidden_layers,),
            "head": (config.num_hidden_layers, config.num_attention_heads),
            "ffn": (config.num_hidden_layers, config.intermediate_size),
            "hidden": (config.hidden_size,),
        }
        return cls(**{k: torch.ones(s, dtype=dtype, device=device, requires_grad=requires_grad) for k, s in shapes.items()})

    def items(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                yield f.name, value


class MaskedModel:
    """Context manager that attaches :class:`MaskSet` hooks to ``model`` (a ``*ForCausalLM`` or headless decoder).

    ``with MaskedModel(model, masks) as mm: model(...)``; ``mm.masks = other`` swaps masks between forwards.
    """

    def __init__(self, model: torch.nn.Module, masks: MaskSet | None = None, adapter: FamilyAdapter | None = None):
        self.model = model
        self.masks = masks or MaskSet()
        self.adapter = adapter or adapter_for(model.config)
        self._handles: list = []

    # ------------------------------------------------------------------ hooks
    def _scale_hidden(self, module, args, output):
        z = self.masks.hidden
        return output if z is None else output * z.to(output.device, output.dtype)

    def _norm(self, eps: float):
        def hook(module, args, output):
            z = self.masks.hidden
            if z is None:
                return output
            z = z.to(output.device)
            keep = z != 0
            n_keep = int(keep.sum())
            if n_keep == z.numel():
                return output * z.to(dtype=output.dtype)
            x2 = args[0].float().pow(2)
            ms_all = x2.mean(-1, keepdim=True)
            ms_keep = (x2 * keep).sum(-1, keepdim=True) / max(n_keep, 1)
            ratio = torch.sqrt((ms_all + eps) / (ms_keep + eps))
            return (output.float() * ratio * z.float()).to(output.dtype)

        return hook

    def _heads(self, idx: int, n_heads: int):
        def hook(module, args):
            z = self.masks.head
            if z is None:
                return None
            x = args[0]
            shape = x.shape
            x = (x.view(*shape[:-1], n_heads, shape[-1] // n_heads) * z[idx].to(x.device, x.dtype)[:, None]).view(shape)
            return (x, *args[1:])

        return hook

    def _ffn(self, idx: int):
        def hook(module, args):
            z = self.masks.ffn
            if z is None:
                return None
            return (args[0] * z[idx].to(args[0].device, args[0].dtype), *args[1:])

        return hook

    def _layer(self, idx: int):
        def hook(module, args, output):
            z = self.masks.layer
            return output if z is None else output * z[idx].to(output.device, output.dtype)

        return hook

    def attach(self) -> MaskedModel:
        if self._handles:
            return self
        a, model, reg = self.adapter, self.model, self._handles.append
        n_heads = model.config.num_attention_heads
        reg(a.embed(model).register_forward_hook(self._scale_hidden))
        for idx, layer in enumerate(a.layers(model)):
            attn, mlp = a.attn(layer), a.mlp(layer)
            reg(attn.o_proj.register_forward_pre_hook(self._heads(idx, n_heads)))
            reg(mlp.down_proj.register_forward_pre_hook(self._ffn(idx)))
            for writer in (attn.o_proj, mlp.down_proj):
                reg(writer.register_forward_hook(self._scale_hidden))
            for norm in a.hidden_norms(layer):
                reg(norm.register_forward_hook(self._norm(a.norm_eps(norm))))
            for name in (a.attn_out, a.mlp_out):
                reg(a.get(layer, name).register_forward_hook(self._layer(idx)))
        final = a.final_norm(model)
        reg(final.register_forward_hook(self._norm(a.norm_eps(final))))
        return self

    def detach(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def __enter__(self) -> MaskedModel:
        return self.attach()

    def __exit__(self, *exc) -> None:
        self.detach()
