"""A model under fixed 0/1 masks computes what the sliced model computes (Llama, Qwen2, Gemma3 with GQA)."""
from __future__ import annotations

import pytest
import torch
from tiny_models import PRUNING_FAMILIES as FAMILIES
from tiny_models import tiny_causal_lm as tiny_lm

from drama_models.pruning.masked import MaskedModel
from drama_models.pruning.plan import PruningPlan, Scores
from drama_models.pruning.slicing import slice_model
from drama_models.pruning.targets import Shape, Target, resolve_target


def _random_plan(model, target: Target, seed: int) -> PruningPlan:
    g = torch.Generator().manual_seed(seed)
    src = Shape.from_config(model.config)
    scores = Scores(
        layer=torch.rand(src.layers, generator=g),
        hidden=torch.rand(src.hidden, generator=g),
        head=torch.rand(src.layers, src.heads, generator=g),
        ffn=torch.rand(src.layers, src.ffn, generator=g),
    )
    return PruningPlan.from_scores(scores, src, resolve_target(target, src))


def _inputs(seed=0, batch=2, length=24, vocab=512):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(4, vocab, (batch, length), generator=g)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("kv_heads", [1, 2])  # 1: a whole KV group dropped; 2: groups split / copied (MHA)
def test_masked_equals_sliced(family, kv_heads):
    model = tiny_lm(family)
    plan = _random_plan(model, Target(hidden=96, ffn=160, heads=2, layers=3, kv_heads=kv_heads), seed=1)
    ids = _inputs()
    with torch.no_grad(), MaskedModel(model, plan.to_masks()):
        masked = model(ids).logits
    sliced = slice_model(model, plan)
    assert Shape.from_config(sliced.config) == plan.target
    with torch.no_grad():
        out = sliced(ids).logits
    torch.testing.assert_close(out, masked, rtol=1e-4, atol=1e-4)
    with torch.no_grad():  # and the masks really change the function (the test is not vacuous)
        full = model(ids).logits
    assert (full - masked).abs().max() > 1e-2


@pytest.mark.parametrize("family", FAMILIES)
def test_soft_kept_values_are_folded(family):
    """Non-binary kept mask values (Sheared-LLaMA's deterministic masks) end up in the weights exactly."""
    model = tiny_lm(family, seed=3)
    plan = _random_plan(model, Target(hidden=112, ffn=192, heads=2, layers=3, kv_heads=1), seed=2)
    g = torch.Generator().manual_seed(0)
    masks = plan.to_masks()
    for _name, value in masks.items():
        value.mul_(0.5 + torch.rand(value.shape, generator=g))
    ids = _inputs(1)
    with torch.no_grad(), MaskedModel(model, masks):
        masked = model(ids).logits
    sliced = slice_model(model, plan, scales=masks)
    with torch.no_grad():
        out = sliced(ids).logits
    torch.testing.assert_close(out, masked, rtol=1e-4, atol=1e-4)


def test_gemma_layer_types_sliced_with_layers():
    model = tiny_lm("gemma3")
    assert model.config.layer_types == ["sliding_attention", "full_attention"] * 2
    plan = _random_plan(model, Target(hidden=128, ffn=256, heads=4, layers=2), seed=0)
    sliced = slice_model(model, plan)
    assert sliced.config.layer_types == [model.config.layer_types[l] for l in plan.layers]
    assert sliced.config.head_dim == 64
