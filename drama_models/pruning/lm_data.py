"""Turn texts into fixed-length token blocks for language-modelling losses (calibration, Sheared masks,
continued pretraining, perplexity).

Each document is tokenized without special tokens and followed by EOS; the documents are concatenated and cut
into blocks of ``seq_len`` tokens, each starting with BOS (Gemma needs BOS at position 0) followed by
``seq_len - 1`` tokens of the stream. The last partial block is dropped. No padding is ever needed.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch


def tokenize_texts(
    tokenizer, texts: Sequence[str], batch_size: int = 512, max_doc_tokens: int | None = None
) -> list[list[int]]:
    """Token ids of each text, no special tokens added (fast tokenizers batch this)."""
    out: list[list[int]] = []
    for start in range(0, len(texts), batch_size):
        enc = tokenizer(list(texts[start : start + batch_size]), add_special_tokens=False)["input_ids"]
        out.extend(ids[:max_doc_tokens] if max_doc_tokens else ids for ids in enc)
    return out


def stream_length(token_lists: Sequence[Sequence[int]], eos_id: int | None) -> int:
    return sum(len(ids) + (eos_id is not None) for ids in token_lists)


def pack_blocks(
    token_lists: Sequence[Sequence[int]],
    seq_len: int,
    bos_id: int | None,
    eos_id: int | None,
    max_blocks: int | None = None,
) -> torch.Tensor:
    """``[n_blocks, seq_len]`` LongTensor (see the module docstring)."""
    if seq_len < 2:
        raise ValueError("seq_len must be >= 2")
    body = seq_len - (bos_id is not None)
    stream: list[int] = []
    blocks: list[list[int]] = []
    for ids in token_lists:
        stream.extend(ids)
        if eos_id is not None:
            stream.append(eos_id)
        while len(stream) >= body:
            chunk, stream = stream[:body], stream[body:]
            blocks.append(([bos_id] if bos_id is not None else []) + chunk)
            if max_blocks is not None and len(blocks) >= max_blocks:
                return torch.tensor(blocks, dtype=torch.long)
    if not blocks:
        return torch.zeros(0, seq_len, dtype=torch.long)
    return torch.tensor(blocks, dtype=torch.long)


def text_blocks(tokenizer, texts: Sequence[str], seq_len: int, max_blocks: int | None = None) -> torch.Tensor:
    """Tokenize and pack in one call (stops tokenizing early once ``max_blocks`` are certain)."""
    token_lists: list[list[int]] = []
    need = None if max_blocks is None else max_blocks * seq_len
    total = 0
    step = 256
    for start in range(0, len(texts), step):
        part = tokenize_texts(tokenizer, texts[start : start + step])
        token_lists.extend(part)
        total += stream_length(part, tokenizer.eos_token_id)
        if need is not None and total >= need:
            break
    return pack_blocks(token_lists, seq_len, tokenizer.bos_token_id, tokenizer.eos_token_id, max_blocks)


def batches(blocks: torch.Tensor, batch_size: int) -> Iterator[torch.Tensor]:
    for start in range(0, len(blocks), batch_size):
        yield blocks[start : start + batch_size]
