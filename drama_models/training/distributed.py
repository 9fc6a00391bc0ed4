"""Everything multi-process for ``torchrun`` (DDP / FSDP2), in one place, for both training loops' objectives.

- ``setup()`` reads torchrun's environment (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``) and returns a
  :class:`DistInfo`; with one process it does nothing, so the same code runs under ``python`` and under
  ``torchrun --nproc_per_node N``. NCCL on CUDA, gloo on CPU.
- ``wrap(module, info, fsdp=..., blocks=...)`` -> the module the forward runs through: itself (one process),
  DDP, or FSDP2 (``fully_shard`` on each transformer block, then on the whole).
- ``gather_across_devices`` / ``backward_scale``: negatives shared across ranks (used by the contrastive losses);
  ``grad_sync``: gradient all-reduce on or off for one backward (GradCache's chunks).
"""
from __future__ import annotations

import os
from contextlib import nullcontext
from dataclasses import dataclass, field

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def setup() -> DistInfo:
    """Initialise the default process group when launched by torchrun with more than one process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        device = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistInfo(rank, world, local, device)


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def wrap(module: torch.nn.Module, info: DistInfo, *, fsdp: bool = False, bf16: bool = False,
         blocks: list[torch.nn.Module] | None = None) -> torch.nn.Module:
    """The module to run forward through: ``module`` itself with one process, DDP with several, or (``fsdp``)
    ``module`` sharded in place with FSDP2, each of ``blocks`` (transformer layers) its own unit, parameters in
    bf16 with float32 gradient reduction when ``bf16``. ``fsdp`` with one process raises ``ValueError``."""
    if fsdp:
        if not info.enabled:
            raise ValueError("option `fsdp` needs torchrun with more than one process")
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        mesh = init_device_mesh(info.device.type, (info.world_size,))
        mp = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) if bf16 else None
        kwargs = {"mesh": mesh, **({"mp_policy": mp} if mp else {})}
        for block in blocks or []:
            fully_shard(block, **kwargs)
        fully_shard(module, **kwargs)
        return module
    if info.enabled:
        return torch.nn.parallel.DistributedDataParallel(
            module, device_ids=[info.local_rank] if info.device.type == "cuda" else None
        )
    return module


def transformer_blocks(backbone: torch.nn.Module) -> list[torch.nn.Module]:
    """The repeated layers of a Hugging Face backbone (``layers``, ``encoder.layer`` or ``layer``), for FSDP."""
    for attr in ("layers", "encoder.layer", "layer"):
        obj = backbone
        for part in attr.split("."):
            obj = getattr(obj, part, None)
        if isinstance(obj, torch.nn.ModuleList):
            return list(obj)
    return []


def grad_sync(model: torch.nn.Module, enabled: bool):
    """A context in which backward does (``enabled``) or does not all-reduce gradients (DDP ``no_sync`` / FSDP2)."""
    if isinstance(model, torch.nn.parallel.DistributedDataParallel):
        return nullcontext() if enabled else model.no_sync()
    if hasattr(model, "set_requires_gradient_sync"):  # FSDP2 (fully_shard)
        model.set_requires_gradient_sync(enabled)
    return nullcontext()


def distributed_ready() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def gather_across_devices(t: torch.Tensor) -> torch.Tensor:
    """All ranks' ``t`` concatenated in rank order; this rank's slice is ``t`` itself (keeps its gradient).

    Every rank must pass a tensor of the same shape. Without an initialised process group, returns ``t``.
    """
    if not distributed_ready():
        return t
    parts = [torch.empty_like(t) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, t.detach().contiguous())
    parts[dist.get_rank()] = t
    return torch.cat(parts, dim=0)


def backward_scale(cross_device: bool) -> float:
    """Factor to multiply a gathered (global) loss by before ``backward`` under DDP: the world size."""
    return float(dist.get_world_size()) if cross_device and distributed_ready() else 1.0
