"""GradCache gives the loss and gradients of the plain full-batch computation."""
import pytest
import torch
from tiny_models import one_torch_thread, tiny_model_dir, tiny_tokenizer  # noqa: F401

from drama_models.encoder import DramaEncoder
from drama_models.training.batching import encode_in_chunks, length_sorted_chunks
from drama_models.training.gradcache import RandContext, gradcache_step
from drama_models.training.losses import build_loss

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see tiny_models.one_torch_thread

QUERIES = [f"Query: question number {i} about {w}" for i, w in enumerate(
    ["dogs", "energy", "the mountain", "plants and light", "retrieval", "fever", "Paris", "vectors"])]
PASSAGES = [
    f"passage {i}: " + " ".join(["some words"] * (1 + (i * 7) % 11)) for i in range(len(QUERIES) * 3)
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory.mktemp("gc") / "llama", "llama", tokenizer=tiny_tokenizer())


def _grads(enc):
    return {n: p.grad.clone() for n, p in enc.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("matryoshka", [None, [128, 32]])
def test_gradcache_equals_full_batch(model_dir, matryoshka):
    enc = DramaEncoder.from_pretrained(model_dir)
    enc.train()
    loss_fn = build_loss(0.05, matryoshka_dims=matryoshka)
    q, p = enc.tokenize(QUERIES), enc.tokenize(PASSAGES)

    plain = loss_fn(enc.encode(q), enc.encode(p))
    plain.backward()
    reference = _grads(enc)
    enc.zero_grad(set_to_none=True)

    cached = gradcache_step(enc.encode, q, p, loss_fn, chunk_size=5)
    got = _grads(enc)
    assert cached.item() == pytest.approx(plain.item(), abs=1e-5)
    assert reference.keys() == got.keys() and len(got) > 10
    for name, g in reference.items():
        torch.testing.assert_close(got[name], g, atol=2e-5, rtol=1e-3, msg=name)


def test_rng_replay_gives_same_dropout_masks(model_dir):
    """With dropout on, GradCache's re-forward must see the masks of its first pass: compare with a chunked
    full-graph computation that draws the same random numbers in the same order."""
    enc = DramaEncoder.from_pretrained(model_dir)
    enc.backbone.config.attention_dropout = 0.3
    for layer in enc.backbone.layers:
        layer.self_attn.attention_dropout = 0.3
    enc.train()
    loss_fn = build_loss(0.05)
    q, p = enc.tokenize(QUERIES), enc.tokenize(PASSAGES)

    torch.manual_seed(123)
    ref = loss_fn(encode_in_chunks(enc.encode, q, 5), encode_in_chunks(enc.encode, p, 5))
    ref.backward()
    reference = _grads(enc)
    enc.zero_grad(set_to_none=True)

    torch.manual_seed(123)
    cached = gradcache_step(enc.encode, q, p, loss_fn, chunk_size=5)
    assert cached.item() == pytest.approx(ref.item(), abs=1e-5)
    for name, g in reference.items():
        torch.testing.assert_close(_grads(enc)[name], g, atol=2e-5, rtol=1e-3, msg=name)

    torch.manual_seed(7)
    state = RandContext()
    a = torch.rand(3)
    with state:
        b = torch.rand(3)
    assert torch.equal(a, b)


def test_length_sorted_chunks_trim_padding_and_cover_every_row():
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0], [1, 1, 1, 0]])
    feats = {"input_ids": torch.arange(16).reshape(4, 4), "attention_mask": mask}
    chunks = length_sorted_chunks(feats, 2)
    assert [c[0].tolist() for c in chunks] == [[1, 3], [0, 2]]
    assert [c[1]["input_ids"].shape[1] for c in chunks] == [4, 2]
    out = encode_in_chunks(lambda f: f["input_ids"][:, :1].float(), feats, 2)
    assert out.squeeze(1).tolist() == [0.0, 4.0, 8.0, 12.0]
