"""PromptCodec: the Rust fast path gives transformers' ids, or is not taken; decoding and streaming agree."""
import json

import pytest
from tiny_models import SAMPLE_TEXTS, tiny_tokenizer

from drama_data.backends.codec import PromptCodec, read_config, rust_matches_config

TEXTS = SAMPLE_TEXTS[:5] + ["", "  two  spaces\n\nand a blank line", "Passage: x\nQuery:", "<bos> literal"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    path = tmp_path_factory.mktemp("tok")
    tiny_tokenizer().save_pretrained(path)
    return path


def _set_flags(folder, **flags):
    cfg_path = folder / "tokenizer_config.json"
    cfg = {k: v for k, v in json.loads(cfg_path.read_text()).items() if k not in ("add_bos_token", "add_eos_token")}
    cfg_path.write_text(json.dumps({**cfg, **flags}))


def test_fast_path_only_when_the_config_pins_what_the_post_processor_does(folder):
    from tokenizers import Tokenizer

    rust = Tokenizer.from_file(str(folder / "tokenizer.json"))  # its post-processor adds <bos>
    _set_flags(folder)  # unstated: transformers decides
    assert not rust_matches_config(rust, read_config(folder / "tokenizer_config.json"))
    _set_flags(folder, add_bos_token=False)
    assert not rust_matches_config(rust, read_config(folder / "tokenizer_config.json"))
    _set_flags(folder, add_bos_token=True, add_eos_token=True)
    assert not rust_matches_config(rust, read_config(folder / "tokenizer_config.json"))
    _set_flags(folder, add_bos_token=True)
    assert rust_matches_config(rust, read_config(folder / "tokenizer_config.json"))
    assert not rust_matches_config(rust, read_config(folder / "missing.json"))


@pytest.mark.parametrize("flags", [{}, {"add_bos_token": True}])
def test_ids_and_texts_are_transformers_ones(folder, flags):
    from transformers import AutoTokenizer

    _set_flags(folder, **flags)
    codec, hf = PromptCodec(str(folder)), AutoTokenizer.from_pretrained(folder)
    for text in TEXTS:
        ids = codec.encode(text)
        assert ids == hf(text)["input_ids"] and ids[0] == hf.bos_token_id
        generated = ids[1:] + [hf.eos_token_id]
        want = hf.decode(generated, skip_special_tokens=True)
        step = codec.stream()
        assert "".join(step(t) for t in generated) == want
    assert codec._rust_encodes is bool(flags)
    assert codec.eos_token_id == hf.eos_token_id
    messages = [{"role": "user", "content": "hello"}]
    assert codec.encode_chat(messages) == list(hf.apply_chat_template(messages, add_generation_prompt=True,
                                                                       tokenize=True)["input_ids"])
