"""Continued pretraining: loss goes down, checkpoints are written, an interrupted run resumes exactly."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from drama_models.pruning.errors import PruningError
from drama_models.pruning.pretrain import PretrainSettings, latest_checkpoint, pretrain


def _settings(**kw):
    base = dict(steps=4, batch_size=2, seq_len=32, lr=1e-3, save_every=2, keep_checkpoints=5, progress=False)
    base.update(kw)
    return PretrainSettings(**base)


def test_interrupted_run_resumes_to_the_same_weights(tiny_dirs, corpus_file, tmp_path):
    src = tiny_dirs["llama"]
    straight = pretrain(str(src), corpus_file, tmp_path / "a", _settings(heldout_docs=20))
    assert straight["finished"] and len(straight["history"]) == 4
    assert straight["heldout_perplexity_after"] < straight["heldout_perplexity_before"]
    assert (tmp_path / "a" / "checkpoint-2" / "trainer_state.pt").is_file()

    part = pretrain(str(src), corpus_file, tmp_path / "b", _settings(heldout_docs=20, stop_after=3))
    assert part == {"finished": False, "step": 3, "steps": 4}
    assert latest_checkpoint(tmp_path / "b").name == "checkpoint-3"
    resumed = pretrain(str(src), corpus_file, tmp_path / "b", _settings(heldout_docs=20))
    assert resumed["finished"]
    assert [h["loss"] for h in resumed["history"]] == pytest.approx([h["loss"] for h in straight["history"]], rel=1e-5)
    a = load_file(tmp_path / "a" / "model.safetensors")
    b = load_file(tmp_path / "b" / "model.safetensors")
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)
    saved = json.loads((tmp_path / "b" / "pretrain.json").read_text())
    assert saved["heldout_perplexity_before"] == pytest.approx(straight["heldout_perplexity_before"])


def test_keeps_only_the_newest_checkpoints(tiny_dirs, corpus_file, tmp_path):
    pretrain(str(tiny_dirs["qwen2"]), corpus_file, tmp_path / "c", _settings(steps=6, save_every=1, keep_checkpoints=2))
    names = sorted(p.name for p in (tmp_path / "c").iterdir() if p.name.startswith("checkpoint-"))
    assert names == ["checkpoint-4", "checkpoint-5"]
    from transformers import AutoModelForCausalLM

    assert AutoModelForCausalLM.from_pretrained(tmp_path / "c").config.num_hidden_layers == 4


def test_too_little_text_is_refused(tiny_dirs, tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("just a few words\n", encoding="utf-8")
    with pytest.raises(PruningError, match="--corpus .* fewer than one global batch"):
        pretrain(str(tiny_dirs["llama"]), short, tmp_path / "d", _settings())


def test_torchrun_ddp_matches_one_process(tiny_dirs, corpus_file, tmp_path):
    """Two CPU ranks (Gloo) with 2 blocks each train like one process with 4 blocks per step."""
    import os
    import shutil
    import subprocess
    import sys

    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    if torchrun is None:
        pytest.skip("torchrun not installed")
    src = str(tiny_dirs["llama"])
    pretrain(src, corpus_file, tmp_path / "one", _settings(steps=2, batch_size=4, save_every=10))
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [torchrun, "--nproc-per-node", "2", "--master-addr", "127.0.0.1", "--master-port", str(port),
           "-m", "drama_models.cli", "pretrain",
           "--model", src, "--corpus", str(corpus_file), "--output", str(tmp_path / "two"), "--steps", "2",
           "--batch-size", "2", "--seq-len", "32", "--lr", "1e-3", "--save-every", "10", "--no-progress"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, cwd=os.getcwd())
    assert done.returncode == 0, done.stderr[-3000:]
    a = load_file(tmp_path / "one" / "model.safetensors")
    b = load_file(tmp_path / "two" / "model.safetensors")
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5)
