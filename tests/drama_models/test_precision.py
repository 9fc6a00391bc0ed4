"""bf16 where the hardware computes it natively (drama_models.precision), and the paths that use it."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_models import tiny_model_dir, tiny_tokenizer

from drama_models import precision


def test_native_bf16_is_read_from_cpuinfo():
    assert precision.cpu_has_native_bf16("flags : fpu sse avx avx2 avx512f avx512_bf16 amx_tile")
    assert precision.cpu_has_native_bf16("Features : fp asimd bf16 i8mm")
    assert not precision.cpu_has_native_bf16("flags : fpu sse avx avx2 fma")


@pytest.mark.parametrize("native", [True, False])
def test_auto_follows_the_hardware(monkeypatch, native):
    monkeypatch.setattr("drama_data.precision.cpu_has_native_bf16", lambda cpuinfo=None: native)  # where it lives
    assert precision.resolve_bf16("auto", "cpu") is native
    assert precision.resolve_bf16("true", "cpu") is True
    assert precision.resolve_bf16(False, "cpu") is False
    from drama_models.training.config import TrainConfig

    assert TrainConfig(model="m", bf16="auto").use_bf16 is (native or torch.cuda.is_available())
    with pytest.raises(ValueError, match="`bf16`='maybe' must be auto, true or false"):
        precision.resolve_bf16("maybe", "cpu")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory.mktemp("precision") / "llama", "llama", tokenizer=tiny_tokenizer())


def test_bf16_encoding_matches_float32(tiny):
    """Autocast keeps the weights in float32: the embeddings stay within bf16 rounding of the float32 ones."""
    from drama_models.encoder import DramaEncoder

    texts = ["the quick brown fox jumps over the lazy dog", "a passage about proteins", "short"]
    exact = DramaEncoder.from_pretrained(str(tiny)).encode_documents(texts)
    enc = DramaEncoder.from_pretrained(str(tiny), bf16=True)
    assert enc.bf16 and next(enc.parameters()).dtype == torch.float32
    fast = enc.encode_documents(texts)
    assert fast.dtype == np.float32
    assert np.min(np.sum(exact * fast, axis=1)) > 0.99


def test_dense_retriever_passes_bf16_to_its_encoder(tiny):
    from drama_data.errors import ConfigError
    from drama_data.mining.dense import DenseRetriever

    r = DenseRetriever(str(tiny), encoder_kind="drama", bf16=True, progress=False)
    assert r.encoder.model.bf16 is True
    assert r.settings()["bf16"] == "true"  # part of the index cache key
    with pytest.raises(ConfigError, match="--bf16 'fast'"):
        DenseRetriever(str(tiny), bf16="fast")
