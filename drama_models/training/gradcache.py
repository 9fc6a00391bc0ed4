"""GradCache: the gradient of a contrastive loss over a huge batch in the memory of one chunk.

Gao et al. 2021, "Scaling Deep Contrastive Learning Batch Size under Memory Limited Setup" (the method Tevatron
and DRAMA use to train with batch 2048). For a batch of queries and passages:

1. embed every chunk without autograd (activations freed at once), saving each chunk's RNG state;
2. compute the loss on the full batch of embeddings and its gradient with respect to the embeddings only;
3. for each chunk again: replay its RNG state (so dropout masks are the same as in step 1), forward with autograd,
   and backpropagate the cached embedding gradient into the parameters (``(reps * grad).sum().backward()``).

The parameter gradients equal those of the plain full-batch backward (up to float rounding); memory holds one
chunk's activations plus the ``[batch, dim]`` embeddings. Under DDP/FSDP gradient synchronisation is switched off
for every chunk but the last (``sync`` context), so gradients are all-reduced once per step.
"""
from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext

import torch
from torch.utils.checkpoint import get_device_states, set_device_states

from drama_models.training.batching import length_sorted_chunks


class RandContext:
    """Captures the CPU and CUDA RNG states at construction; ``with ctx:`` replays them (restoring after)."""

    def __init__(self, *tensors: torch.Tensor):
        self.cpu_state = torch.get_rng_state()
        self.devices, self.device_states = get_device_states(*tensors)
        self._fork = None

    def __enter__(self):
        self._fork = torch.random.fork_rng(devices=self.devices, enabled=True)
        self._fork.__enter__()
        torch.set_rng_state(self.cpu_state)
        set_device_states(self.devices, self.device_states)

    def __exit__(self, *exc):
        self._fork.__exit__(*exc)
        self._fork = None


def gradcache_step(
    encode: Callable[[dict[str, torch.Tensor]], torch.Tensor],
    query_features: dict[str, torch.Tensor],
    passage_features: dict[str, torch.Tensor],
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    chunk_size: int,
    *,
    loss_scale: float = 1.0,
    autocast: Callable[[], object] = nullcontext,
    sync: Callable[[bool], object] = lambda is_last: nullcontext(),
) -> torch.Tensor:
    """Run steps 1-3 above; parameter gradients are accumulated into ``.grad``. Returns the loss (detached).

    ``encode(features) -> [rows, d]`` is the (possibly DDP-wrapped) encoder call; ``loss_fn(q, p)`` the full-batch
    loss; ``loss_scale`` multiplies the loss before backward (the world size under cross-device negatives);
    ``autocast()`` wraps every forward; ``sync(is_last_chunk)`` wraps each chunk's forward+backward.
    """
    sides = []
    for features in (query_features, passage_features):
        chunks = length_sorted_chunks(features, chunk_size)
        states, reps = [], None
        for rows, feats in chunks:
            states.append(RandContext(*feats.values()))
            with torch.no_grad(), autocast():
                out = encode(feats)
            if reps is None:
                reps = out.new_empty((features["attention_mask"].shape[0], out.shape[1]), dtype=torch.float32)
            reps[rows] = out.float()
        sides.append((chunks, states, reps))

    q_reps = sides[0][2].detach().requires_grad_(True)
    p_reps = sides[1][2].detach().requires_grad_(True)
    loss = loss_fn(q_reps, p_reps)
    (loss * loss_scale).backward()
    grads = (q_reps.grad, p_reps.grad)

    total = sum(len(chunks) for chunks, _, _ in sides)
    done = 0
    for (chunks, states, _), grad in zip(sides, grads):
        for (rows, feats), state in zip(chunks, states):
            done += 1
            with sync(done == total):
                with state, autocast():
                    out = encode(feats)
                torch.sum(out.float() * grad[rows]).backward()
    return loss.detach()
