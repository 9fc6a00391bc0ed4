"""Family adapters: the modules they name exist in transformers' Llama / Qwen2 / Gemma3; others are refused."""
from __future__ import annotations

import pytest
from tiny_models import PRUNING_FAMILIES, tiny_causal_lm

from drama_models.pruning.arch import adapter_for
from drama_models.pruning.errors import PruningError


@pytest.mark.parametrize("family", PRUNING_FAMILIES)
def test_adapter_names_exist(family):
    model = tiny_causal_lm(family)
    a = adapter_for(model.config)
    layer = a.layers(model)[0]
    for name in (*a.layer_norms, a.attn_out, a.mlp_out, "self_attn.q_proj", "mlp.gate_proj"):
        assert a.get(layer, name) is not None
    assert a.tied(model) and a.base(model) is model.model and a.base(model.model) is model.model
    assert (a.name == "qwen2") == (a.attn(layer).q_proj.bias is not None)


def test_unsupported_and_multimodal_configs():
    from transformers import BertConfig, Gemma3Config

    with pytest.raises(PruningError, match="--model: unsupported architecture .*'bert'"):
        adapter_for(BertConfig())
    with pytest.raises(PruningError, match="text-only checkpoint"):
        adapter_for(Gemma3Config())
