"""Per-family adapters: where a decoder keeps its layers, attention and MLP projections, norms and embeddings.

Module names are those of transformers 5.19 (``models/{llama,qwen2,gemma3}/modeling_*.py``):

- all three: ``model.embed_tokens``, ``model.layers[i].self_attn.{q,k,v,o}_proj``,
  ``model.layers[i].mlp.{gate,up,down}_proj``, ``model.layers[i].input_layernorm``, ``model.norm``, ``lm_head``;
- Llama / Qwen2: ``post_attention_layernorm`` is the pre-MLP norm; the attention and MLP add their
  ``o_proj`` / ``down_proj`` outputs straight to the residual stream. Qwen2 has biases on q/k/v.
- Gemma3 (text, ``model_type gemma3_text``): "sandwich" norms - ``post_attention_layernorm`` normalises the
  attention output and ``pre_feedforward_layernorm`` / ``post_feedforward_layernorm`` wrap the MLP, so the
  residual contributions are the *post* norms' outputs; RMSNorm multiplies by ``1 + weight``; ``q_norm`` /
  ``k_norm`` act over head_dim (never pruned); the embedding is scaled by ``sqrt(hidden_size)``; the config
  lists one ``layer_types`` entry (sliding / full attention) per layer, which must be sliced with the layers.

The adapter is a small frozen description; everything that walks a model goes through these accessors.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from drama_models.pruning.errors import PruningError


@dataclass(frozen=True)
class FamilyAdapter:
    """How one decoder family is laid out. See the module docstring for the names."""

    name: str
    model_types: tuple[str, ...]
    layer_norms: tuple[str, ...]  # per-layer RMSNorms over the hidden size
    input_norms: tuple[str, ...]  # the ones whose output feeds the attention / the MLP (pre-norms)
    attn_out: str  # module (inside a layer) whose output is the attention's residual contribution
    mlp_out: str  # module whose output is the MLP's residual contribution
    norm_offset: float  # RMSNorm output is x_hat * (norm_offset + weight)
    scaled_embedding: bool  # embedding output multiplied by sqrt(hidden_size)

    # --------------------------------------------------------------- where things are
    @staticmethod
    def base(model: torch.nn.Module) -> torch.nn.Module:
        """The headless decoder (``model.model`` of a ``*ForCausalLM``, or the model itself)."""
        inner = getattr(model, "model", None)
        return inner if inner is not None and hasattr(inner, "layers") else model

    def layers(self, model) -> torch.nn.ModuleList:
        return self.base(model).layers

    def embed(self, model) -> torch.nn.Embedding:
        return self.base(model).embed_tokens

    def final_norm(self, model) -> torch.nn.Module:
        return self.base(model).norm

    @staticmethod
    def lm_head(model) -> torch.nn.Linear | None:
        return getattr(model, "lm_head", None)

    @staticmethod
    def attn(layer):
        return layer.self_attn

    @staticmethod
    def mlp(layer):
        return layer.mlp

    @staticmethod
    def get(layer, dotted: str) -> torch.nn.Module:
        module = layer
        for part in dotted.split("."):
            module = getattr(module, part)
        return module

    def hidden_norms(self, layer) -> list[torch.nn.Module]:
        return [getattr(layer, name) for name in self.layer_norms]

    @staticmethod
    def norm_eps(norm: torch.nn.Module) -> float:
        for name in ("eps", "variance_epsilon"):
            if hasattr(norm, name):
                return float(getattr(norm, name))
        raise AttributeError(f"{type(norm).__name__} has no eps")

    # --------------------------------------------------------------- weight algebra
    def scale_norm_(self, norm: torch.nn.Module, scale: torch.Tensor) -> None:
        """Fold a per-channel output ``scale`` into an RMSNorm: ``(offset + w') = (offset + w) * scale``."""
        w = norm.weight.data
        new = (self.norm_offset + w.float()) * scale.float().to(w.device) - self.norm_offset
        norm.weight.data = new.to(w.dtype)

    def tied(self, model) -> bool:
        head = self.lm_head(model)
        return head is not None and head.weight is self.embed(model).weight


LLAMA = FamilyAdapter(
    name="llama",
    model_types=("llama",),
    layer_norms=("input_layernorm", "post_attention_layernorm"),
    input_norms=("input_layernorm", "post_attention_layernorm"),
    attn_out="self_attn.o_proj",
    mlp_out="mlp.down_proj",
    norm_offset=0.0,
    scaled_embedding=False,
)
QWEN2 = dataclasses.replace(LLAMA, name="qwen2", model_types=("qwen2",))  # same layout; q/k/v biases ride along
GEMMA3 = FamilyAdapter(
    name="gemma3",
    model_types=("gemma3_text",),
    layer_norms=("input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm"),
    input_norms=("input_layernorm", "pre_feedforward_layernorm"),
    attn_out="post_attention_layernorm",
    mlp_out="post_feedforward_layernorm",
    norm_offset=1.0,
    scaled_embedding=True,
)
ADAPTERS = (LLAMA, QWEN2, GEMMA3)
SUPPORTED_MODEL_TYPES = tuple(t for a in ADAPTERS for t in a.model_types)


def adapter_for(config, option: str = "--model") -> FamilyAdapter:
    """The adapter for ``config.model_type``; :class:`PruningError` naming ``option`` when unsupported."""
    model_type = getattr(config, "model_type", None)
    for adapter in ADAPTERS:
        if model_type in adapter.model_types:
            if getattr(config, "mlp_bias", False):
                raise PruningError(f"{option}: MLP biases (mlp_bias=True) are not supported")
            if getattr(config, "num_local_experts", None) or getattr(config, "num_experts", None):
                raise PruningError(f"{option}: mixture-of-experts models are not supported")
            return adapter
    archs = ", ".join(getattr(config, "architectures", None) or []) or "unknown"
    hint = ""
    if model_type == "gemma3":
        hint = " This is the multimodal Gemma 3 config; give a text-only checkpoint (model_type 'gemma3_text')."
    raise PruningError(
        f"{option}: unsupported architecture {archs} (model_type {model_type!r}). Pruning supports model types "
        f"{', '.join(SUPPORTED_MODEL_TYPES)} (Llama, Qwen2, Gemma 3 text).{hint}"
    )
