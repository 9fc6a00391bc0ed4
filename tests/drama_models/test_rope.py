"""RoPE context extension: the option's spelling, what it changes in a config, and where it cannot apply."""
import pytest
import transformers
from tiny_models import tiny_config

from drama_models.rope import apply_rope_scaling, describe_rope, parse_rope_scaling


def test_parse():
    assert parse_rope_scaling("linear:4") == {"rope_type": "linear", "factor": 4.0}
    assert parse_rope_scaling({"type": "yarn", "factor": 2})["rope_type"] == "yarn"
    for bad in ("linear", "cubic:2", "linear:x", "linear:0.5"):
        with pytest.raises(ValueError, match="rope_scaling"):
            parse_rope_scaling(bad)


def test_llama_linear_and_yarn():
    cfg = tiny_config("llama", 100)
    assert "512 positions" in describe_rope(cfg)
    assert apply_rope_scaling(cfg, "linear:16") == "rope linear x16 (8192 positions)"
    assert cfg.max_position_embeddings == 8192 and cfg.rope_parameters["factor"] == 16.0
    cfg = tiny_config("qwen2", 100)
    apply_rope_scaling(cfg, "yarn:4")
    assert cfg.rope_parameters["original_max_position_embeddings"] == 512 and cfg.max_position_embeddings == 2048


def test_gemma3_scales_global_layers_only():
    cfg = tiny_config("gemma3", 100)
    text = apply_rope_scaling(cfg, "linear:8")
    assert cfg.rope_parameters["full_attention"]["rope_type"] == "linear"
    assert cfg.rope_parameters["sliding_attention"]["rope_type"] == "default"
    assert "linear x8 on full_attention" in text and "default on sliding_attention" in text


def test_absolute_positions_refused():
    cfg = transformers.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                  intermediate_size=64)
    with pytest.raises(ValueError, match="no rotary position embeddings"):
        apply_rope_scaling(cfg, "linear:2", name="bert")
