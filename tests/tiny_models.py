"""Tiny random models for tests, built offline from a transformers config and a tokenizer trained on the fly.

``tiny_tokenizer()`` trains a small byte-level BPE with ``<bos>``, ``<eos>``, ``<pad>`` and ``<unk>`` and a
minimal chat template; ``tiny_model_dir(family, path)`` writes a random model of that family (``llama``,
``qwen2``, ``gemma3``) with grouped-query attention and head_dim 64 (vLLM's CPU attention needs >= 64).
"""
from __future__ import annotations

from pathlib import Path

SAMPLE_TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Dense retrieval maps queries and passages into one vector space.",
    "Large language models generate synthetic queries for training retrievers.",
    "Photosynthesis converts light energy into chemical energy in plants.",
    "Mount Everest is the highest mountain above sea level.",
    "Die Katze sitzt auf der Matte. Der Hund schläft im Garten.",
    "猫坐在垫子上。狗在花园里睡觉。",
    "Query: what is dense retrieval? Passage: a passage about vectors.",
    "Task: find evidence. Query: does aspirin reduce fever? Language: English",
    "[1] > [2] > [3] I will provide you with 3 passages, each indicated by number identifier [].",
] * 20

CHAT_TEMPLATE = (
    "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}</{{ m['role'] }}>\n{% endfor %}"
    "{% if add_generation_prompt %}<assistant>{% endif %}"
)


def tiny_tokenizer(vocab_size: int = 512, texts: list[str] | None = None, chat_template: bool = True):
    """Train a byte-level BPE tokenizer on ``texts`` and wrap it as a ``PreTrainedTokenizerFast``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<pad>", "<bos>", "<eos>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts or SAMPLE_TEXTS, trainer=trainer)
    bos = tok.token_to_id("<bos>")
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A <bos> $B", special_tokens=[("<bos>", bos)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>", unk_token="<unk>"
    )
    if chat_template:
        fast.chat_template = CHAT_TEMPLATE
    return fast


def tiny_config(family: str, vocab_size: int, **overrides):
    """A transformers config of ``family`` with 2 layers, 4 query heads over 2 KV heads, head_dim 64."""
    import transformers

    common = dict(
        vocab_size=vocab_size,
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=64,
        max_position_embeddings=512,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
        tie_word_embeddings=True,
    )
    common.update(overrides)
    if family == "llama":
        return transformers.LlamaConfig(**common)
    if family == "qwen2":
        return transformers.Qwen2Config(**common)
    if family == "gemma3":
        common.setdefault("sliding_window", 64)
        return transformers.Gemma3TextConfig(**common)
    raise ValueError(f"unknown family {family!r}")


def tiny_model_dir(path: str | Path, family: str = "llama", seed: int = 0, tokenizer=None, **overrides) -> Path:
    """Save a random tiny ``family`` causal LM plus tokenizer into ``path`` and return it."""
    import torch
    from transformers import AutoModelForCausalLM

    path = Path(path)
    tokenizer = tokenizer or tiny_tokenizer()
    cfg = tiny_config(family, vocab_size=len(tokenizer), **overrides)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(cfg)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
