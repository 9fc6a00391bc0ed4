"""prune(): exact target shapes, loadable output (AutoModel, then our encoder), and bad input refused early."""
from __future__ import annotations

import json

import pytest
import torch

from drama_models.pruning.errors import PruningError
from drama_models.pruning.pipeline import PruneSettings, prune
from drama_models.pruning.sheared import ShearedSettings
from drama_models.pruning.targets import Shape

TARGET = "hidden=96,ffn=160,heads=2,layers=3,kv_heads=1"


def _settings(**kw):
    base = dict(seq_len=32, calibration_blocks=16, batch_size=4, progress=False)
    base.update(kw)
    return PruneSettings(**base)


@pytest.mark.parametrize("family", ["llama", "qwen2", "gemma3"])
def test_output_has_target_shape_and_loads(family, tiny_dirs, corpus_file, tmp_path):
    from transformers import AutoConfig, AutoModel

    out = tmp_path / "out"
    report = prune(str(tiny_dirs[family]), TARGET, corpus_file, out, _settings(heldout=str(corpus_file), heldout_blocks=4))
    cfg = AutoConfig.from_pretrained(out)
    assert Shape.from_config(cfg) == Shape(hidden=96, ffn=160, heads=2, kv_heads=1, layers=3, head_dim=64)
    model = AutoModel.from_pretrained(out)  # plain transformers, no custom code
    assert type(model).__name__ in ("LlamaModel", "Qwen2Model", "Gemma3TextModel")
    assert model.config.num_hidden_layers == 3 and len(model.layers) == 3
    assert report["parameters_after_pruning"]["non_embedding"] < report["parameters_before"]["non_embedding"]
    assert report["perplexity_after"] > 0 and report["perplexity_before"] > 0
    saved = json.loads((out / "pruning.json").read_text())
    assert saved["kept"]["layers"] == report["kept"]["layers"] and "timings" in saved

    encoder_mod = pytest.importorskip("drama_models.encoder")
    encoder = encoder_mod.DramaEncoder.from_pretrained(str(out))
    q = encoder.encode_queries(["what is dense retrieval?"])
    d = encoder.encode_documents(["Dense retrieval maps queries and passages into one vector space."], dim=64)
    assert q.shape == (1, 96) and d.shape == (1, 64)
    assert abs(float((torch.as_tensor(q) ** 2).sum()) - 1) < 1e-4


def test_sheared_retrieval_and_vocab_paths(tiny_dirs, corpus_file, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    sheared = _settings(method="sheared", sheared=ShearedSettings(steps=3, batch_size=4), sheared_init="activation",
                        vocab_from=str(corpus_file))
    report = prune(str(tiny_dirs["gemma3"]), TARGET, corpus_file, tmp_path / "s", sheared)
    assert report["sheared"]["last"]["step"] == 3 and report["sheared"]["init"] == "activation"
    assert report["vocabulary"]["kept"] <= report["vocabulary"]["source_vocab"]
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "s")
    tok = AutoTokenizer.from_pretrained(tmp_path / "s")
    assert model.config.vocab_size == len(tok) and Shape.from_config(model.config).layers == 3

    report = prune(str(tiny_dirs["llama"]), TARGET, corpus_file, tmp_path / "r", _settings(importance="retrieval"))
    assert report["importance"] == "retrieval" and len(report["kept"]["layers"]) == 3


@pytest.fixture()
def no_weights(monkeypatch):
    """Fail the test if prune() gets as far as loading weights."""
    import drama_models.pruning.pipeline as pipeline

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the bad input was reported")

    monkeypatch.setattr(pipeline, "load_causal_lm", refuse)


@pytest.mark.parametrize(
    "target, words",
    [
        ("hidden=256,ffn=160,heads=2,layers=3", "--target: hidden=256 is larger than the source model's 128"),
        ("hidden=96,ffn=160,heads=5,layers=3", "heads=5 is larger"),
        ("hidden=96,ffn=160,heads=2,layers=9", "layers=9 is larger"),
        ("hidden=90,ffn=160,heads=4,layers=3", "heads=4 does not divide hidden=90"),
        ("hidden=96,ffn=160,heads=4,layers=3,kv_heads=1", "4 query heads on each KV head, more than the source's 2"),
        ("hidden=96,ffn=160,heads=3,layers=3", "kv_heads cannot be derived"),
    ],
)
def test_bad_targets_are_refused_before_work(target, words, tiny_dirs, corpus_file, tmp_path, no_weights):
    with pytest.raises(PruningError) as err:
        prune(str(tiny_dirs["llama"]), target, corpus_file, tmp_path / "o", _settings())
    assert words in str(err.value)


def test_other_bad_inputs_are_refused_before_work(tiny_dirs, corpus_file, tmp_path, no_weights):
    short = tmp_path / "short.jsonl"
    short.write_text(json.dumps({"text": "A single short sentence."}) + "\n", encoding="utf-8")
    with pytest.raises(PruningError, match=r"--calibration .*too short.*needs at least 8 blocks"):
        prune(str(tiny_dirs["llama"]), TARGET, short, tmp_path / "o", _settings())
    with pytest.raises(PruningError, match="--calibration .*no such file"):
        prune(str(tiny_dirs["llama"]), TARGET, tmp_path / "nope.jsonl", tmp_path / "o", _settings())
    one_sentence = tmp_path / "flat.txt"
    one_sentence.write_text("\n".join(f"word{i} " * 40 for i in range(50)), encoding="utf-8")
    with pytest.raises(PruningError, match="--importance retrieval needs at least"):
        prune(str(tiny_dirs["llama"]), TARGET, one_sentence, tmp_path / "o", _settings(importance="retrieval"))
    with pytest.raises(PruningError, match="--method 'magic'"):
        prune(str(tiny_dirs["llama"]), TARGET, corpus_file, tmp_path / "o", _settings(method="magic"))
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "file").write_text("x")
    with pytest.raises(PruningError, match="--output .* pass --overwrite"):
        prune(str(tiny_dirs["llama"]), TARGET, corpus_file, taken, _settings())


def test_unsupported_architecture_is_refused_before_work(corpus_file, tmp_path, no_weights):
    from transformers import GPT2Config

    GPT2Config(n_layer=2, n_embd=64, n_head=2).save_pretrained(tmp_path / "gpt2")
    with pytest.raises(PruningError, match=r"--model: unsupported architecture .*gpt2.*llama, qwen2, gemma3_text"):
        prune(str(tmp_path / "gpt2"), TARGET, corpus_file, tmp_path / "o", _settings())


def test_full_target_prunes_the_vocabulary_only(tiny_dirs, corpus_file, tmp_path):
    """--target full: no calibration text, every layer/head/neuron kept with the source weights; --vocab-from
    shrinks only the embedding, and the model's hidden states on corpus text are unchanged."""
    from transformers import AutoModel, AutoTokenizer

    src = tiny_dirs["gemma3"]
    text = json.loads(corpus_file.read_text(encoding="utf-8").splitlines()[0])["text"]
    one_doc = tmp_path / "one.jsonl"
    one_doc.write_text(json.dumps({"text": text}) + "\n", encoding="utf-8")
    report = prune(str(src), "full", None, tmp_path / "v", _settings(vocab_from=str(one_doc)))
    assert report["method"] == "none (shape kept)" and report["calibration"] is None
    before, after = AutoModel.from_pretrained(src), AutoModel.from_pretrained(tmp_path / "v")
    assert Shape.from_config(after.config) == Shape.from_config(before.config)
    assert report["vocabulary"]["kept"] < report["vocabulary"]["source_vocab"] == before.config.vocab_size
    assert after.config.vocab_size == report["vocabulary"]["kept"]
    after_ne = report["parameters_after_vocabulary"]["non_embedding"]
    assert after_ne == report["parameters_before"]["non_embedding"]
    tb, ta = AutoTokenizer.from_pretrained(src), AutoTokenizer.from_pretrained(tmp_path / "v")
    with torch.no_grad():
        hb = before(**tb(text, return_tensors="pt")).last_hidden_state
        ha = after(**ta(text, return_tensors="pt")).last_hidden_state
    assert torch.allclose(hb, ha, atol=1e-5)


def test_full_target_refuses_sheared(tiny_dirs, tmp_path, no_weights):
    with pytest.raises(PruningError, match="--method sheared learns masks"):
        prune(str(tiny_dirs["llama"]), "full", None, tmp_path / "o", _settings(method="sheared"))
    with pytest.raises(PruningError, match="--calibration is needed"):
        prune(str(tiny_dirs["llama"]), TARGET, None, tmp_path / "o", _settings())
