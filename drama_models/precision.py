"""bf16 where the hardware computes it natively: :mod:`drama_data.precision`, re-exported for drama_models'
callers (the helpers live at the bottom layer so that drama_data never imports drama_models)."""
from __future__ import annotations

from drama_data.precision import CHOICES, autocast, cpu_has_native_bf16, is_choice, native_bf16, resolve_bf16

__all__ = ["CHOICES", "autocast", "cpu_has_native_bf16", "is_choice", "native_bf16", "resolve_bf16"]
