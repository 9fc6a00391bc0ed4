"""Shared fixtures for the pruning tests (tiny random Llama / Qwen2 / Gemma3 models with GQA, tiny corpora)."""
from __future__ import annotations

import json

import pytest
import torch
from tiny_models import PRUNING_FAMILIES, tiny_causal_lm, tiny_tokenizer
from tiny_models import pruning_corpus_texts as corpus_texts


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models run fastest on one thread, and the test machine's cores are shared."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tokenizer():
    return tiny_tokenizer()


@pytest.fixture(scope="session")
def corpus_file(tmp_path_factory):
    """A .jsonl corpus in BEIR's corpus format."""
    path = tmp_path_factory.mktemp("corpus") / "corpus.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for i, text in enumerate(corpus_texts()):
            f.write(json.dumps({"_id": str(i), "title": "", "text": text}) + "\n")
    return path


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory, tokenizer):
    """Saved tiny causal LMs (with tokenizer) per family."""
    out = {}
    for family in PRUNING_FAMILIES:
        path = tmp_path_factory.mktemp(f"tiny-{family}")
        tiny_causal_lm(family, vocab_size=len(tokenizer)).save_pretrained(path)
        tokenizer.save_pretrained(path)
        out[family] = path
    return out
