"""Long-document collections evaluated whole: read each document up to the encoder's limit and say what is cut.

``evaluate --data DIR --whole-documents`` (no chunking) sets ``--max-length`` to the model's context limit
(:func:`context_limit`: ``max_position_embeddings``, less RoBERTa's padding offset; ``--max-length`` still wins
when given) and, before the model loads, states the truncation per folder (:func:`truncation_report`): how many
documents are longer than that, in the model's own tokens (special tokens included), and the longest one.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


def _config_and_tokenizer(model: str):
    from transformers import AutoConfig, AutoTokenizer

    from drama_models.encoder import _sentence_transformers_settings

    sub = _sentence_transformers_settings(str(model)).get("subfolder", "")
    return AutoConfig.from_pretrained(str(model), subfolder=sub), AutoTokenizer.from_pretrained(str(model),
                                                                                                 subfolder=sub)


def context_limit(config) -> int | None:
    """What :attr:`DramaEncoder.context_limit` says, from a config alone."""
    limit = getattr(config, "max_position_embeddings", None)
    if limit and getattr(config, "model_type", "") in ("roberta", "xlm-roberta", "camembert"):
        limit -= (getattr(config, "pad_token_id", 1) or 1) + 1
    return int(limit) if limit else None


def truncation_report(tokenizer, texts: list[str], max_length: int, extra_tokens: int = 0) -> dict:
    """``{"documents", "truncated", "max_length", "longest", "median"}``: token counts of ``texts`` (plus
    ``extra_tokens`` the encoder adds, e.g. BOS/EOS) against ``max_length``."""
    lengths = np.array([len(ids) + extra_tokens for ids in tokenizer(
        texts, add_special_tokens=True, truncation=False, return_attention_mask=False,
        return_token_type_ids=False)["input_ids"]], dtype=np.int64) if texts else np.zeros(0, dtype=np.int64)
    return {"documents": int(len(lengths)), "truncated": int((lengths > max_length).sum()),
            "max_length": int(max_length), "longest": int(lengths.max()) if len(lengths) else 0,
            "median": int(np.median(lengths)) if len(lengths) else 0}


def whole_documents(model: str, folders: list[str], max_length: int | None = None) -> tuple[int, list[str]]:
    """The length to read (``max_length`` or the model's limit) and one line per folder stating the truncation."""
    from drama_models.beir import find_corpus_file, join_title, read_corpus

    config, tokenizer = _config_and_tokenizer(model)
    limit = context_limit(config)
    read = int(max_length or limit or tokenizer.model_max_length)
    decoder = getattr(config, "model_type", "") in ("llama", "qwen2", "gemma3_text")
    extra = 1 if decoder and tokenizer.eos_token else 0  # the encoder appends EOS to decoder inputs
    lines = []
    for folder in folders:
        corpus = read_corpus(find_corpus_file(Path(folder)))
        texts = [join_title(d.get("title", ""), d.get("text", "")) for d in corpus.values()]
        r = truncation_report(tokenizer, texts, read, extra)
        lines.append(f"whole documents: {Path(folder).name}: {r['truncated']} of {r['documents']} documents are "
                     f"longer than {read} tokens and are truncated there (model limit {limit}; longest "
                     f"{r['longest']}, median {r['median']} tokens)")
    return read, lines
