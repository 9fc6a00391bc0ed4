"""Where engine replicas run: GPU slices per replica (too few GPUs is one line) and CPU cores per replica (whole
physical cores, engines per memory node), on a fake ``/sys`` tree; no processes."""
import os
from pathlib import Path

import pytest

from drama_data.backends.placement import _ranges, core_groups, cpu_placements, gpu_placements
from drama_data.errors import ConfigError


def test_gpu_slices_per_replica_and_too_few_gpus_is_one_line(monkeypatch):
    got = gpu_placements(2, 4, [str(i) for i in range(8)])
    assert [p.env["CUDA_VISIBLE_DEVICES"] for p in got] == ["0,1,2,3", "4,5,6,7"]
    assert got[1].describe() == "replica 1 (GPUs 4,5,6,7)"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,5,6,7")
    assert [p.env["CUDA_VISIBLE_DEVICES"] for p in gpu_placements(4, 1, ["2", "5", "6", "7"])] == ["2", "5", "6", "7"]
    with pytest.raises(ConfigError) as err:
        gpu_placements(2, 4, ["2", "5", "6", "7"])
    assert str(err.value).startswith("--data-parallel-size 2 x --tensor-parallel-size 4 needs 8 GPUs; 4 visible "
                                     "(CUDA_VISIBLE_DEVICES=2,5,6,7)")
    assert "\n" not in str(err.value)


def _fake_sys(root: Path, siblings: dict[int, str], nodes: dict[int, int]) -> Path:
    for cpu, text in siblings.items():
        d = root / f"devices/system/cpu/cpu{cpu}"
        (d / "topology").mkdir(parents=True)
        (d / "topology/thread_siblings_list").write_text(text + "\n")
        (d / f"node{nodes.get(cpu, 0)}").mkdir()
    return root


def test_cpu_replicas_get_whole_cores_and_share_their_node(monkeypatch, tmp_path):
    monkeypatch.delenv("VLLM_CPU_OMP_THREADS_BIND", raising=False)
    # 4 cores with hyper-threads (cpu k and k+4 are siblings), two memory nodes
    root = _fake_sys(tmp_path, {c: f"{c % 4},{c % 4 + 4}" for c in range(8)}, {c: c % 4 // 2 for c in range(8)})
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))
    cores = core_groups(root)
    assert cores == [(0, 4), (1, 5), (2, 6), (3, 7)]
    two = cpu_placements(2, cores, root)
    assert [p.cpus for p in two] == [(0, 4, 1, 5), (2, 6, 3, 7)]
    assert [p.env["DRAMA_ENGINES_PER_NODE"] for p in two] == ["1", "1"]  # one engine per memory node
    assert two[0].describe() == "replica 0 (CPUs 0-1,4-5)"
    four = cpu_placements(4, cores, root)
    assert [p.env["DRAMA_ENGINES_PER_NODE"] for p in four] == ["2"] * 4
    # fewer cores than replicas, or the user's own binding: not pinned, every engine sized as one of N
    unpinned = cpu_placements(3, cores[:2], root)
    assert [p.cpus for p in unpinned] == [None] * 3 and unpinned[2].env["DRAMA_ENGINES_PER_NODE"] == "3"
    monkeypatch.setenv("VLLM_CPU_OMP_THREADS_BIND", "0-1")
    assert [p.cpus for p in cpu_placements(2, cores, root)] == [None, None]
    assert _ranges([5, 0, 1, 2, 7]) == "0-2,5,7"
