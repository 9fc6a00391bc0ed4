"""BM25 and a dense encoder fused into one ranking: a stronger miner (and teacher) than either alone.

DRAMA mines with a strong LLM-based retriever (Ma et al. 2025, Sec. 3.2) and reads its top ranks as positives.
Without one, the best cheap teacher is the fusion of a lexical and a dense ranking, which beats both in
BEIR-style evaluations (e.g. SciFact dev split, ``bench/cpu_demo_ablations.py``: BM25 nDCG@10 0.764,
all-MiniLM-L6-v2 0.751, this fusion 0.814), because the two make different mistakes.

Per query: BM25's top ``depth`` and the dense top ``depth``; every passage in either list gets its exact dense
score (the passage embeddings are all there) and its BM25 score (a passage outside BM25's list gets the list's
lowest score: BM25 scores below the cut are unknown but no higher). Each score is z-normalised over its own
list (mean and standard deviation of the top ``depth``), and the fused score is
``weight * z_dense + (1 - weight) * z_bm25`` (``weight`` 0.5 by default: no tuning on anyone's test queries).
The fused score is what ``mine`` writes as ``score``; ``build`` carries it into the training rows as the
teacher score that ``drama-models train --distill-weight`` distils.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from drama_data.chunking import Passage
from drama_data.errors import ConfigError
from drama_data.mining.base import Hit, Retriever
from drama_data.mining.bm25 import BM25sRetriever
from drama_data.mining.dense import EXACT_MAX_DOCS, DenseRetriever


def _z(values: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation (at least 1e-6) of one list's scores."""
    return float(values.mean()), max(float(values.std()), 1e-6)


def z_fuse(lexical: Sequence[Hit], dense: Sequence[Hit], weight: float,
           dense_extra: dict[str, float] | None = None) -> dict[str, float]:
    """``weight * z_dense + (1 - weight) * z_bm25`` for every passage in either hit list (unsorted).

    Each list is z-normalised over its own scores. A passage missing from the BM25 list gets that list's lowest
    score; one missing from the dense list gets its exact score from ``dense_extra`` when given, else the dense
    list's lowest. An empty list contributes nothing (the other one decides).
    """
    bm, den = dict(lexical), dict(dense)
    extra = dense_extra or {}
    out: dict[str, float] = {}
    b_vals = np.array([s for _, s in lexical]) if lexical else None
    d_vals = np.array([s for _, s in dense]) if dense else None
    b_mu, b_sd = _z(b_vals) if b_vals is not None else (0.0, 1.0)
    d_mu, d_sd = _z(d_vals) if d_vals is not None else (0.0, 1.0)
    b_floor = float(b_vals.min()) if b_vals is not None else 0.0
    d_floor = float(d_vals.min()) if d_vals is not None else 0.0
    for d in dict.fromkeys([d for d, _ in dense] + [d for d, _ in lexical]):
        zb = (bm.get(d, b_floor) - b_mu) / b_sd if b_vals is not None else 0.0
        zd = (den.get(d, extra.get(d, d_floor)) - d_mu) / d_sd if d_vals is not None else 0.0
        out[d] = weight * zd + (1 - weight) * zb
    return out


class HybridRetriever(Retriever):
    """BM25 (bm25s) + dense, z-score fusion (see the module docstring).

    Args: ``model`` (dense encoder path) or ``encoder`` (an object, as for ``DenseRetriever``), ``weight``
    (of the dense score, 0..1), ``depth`` (hits taken from each retriever per query, at least ``k``); BM25 options ``language``, ``k1``, ``b``, ``method``; dense
    options ``encoder_kind``, ``batch_size``, ``max_length``, ``device``, ``dim``, ``bf16``, ``exact_max_docs``,
    ``faiss_index``; ``threads``, ``include_title``, ``progress`` for both.
    """

    name = "hybrid"

    def __init__(self, model: str | None = None, *, encoder=None, weight: float = 0.5, depth: int = 100, language: str = "en",
                 k1: float = 0.9, b: float = 0.4, method: str = "lucene", encoder_kind: str = "auto",
                 batch_size: int = 64, max_length: int | None = None, device: str | None = None,
                 dim: int | None = None, exact_max_docs: int = EXACT_MAX_DOCS, faiss_index: str = "flat",
                 threads: int = 0, include_title: bool = True, progress: bool = True, bf16: bool | str = False) -> None:
        super().__init__()
        if not model and encoder is None:
            raise ConfigError("--retriever hybrid needs --model PATH (the dense half: a sentence-transformers or "
                              "DRAMA model, e.g. all-MiniLM-L6-v2)")
        if not 0.0 <= float(weight) <= 1.0:
            raise ConfigError(f"--weight {weight}: the dense score's weight must be between 0 and 1")
        if int(depth) < 1:
            raise ConfigError(f"--depth {depth}: must be at least 1")
        self.weight, self.depth = float(weight), int(depth)
        self.bm25 = BM25sRetriever(language, k1=k1, b=b, method=method, include_title=include_title,
                                   threads=threads, progress=progress)
        self.dense = DenseRetriever(model, encoder=encoder, encoder_kind=encoder_kind, batch_size=batch_size, max_length=max_length,
                                    device=device, dim=dim, exact_max_docs=exact_max_docs, faiss_index=faiss_index,
                                    threads=threads, include_title=include_title, progress=progress, bf16=bf16)
        self._row: dict[str, int] | None = None

    def settings(self) -> dict[str, Any]:
        return {"name": self.name, "weight": self.weight, "depth": self.depth, "fusion": "z-score",
                "bm25": self.bm25.settings(), "dense": self.dense.settings()}

    def describe(self) -> str:
        return (f"hybrid(weight={self.weight}, depth={self.depth}, {self.bm25.describe()}, "
                f"{self.dense.describe()})")

    def index(self, passages: Sequence[Passage], folder: str | Path | None = None) -> None:
        sub = (lambda name: Path(folder) / name) if folder else (lambda name: None)
        for name, r in (("bm25", self.bm25), ("dense", self.dense)):
            if sub(name) is not None:
                sub(name).mkdir(parents=True, exist_ok=True)
            r.index(passages, folder=sub(name))
        self.ids = list(self.dense.ids)
        self._row = None

    def save(self, folder: str | Path) -> bool:
        return all([self.bm25.save(Path(folder) / "bm25"), self.dense.save(Path(folder) / "dense")])

    def load(self, folder: str | Path) -> bool:
        ok = self.bm25.load(Path(folder) / "bm25") and self.dense.load(Path(folder) / "dense")
        if ok:
            self.ids = list(self.dense.ids)
            self._row = None
        return bool(ok)

    def close(self) -> None:
        self.bm25.close()
        self.dense.close()

    def search(self, queries: Sequence[str], k: int) -> list[list[Hit]]:
        depth = max(self.depth, int(k))
        lexical = self.bm25.search(queries, depth)
        q = self.dense._encode(list(queries), "queries")
        dense = self.dense.search_embeddings(q, depth)
        return [self.fuse(lex, den, q[i], k) for i, (lex, den) in enumerate(zip(lexical, dense))]

    def fuse(self, lexical: list[Hit], dense: list[Hit], q: np.ndarray, k: int) -> list[Hit]:
        """One query's fused top ``k`` from its BM25 and dense hit lists (``q``: its query embedding)."""
        if self._row is None:
            self._row = {pid: i for i, pid in enumerate(self.dense.ids)}
        den = dict(dense)
        missing = [d for d, _ in lexical if d not in den]
        extra = {}
        if missing:
            emb = np.asarray(self.dense.embeddings[[self._row[d] for d in missing]], dtype=np.float32)
            extra = dict(zip(missing, (emb @ q.astype(np.float32)).tolist()))
        fused = z_fuse(lexical, dense, self.weight, extra)
        return sorted(fused.items(), key=lambda x: (-x[1], self._row[x[0]]))[:k]
