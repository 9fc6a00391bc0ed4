"""bf16 helpers at the bottom layer (drama_data.precision); drama_models.precision is the same functions."""
from __future__ import annotations

import pytest

from drama_data import precision


def test_choices_and_cpuinfo_without_torch():
    assert precision.cpu_has_native_bf16("flags : fpu avx512_bf16") and not precision.cpu_has_native_bf16("flags : avx2")
    assert precision.is_choice("Auto") and precision.is_choice(True) and not precision.is_choice("fast")
    assert precision.resolve_bf16("false", "cpu") is False
    with pytest.raises(ValueError, match="`bf16`='fast' must be auto, true or false"):
        precision.resolve_bf16("fast", "cpu")


def test_drama_models_reexports_the_same_helpers():
    models_precision = pytest.importorskip("drama_models.precision")
    for name in ("CHOICES", "autocast", "cpu_has_native_bf16", "is_choice", "native_bf16", "resolve_bf16"):
        assert getattr(models_precision, name) is getattr(precision, name)
