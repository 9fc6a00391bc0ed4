"""On a tiny model with planted dead structures, those are ranked lowest and removed first."""
from __future__ import annotations

import pytest
import torch
from tiny_models import planted_model
from tiny_models import pruning_corpus_texts as corpus_texts

from drama_models.pruning.importance import activation_importance, layer_loss_importance
from drama_models.pruning.lm_data import text_blocks
from drama_models.pruning.plan import PruningPlan
from drama_models.pruning.retrieval_importance import make_pairs, retrieval_importance
from drama_models.pruning.targets import Shape, resolve_target

DEAD = dict(head=(1, 3), neuron=(2, 7), channel=5, layer=3)


def _check_removed_first(model, scores):
    assert int(scores.layer.argmin()) == DEAD["layer"]
    assert int(scores.head[DEAD["head"][0]].argmin()) == DEAD["head"][1]
    assert int(scores.ffn[DEAD["neuron"][0]].argmin()) == DEAD["neuron"][1]
    assert int(scores.hidden.argmin()) == DEAD["channel"]
    src = Shape.from_config(model.config)
    # remove the fewest structures the target format allows: one layer, one head per KV group, 1 neuron, 2 channels
    plan = PruningPlan.from_scores(scores, src, resolve_target("hidden=126,ffn=255,heads=2,layers=3,kv_heads=2", src))
    assert DEAD["layer"] not in plan.layers
    assert DEAD["head"][1] not in plan.heads[plan.layers.index(DEAD["head"][0])]
    assert DEAD["neuron"][1] not in plan.ffn[plan.layers.index(DEAD["neuron"][0])]
    assert DEAD["channel"] not in plan.hidden


@pytest.mark.parametrize("family", ["llama", "gemma3"])
def test_activation_importance_finds_planted_dead_parts(family, tokenizer):
    model = planted_model(family, len(tokenizer), **DEAD)
    blocks = text_blocks(tokenizer, corpus_texts(), seq_len=32, max_blocks=16)
    scores = activation_importance(model, blocks, batch_size=8, progress=False)
    _check_removed_first(model, scores)


def test_layer_loss_metric_is_the_loss_increase(tokenizer):
    """Dropping the dead layer changes nothing; dropping another changes the loss by what we measure directly.
    (A random model has layers whose removal *lowers* the loss, so the dead one need not be the minimum.)"""
    from drama_models.pruning.masked import MaskedModel, MaskSet
    from drama_models.pruning.report import lm_loss

    model = planted_model("llama", len(tokenizer), **DEAD)
    blocks = text_blocks(tokenizer, corpus_texts(), seq_len=32, max_blocks=8)
    deltas = layer_loss_importance(model, blocks, batch_size=8, progress=False)
    assert abs(float(deltas[DEAD["layer"]])) < 1e-5
    with torch.no_grad():
        base = float(lm_loss(model, blocks))
        with MaskedModel(model, MaskSet(layer=torch.tensor([1.0, 0.0, 1.0, 1.0]))):
            without_1 = float(lm_loss(model, blocks))
    assert float(deltas[1]) == pytest.approx(without_1 - base, abs=1e-4) and abs(float(deltas[1])) > 1e-3


def test_retrieval_importance_finds_planted_dead_parts(tokenizer):
    model = planted_model("qwen2", len(tokenizer), **DEAD)
    scores = retrieval_importance(model, tokenizer, corpus_texts(), n_pairs=32, batch_size=16, max_length=48,
                                  progress=False)
    for name in ("layer", "head", "ffn", "hidden"):
        assert torch.isfinite(getattr(scores, name)).all()
    _check_removed_first(model, scores)
    # the weights are untouched and still trainable afterwards
    assert all(p.requires_grad for p in model.parameters())


def test_pairs_are_sentence_crops():
    pairs = make_pairs(["One sentence here. Another sentence there. A third one here.", "Too short."], 5, seed=1)
    assert len(pairs) == 1
    query, passage = pairs[0]
    assert query.startswith("Query: ") and query[len("Query: "):] not in passage
