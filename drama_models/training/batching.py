"""Tokenizing a batch of groups, and splitting tokenized batches into length-sorted chunks.

In: :class:`~drama_models.training.data.Group` lists and a :class:`~drama_models.encoder.DramaEncoder`.
Out: ``{"input_ids", "attention_mask"}`` tensors (right-padded), and chunk lists ``[(rows, features)]`` where
``rows`` are the chunk's row numbers in the batch and ``features`` are trimmed to the chunk's longest row.
Sorting by length before chunking cuts padding, which is most of the waste when passages vary in length.
"""
from __future__ import annotations

import torch


def tokenize_groups(encoder, groups, query_max_len: int, passage_max_len: int):
    """Queries (with the query prefix) and passages (document prefix), ``len(groups) * group_size`` of them."""
    queries = [encoder.query_prefix + g.query for g in groups]
    passages = [encoder.document_prefix + p for g in groups for p in g.passages]
    return encoder.tokenize(queries, query_max_len), encoder.tokenize(passages, passage_max_len)


def length_sorted_chunks(features: dict[str, torch.Tensor], chunk_size: int | None):
    """Split right-padded ``features`` into chunks of at most ``chunk_size`` rows, longest rows first, each
    trimmed to its own longest row. ``chunk_size=None`` gives one chunk with every row (in the original order)."""
    mask = features["attention_mask"]
    n = mask.shape[0]
    if chunk_size is None or chunk_size >= n:
        return [(torch.arange(n, device=mask.device), features)]
    lengths = mask.sum(dim=1)
    order = torch.argsort(lengths, descending=True, stable=True)
    chunks = []
    for start in range(0, n, chunk_size):
        rows = order[start : start + chunk_size]
        width = int(lengths[rows].max())
        chunks.append((rows, {k: v[rows, :width] for k, v in features.items()}))
    return chunks


def encode_in_chunks(encode, features: dict[str, torch.Tensor], chunk_size: int | None) -> torch.Tensor:
    """``encode(chunk_features) -> [rows, d]`` over length-sorted chunks, reassembled in the batch's row order
    (differentiable: gradients flow back into every chunk)."""
    chunks = length_sorted_chunks(features, chunk_size)
    if len(chunks) == 1:
        return encode(chunks[0][1])
    parts, rows = [], []
    for idx, feats in chunks:
        parts.append(encode(feats))
        rows.append(idx)
    reps = torch.cat(parts, dim=0)
    inverse = torch.empty_like(torch.cat(rows))
    inverse[torch.cat(rows)] = torch.arange(reps.shape[0], device=reps.device)
    return reps[inverse]
