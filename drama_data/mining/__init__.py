"""Candidate mining: retrievers behind one interface (:mod:`.base`) and the ``mine`` stage (:mod:`.mine`), configured
by one :class:`~drama_data.mining.config.MineConfig` (:mod:`.config`: ``mine(MineConfig(queries=..., output=...))``);
its inputs are read by :mod:`.inputs`, its summary is :class:`~drama_data.mining.mine_report.MineReport`.

``make_retriever(name, **options)`` builds one by name: ``bm25s`` (default), ``rank-bm25``, ``pyserini``,
``dense``, ``hybrid`` (BM25 + dense, z-score fusion). Each lives in its own module and imports its heavy dependencies lazily.
"""
from __future__ import annotations

import inspect

from drama_data.errors import ConfigError
from drama_data.mining.base import Hit, Retriever, passage_text

RETRIEVERS = {
    "bm25s": ("drama_data.mining.bm25", "BM25sRetriever"),
    "rank-bm25": ("drama_data.mining.rank_bm25", "RankBM25Retriever"),
    "pyserini": ("drama_data.mining.pyserini", "PyseriniRetriever"),
    "dense": ("drama_data.mining.dense", "DenseRetriever"),
    "hybrid": ("drama_data.mining.hybrid", "HybridRetriever"),
}


def retriever_class(name: str) -> type[Retriever]:
    """The class registered under ``name`` (raises ``ConfigError`` naming ``--retriever``)."""
    import importlib

    if name not in RETRIEVERS:
        raise ConfigError(f"--retriever {name!r}: choose one of {', '.join(RETRIEVERS)}")
    module, cls = RETRIEVERS[name]
    return getattr(importlib.import_module(module), cls)


def make_retriever(name: str, **options) -> Retriever:
    """Build retriever ``name`` with ``options``; options it does not take (value None) are ignored,
    options it does not take with a value raise ``ConfigError`` naming them."""
    cls = retriever_class(name)
    params = inspect.signature(cls.__init__).parameters
    accepted, rejected = {}, []
    for key, value in options.items():
        if value is None:
            continue
        if key in params:
            accepted[key] = value
        else:
            rejected.append(key)
    if rejected:
        raise ConfigError(f"--retriever {name} does not take option(s) {', '.join('--' + r.replace('_', '-') for r in sorted(rejected))}")
    return cls(**accepted)


__all__ = ["RETRIEVERS", "Hit", "Retriever", "make_retriever", "passage_text", "retriever_class"]
