"""Dense mining's encoder plug-ins: drama_models registers its DRAMA encoder and model names through the
``drama_data.encoders`` entry points (drama_data never imports it); a toy plug-in registers a kind in one place."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from importlib.metadata import EntryPoint

import numpy as np
import pytest

from drama_data.errors import ConfigError
from drama_data.mining import encoders
from drama_data.mining.dense import DenseRetriever, load_encoder
from drama_data.mining.encoders import EncoderKind, EncoderRegistry


def test_drama_data_and_cards_load_without_drama_models():
    """The modules that used to import drama_models (dense mining, the vllm backend, the model card) no longer
    do: importing them leaves drama_models unloaded."""
    code = ("import sys, drama_data.mining.dense, drama_data.mining.dense_ray, drama_data.backends.vllm, "
            "cards.model_card; print(sorted(m for m in sys.modules if m.split('.')[0] == 'drama_models'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_model_package_registers_through_entry_points():
    pytest.importorskip("drama_models.encoder")
    names = {ep.name: ep.value for ep in encoders.entry_points(group=encoders.ENTRY_POINT_GROUP)}
    assert names == {"drama": "drama_models.mining_plugin:register_mining_encoder",
                     "drama-names": "drama_models.mining_plugin:register_mining_names"}, "reinstall: pip install -e ."
    reg = EncoderRegistry()
    assert reg.names() == ("auto", "sentence-transformers", "drama") and not reg.failures
    assert reg.kinds["drama"].takes_dim and len(reg.resolvers) == 1


class _Toy:
    def __init__(self, path, **kw):
        self.path, self.kw = path, kw

    def encode_queries(self, texts):
        return np.ones((len(texts), 4), np.float32)

    encode_documents = encode_queries


def _toy_registry(monkeypatch) -> EncoderRegistry:
    reg = EncoderRegistry()
    reg._loaded = True  # no entry points: only what the test registers
    monkeypatch.setattr(encoders, "_REGISTRY", reg)
    return reg


def test_a_toy_encoder_kind_is_one_registration(tmp_path, monkeypatch):
    reg = _toy_registry(monkeypatch)
    reg.add_kind(EncoderKind("toy", load=_Toy, recognises=lambda p: (p / "toy.json").is_file()))
    reg.add_resolver(lambda name: str(tmp_path) if name == "toy-model" else None)
    (tmp_path / "toy.json").write_text("{}")
    encoder, kind = load_encoder("toy-model", batch_size=3)  # name resolved, folder recognised by --encoder auto
    assert kind == "toy" and encoder.path == str(tmp_path) and encoder.kw["batch_size"] == 3
    r = DenseRetriever(str(tmp_path), encoder_kind="toy", progress=False)
    assert r.encoder_kind == "toy" and r.settings()["encoder"] == "toy"
    with pytest.raises(ConfigError, match="--dim .* not supported by --encoder toy"):
        load_encoder(str(tmp_path), "toy", dim=2)
    with pytest.raises(ConfigError, match=r"--encoder 'drama': use auto, sentence-transformers or toy"):
        load_encoder(str(tmp_path), "drama")


def test_a_broken_plugin_is_named_not_dropped(monkeypatch, caplog):
    broken = EntryPoint("drama", "no_such_module_xyz:register", encoders.ENTRY_POINT_GROUP)
    monkeypatch.setattr(encoders, "entry_points", lambda group: [broken])
    monkeypatch.setattr(encoders, "_REGISTRY", EncoderRegistry())
    with pytest.raises(ConfigError, match=r"--encoder drama: its plug-in did not load \(no_such_module_xyz:register: "
                                          r"ModuleNotFoundError"):
        load_encoder("/tmp", "drama")
    assert "encoder plug-in drama" in caplog.text


def _drama_folder(path):
    """A folder --encoder auto gives to the DRAMA encoder (a bare llama config) that drama-models' model checks
    accept (config and tokenizer files); nothing is loaded from it."""
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (path / "tokenizer.json").write_text("{}")
    return path


def test_zoo_name_and_local_drama_folder_resolve_as_before(tmp_path, monkeypatch):
    """`--model drama-base` finds the zoo copy in $DRAMA_ZOO_DIR and `--encoder auto` picks the DRAMA encoder, as
    when dense mining imported drama_models itself; a missing path is one line naming it."""
    pytest.importorskip("drama_models.encoder")
    zoo = tmp_path / "zoo"
    folder = _drama_folder(zoo / "drama-base")
    monkeypatch.setenv("DRAMA_ZOO_DIR", str(zoo))
    monkeypatch.setattr(encoders, "_REGISTRY", EncoderRegistry())
    reg = encoders.registry()
    seen = []
    reg.kinds["drama"] = dataclasses.replace(reg.kind("drama"), load=lambda path, **kw: seen.append(path) or _Toy(path))
    assert load_encoder("drama-base")[1] == "drama" and seen == [str(folder)]
    assert load_encoder("facebook/drama-base")[1] == "drama" and seen[-1] == str(folder)
    assert load_encoder(str(folder))[1] == "drama"
    with pytest.raises(ConfigError, match="--model ./no/such/model: no such model folder"):
        load_encoder("./no/such/model")
