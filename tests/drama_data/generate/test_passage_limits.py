"""``--chunk-tokens``/``--pack-tokens`` above the limit of the ``--chunk-tokenizer``'s model, or above the LLM's
context when the prompt holds the whole passage: one clear line, nothing written."""
import json
import shutil
import subprocess
import sys

import pytest
from tiny_models import tiny_tokenizer

from drama_data.errors import ConfigError
from drama_data.generate.config import GenerateConfig
from drama_data.generate.stage import check_passage_tokens
from drama_data.token_limit import model_token_limit


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tok")
    tok = tiny_tokenizer()
    tok.model_max_length = 64
    tok.save_pretrained(folder)
    return folder


def test_limit_from_the_tokenizer_else_the_config(tok_dir, tmp_path):
    assert model_token_limit(str(tok_dir)) == 64
    other = tmp_path / "nolimit"
    shutil.copytree(tok_dir, other)
    cfg = json.loads((other / "tokenizer_config.json").read_text())
    cfg.pop("model_max_length")  # unset: HF's huge placeholder
    (other / "tokenizer_config.json").write_text(json.dumps(cfg))
    assert model_token_limit(str(other)) is None
    (other / "config.json").write_text(json.dumps({"max_position_embeddings": 128}))
    assert model_token_limit(str(other)) == 128


def test_chunk_tokens_above_the_limit_is_one_line_and_writes_nothing(tok_dir, tmp_path, small_corpus):
    out = tmp_path / "o"
    p = subprocess.run([sys.executable, "-m", "drama_data.cli.__main__", "generate", "--task", "crop", "--corpus",
                        str(small_corpus), "--output", str(out), "--chunk-tokenizer", str(tok_dir),
                        "--chunk-tokens", "100", "--no-progress"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2, p.stderr
    assert p.stderr.strip() == (f"Error: --chunk-tokens 100: above the limit of the model of --chunk-tokenizer "
                                f"{tok_dir} (64 tokens); use at most 64")
    assert not out.exists()


def test_pack_tokens_and_the_llm_context(tok_dir, tmp_path):
    base = dict(output=str(tmp_path / "o"), corpus="c.jsonl", chunk_tokenizer=str(tok_dir), chunk_tokens=32)
    check_passage_tokens(GenerateConfig.from_options(**base, task_name="crop", pack_tokens=64))
    with pytest.raises(ConfigError, match=r"^--pack-tokens 65: above the limit .* \(64 tokens\)"):
        check_passage_tokens(GenerateConfig.from_options(**base, task_name="crop", pack_tokens=65))
    words = dict(output=str(tmp_path / "o"), corpus="c.jsonl", chunk_tokens=4096, max_model_len=2048)
    with pytest.raises(ConfigError, match="the prompt holds the whole passage.*2048"):  # whole passages sent
        check_passage_tokens(GenerateConfig.from_options(**words, section_tokens=4096))
    check_passage_tokens(GenerateConfig.from_options(**words))  # sections of 256 tokens: fits
