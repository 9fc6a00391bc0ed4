"""Target parsing and checks against the source shape (all before any work)."""
from __future__ import annotations

import pytest

from drama_models.pruning.errors import PruningError
from drama_models.pruning.targets import NAMED_TARGETS, Shape, Target, parse_target, resolve_target

LLAMA_1B = Shape(hidden=2048, ffn=8192, heads=32, kv_heads=8, layers=16, head_dim=64)  # Llama-3.2-1B
GEMMA_270M = Shape(hidden=640, ffn=2048, heads=4, kv_heads=1, layers=18, head_dim=256)


def test_parse_spec_and_named():
    assert parse_target("hidden=768, ffn=3072,heads=12,layers=12") == Target(768, 3072, 12, 12)
    assert parse_target("hidden=64,ffn=128,heads=2,layers=2,kv_heads=1").kv_heads == 1
    assert parse_target("DRAMA-0.1b") is NAMED_TARGETS["drama-0.1b"]


@pytest.mark.parametrize(
    "spec, words",
    [
        ("tiny", "not a named target"),
        ("hidden=768,ffn=3072,heads=12", "missing layers"),
        ("hidden=768,ffn=3072,heads=12,layers=12,depth=3", "unknown entry"),
        ("hidden=7.5,ffn=3072,heads=12,layers=12", "not an integer"),
        ("hidden=0,ffn=3072,heads=12,layers=12", ">= 1"),
        ("hidden=1,hidden=2,ffn=3,heads=1,layers=1", "given twice"),
    ],
)
def test_parse_errors_name_the_option(spec, words):
    with pytest.raises(PruningError, match="--target") as err:
        parse_target(spec)
    assert words in str(err.value)


def test_drama_targets_from_llama_1b():
    """DRAMA-0.1B: 768 / 3072 / 12 heads / 12 layers; 12 KV heads (MHA, as facebook/drama-base); head_dim 64."""
    small = resolve_target("drama-0.1b", LLAMA_1B)
    assert small == Shape(hidden=768, ffn=3072, heads=12, kv_heads=12, layers=12, head_dim=64)
    assert small.hidden // small.heads == small.head_dim
    large = resolve_target("drama-0.3b", LLAMA_1B)
    assert (large.hidden, large.ffn, large.heads, large.layers) == (1024, 4096, 16, 16)
    # default kv_heads keeps the source's 4 query heads per KV head
    assert resolve_target("hidden=768,ffn=3072,heads=12,layers=12", LLAMA_1B).kv_heads == 3


def test_head_dim_is_kept_even_when_hidden_over_heads_differs():
    shape = resolve_target("hidden=320,ffn=1024,heads=2,layers=9,kv_heads=1", GEMMA_270M)
    assert shape.head_dim == 256 and shape.hidden // shape.heads == 160


@pytest.mark.parametrize(
    "spec, words",
    [
        ("hidden=4096,ffn=3072,heads=12,layers=12", "hidden=4096 is larger than the source"),
        ("hidden=768,ffn=9000,heads=12,layers=12", "ffn=9000 is larger"),
        ("hidden=768,ffn=3072,heads=48,layers=12", "heads=48 is larger"),
        ("hidden=768,ffn=3072,heads=12,layers=17", "layers=17 is larger"),
        ("hidden=770,ffn=3072,heads=12,layers=12", "does not divide hidden=770"),
        ("hidden=768,ffn=3072,heads=12,layers=12,kv_heads=5", "kv_heads=5 does not divide heads=12"),
        ("hidden=768,ffn=3072,heads=12,layers=12,kv_heads=2", "6 query heads on each KV head, more than the source's 4"),
        ("hidden=768,ffn=3072,heads=6,layers=12", "cannot be derived"),
    ],
)
def test_bad_targets(spec, words):
    with pytest.raises(PruningError) as err:
        resolve_target(spec, LLAMA_1B)
    assert words in str(err.value) and "--target" in str(err.value)


def test_kv_heads_cannot_exceed_what_groups_supply():
    src = Shape(hidden=128, ffn=256, heads=4, kv_heads=2, layers=4, head_dim=64)
    assert resolve_target("hidden=128,ffn=256,heads=4,layers=4,kv_heads=4", src).kv_heads == 4  # MHA by copying
    odd = Shape(hidden=384, ffn=256, heads=6, kv_heads=2, layers=4, head_dim=64)  # groups of 3 query heads
    with pytest.raises(PruningError, match="does not fit the source's 2 KV groups of 3") as err:
        resolve_target("hidden=384,ffn=256,heads=6,layers=4,kv_heads=3", odd)  # 3 groups of 2 out of 2 groups of 3
    assert "valid kv_heads for heads=6: [2, 6]" in str(err.value)


def test_full_target_is_the_source_shape():
    src = Shape(hidden=640, ffn=2048, heads=4, kv_heads=1, layers=18, head_dim=256)
    assert parse_target("full").keeps_shape and parse_target("FULL").as_text() == "full"
    assert resolve_target("full", src) == src
    assert not parse_target("drama-0.1b").keeps_shape
