"""Sheared-LLaMA masks: hard-concrete gates behave, a few training steps run and reach the exact target shape."""
from __future__ import annotations

import math

import pytest
import torch
from tiny_models import pruning_corpus_texts, tiny_causal_lm

from drama_models.pruning.hard_concrete import HardConcrete
from drama_models.pruning.lm_data import text_blocks
from drama_models.pruning.sheared import ShearedSettings, sheared_prune
from drama_models.pruning.slicing import slice_model
from drama_models.pruning.targets import Shape, resolve_target


def test_hard_concrete_gates():
    gate = HardConcrete((20000,), droprate_init=0.5, generator=torch.Generator().manual_seed(0))
    z = gate.sample(torch.Generator().manual_seed(1))
    assert z.min() >= 0 and z.max() <= 1
    assert (z == 0).any() and (z == 1).any()  # the stretch makes exact zeros and ones possible
    expected = float(gate.prob_nonzero().detach().mean())  # ~ sigmoid(-beta * log(0.1 / 1.1)) = 0.832 at log_alpha 0
    assert expected == pytest.approx(1 / (1 + math.exp((2 / 3) * math.log(0.1 / 1.1))), abs=0.01)
    assert float((z > 0).float().mean()) == pytest.approx(expected, abs=0.02)
    assert float(gate.deterministic().detach().mean()) == pytest.approx(0.5, abs=0.01)
    with pytest.raises(ValueError):
        HardConcrete((3,), droprate_init=1.0)


@pytest.mark.parametrize("fold", [False, True])
def test_sheared_runs_and_reaches_target(tokenizer, fold):
    model = tiny_causal_lm("gemma3", vocab_size=len(tokenizer))
    blocks = text_blocks(tokenizer, pruning_corpus_texts(), seq_len=32, max_blocks=32)
    target = resolve_target("hidden=64,ffn=128,heads=2,layers=2,kv_heads=1", Shape.from_config(model.config))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    settings = ShearedSettings(steps=12, batch_size=4, mask_lr=0.5, lambda_lr=0.5, warmup_fraction=0.5,
                               fold_scales=fold, train_weights="non-embedding")
    result = sheared_prune(model, blocks, target, settings, progress=False)
    assert len(result.history) == 12
    first, last = result.history[0], result.history[-1]
    # the targets were warmed up to the final fractions and the expected sizes moved down toward them
    assert last["target_layer"] == pytest.approx(0.5) and last["target_hidden"] == pytest.approx(0.5)
    assert last["expected_hidden"] < first["expected_hidden"] or last["expected_layer"] < first["expected_layer"]
    assert all(math.isfinite(row["lm_loss"]) for row in result.history)
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert "model.embed_tokens.weight" not in changed and any("mlp" in n for n in changed)
    sliced = slice_model(model, result.plan, result.scales)
    assert Shape.from_config(sliced.config) == target
    assert sliced.config.layer_types == [model.config.layer_types[l] for l in result.plan.layers]
    with torch.no_grad():
        assert torch.isfinite(sliced(blocks[:2]).logits).all()


def test_warm_start_from_importance_orders_the_gates(tokenizer):
    """Our optional warm start: gates start ordered by an importance ranking (planted dead parts lowest)."""
    from tiny_models import planted_model

    from drama_models.pruning.importance import activation_importance

    model = planted_model("llama", len(tokenizer))
    blocks = text_blocks(tokenizer, pruning_corpus_texts(), seq_len=32, max_blocks=16)
    scores = activation_importance(model, blocks, batch_size=8, progress=False)
    target = resolve_target("hidden=126,ffn=255,heads=2,layers=3,kv_heads=2", Shape.from_config(model.config))
    result = sheared_prune(model, blocks, target, ShearedSettings(steps=1, batch_size=4, mask_lr=1e-3, train_weights="none"),
                           progress=False, init_scores=scores)
    plan = result.plan
    assert 3 not in plan.layers and 5 not in plan.hidden
    assert 3 not in plan.heads[plan.layers.index(1)] and 7 not in plan.ffn[plan.layers.index(2)]
