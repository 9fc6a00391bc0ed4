"""bench/xquad_gemma_encoder.py's passage split and bench/xquad_crosslingual.py's encoder cache (no models)."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _collections(root: Path, n: int = 40) -> None:
    for lang, word in (("de", "Satz"), ("zh", "句子")):
        folder = root / f"xquad-r-{lang}"
        folder.mkdir(parents=True)
        with open(folder / "corpus.jsonl", "w", encoding="utf-8") as fh:
            for i in range(n):
                fh.write(json.dumps({"_id": f"p{i // 5}s{i % 5}", "title": "", "text": f"{word} {i}"},
                                    ensure_ascii=False) + "\n")
        (folder / "queries.jsonl").write_text("must never be read\n", encoding="utf-8")


def _ids(folder: Path) -> list[str]:
    return [json.loads(line)["_id"] for line in (folder / "corpus.jsonl").read_text(encoding="utf-8").splitlines()]


def test_passage_subsets_are_disjoint_quarters_of_the_ids(tmp_path):
    bench = _load("xquad_gemma_encoder")
    _collections(tmp_path / "data")
    folders = bench.passage_subsets(tmp_path / "data", tmp_path / "out", seed=0)
    assert set(folders) == {"de-queries", "de-xl", "zh-queries", "zh-xl"}
    ids = {k: _ids(v) for k, v in folders.items()}
    everything = [i for v in ids.values() for i in v]
    assert len(everything) == len(set(everything))  # no id (aligned sentence) in two subsets, across languages too
    assert set(ids["de-queries"]) | set(ids["de-xl"]) | set(ids["zh-queries"]) | set(ids["zh-xl"]) <= {
        f"p{i // 5}s{i % 5}" for i in range(40)}
    texts = (folders["zh-xl"] / "corpus.jsonl").read_text(encoding="utf-8")
    assert all("句子" in json.loads(line)["text"] for line in texts.splitlines())
    again = bench.passage_subsets(tmp_path / "data", tmp_path / "again", seed=0)
    assert {k: _ids(v) for k, v in again.items()} == ids  # deterministic for a seed
    other = bench.passage_subsets(tmp_path / "data", tmp_path / "other", seed=1)
    assert {k: _ids(v) for k, v in other.items()} != ids


def test_cached_encoder_encodes_each_text_list_once():
    bench = _load("xquad_crosslingual")
    calls = []

    class Fake:
        def encode_queries(self, texts, dim=None, **kw):
            calls.append(("q", tuple(texts)))
            return np.ones((len(texts), 2))

        def encode_documents(self, texts, dim=None, **kw):
            calls.append(("d", tuple(texts)))
            return np.zeros((len(texts), 2))

    enc = bench.CachedEncoder(Fake())
    for _ in range(2):
        assert enc.encode_documents(["a", "b"], batch_size=8).shape == (2, 2)
        assert enc.encode_queries(["a"], dim=None).shape == (1, 2)
    enc.encode_documents(["c"])
    assert calls == [("d", ("a", "b")), ("q", ("a",)), ("d", ("c",))]
