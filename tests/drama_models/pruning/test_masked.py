"""Mask hooks: all-ones masks change nothing, hooks come off cleanly, soft masks carry gradients."""
from __future__ import annotations

import pytest
import torch
from tiny_models import tiny_causal_lm

from drama_models.pruning.masked import MaskedModel, MaskSet


@pytest.mark.parametrize("family", ["llama", "gemma3"])
def test_ones_are_identity_and_detach_restores(family):
    model = tiny_causal_lm(family)
    ids = torch.randint(4, 512, (2, 16), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = model(ids).logits
        with MaskedModel(model, MaskSet.ones(model.config)):
            same = model(ids).logits
        with MaskedModel(model, MaskSet(layer=torch.zeros(4))):
            no_layers = model(ids).logits
        after = model(ids).logits
    torch.testing.assert_close(same, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(after, ref, rtol=0, atol=0)
    assert (no_layers - ref).abs().max() > 1e-2


def test_soft_masks_get_gradients():
    model = tiny_causal_lm("qwen2")
    gates = MaskSet.ones(model.config, requires_grad=True)
    ids = torch.randint(4, 512, (2, 16), generator=torch.Generator().manual_seed(1))
    with MaskedModel(model, gates):
        model(ids).logits.pow(2).mean().backward()
    for name, value in gates.items():
        assert value.grad is not None and value.grad.abs().sum() > 0, name
