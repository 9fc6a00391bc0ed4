"""Parameter counts (embedding vs. non-embedding, tied heads counted once) and perplexity."""
from __future__ import annotations

import math

import torch
from tiny_models import pruning_corpus_texts, tiny_causal_lm

from drama_models.pruning.lm_data import pack_blocks, text_blocks
from drama_models.pruning.report import parameter_counts, perplexity


def test_parameter_counts_tied_and_untied():
    tied = parameter_counts(tiny_causal_lm("llama", tie_word_embeddings=True))
    untied = parameter_counts(tiny_causal_lm("llama", tie_word_embeddings=False))
    assert tied["embedding"] == 512 * 128 and untied["embedding"] == 2 * 512 * 128
    assert tied["non_embedding"] == untied["non_embedding"]
    assert tied["total"] == tied["embedding"] + tied["non_embedding"]


def test_perplexity_is_exp_of_mean_nll(tokenizer):
    model = tiny_causal_lm("qwen2", vocab_size=len(tokenizer))
    blocks = text_blocks(tokenizer, pruning_corpus_texts(), seq_len=16, max_blocks=6)
    with torch.no_grad():
        logits = model(blocks).logits[:, :-1]
        nll = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), blocks[:, 1:].reshape(-1))
    assert math.isclose(perplexity(model, blocks, batch_size=4, progress=False), math.exp(float(nll)), rel_tol=1e-5)


def test_blocks_start_with_bos_and_separate_documents_with_eos():
    blocks = pack_blocks([[5, 6, 7], [8, 9]], seq_len=4, bos_id=1, eos_id=2)
    assert blocks.tolist() == [[1, 5, 6, 7], [1, 2, 8, 9]]  # the last partial block ([2]) is dropped
    assert pack_blocks([[5]], seq_len=4, bos_id=1, eos_id=2).shape == (0, 4)
