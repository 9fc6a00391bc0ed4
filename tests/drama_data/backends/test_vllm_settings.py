"""The ``vllm`` backend's settings: ``engine_args`` reach the engine's arguments; the old name ``engine_kwargs`` still
does, with a DeprecationWarning (``make_backend``, ``build_backend``); no engine starts here."""
from __future__ import annotations

import pytest

from drama_data.backends import build_backend, make_backend
from drama_data.backends.vllm import VLLMBackend


@pytest.mark.parametrize("factory", [make_backend, build_backend])
def test_engine_args_and_the_old_engine_kwargs(tmp_path, factory):
    new = factory("vllm", str(tmp_path), engine_args={"max_num_seqs": 3}, max_model_len=512)
    assert isinstance(new, VLLMBackend) and new.engine_kwargs["max_num_seqs"] == 3
    assert new.engine_kwargs["max_model_len"] == 512
    with pytest.warns(DeprecationWarning, match="engine_args"):
        old = factory("vllm", str(tmp_path), engine_kwargs={"max_num_seqs": 5})
    assert old.engine_kwargs["max_num_seqs"] == 5
    assert new.settings.engine_args == {"max_num_seqs": 3} and new.settings.max_model_len == 512
