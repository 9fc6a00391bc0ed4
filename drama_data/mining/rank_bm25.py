"""The reference miner: ``rank_bm25.BM25Okapi`` (Brown 2020), pure Python, scores every passage per query.

It is slow (one dense pass over the corpus per query term) and meant as a reference and for small corpora:
the tests check that it ranks the shipped sample exactly as :mod:`drama_data.mining.bm25` does when both use
the same BM25 formula (bm25s ``method="robertson"`` equals Okapi with ``epsilon=0`` up to a constant
factor), and ``bench/mine_bm25.py`` measures the speed gap. Same analyzer as the bm25s miner.
Defaults are rank_bm25's own: ``k1=1.5, b=0.75, epsilon=0.25``. Nothing is saved (indexing is cheap).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from tqdm.auto import tqdm

from drama_data.chunking import Passage
from drama_data.errors import ConfigError
from drama_data.mining.analyzer import Analyzer
from drama_data.mining.base import Hit, Retriever, passage_text, top_k_rows


class RankBM25Retriever(Retriever):
    """BM25 Okapi from the ``rank_bm25`` package (see module docstring for arguments and defaults)."""

    name = "rank-bm25"

    def __init__(self, language: str = "en", *, k1: float = 1.5, b: float = 0.75, epsilon: float = 0.25,
                 stemming: bool = True, stopwords: bool = True, include_title: bool = True,
                 progress: bool = True) -> None:
        super().__init__()
        if k1 < 0 or not 0 <= b <= 1:
            raise ConfigError(f"--k1 {k1} / --b {b}: need k1 >= 0 and 0 <= b <= 1")
        self.analyzer = Analyzer(language, stemming=stemming, stopwords=stopwords)
        self.k1, self.b, self.epsilon = float(k1), float(b), float(epsilon)
        self.include_title = include_title
        self.progress = progress
        self._bm25 = None

    def settings(self) -> dict:
        return {"name": self.name, "k1": self.k1, "b": self.b, "epsilon": self.epsilon, "variant": "okapi",
                "include_title": self.include_title, **self.analyzer.settings()}

    def index(self, passages: Sequence[Passage], folder=None) -> None:
        from rank_bm25 import BM25Okapi

        if not passages:
            raise ValueError("cannot index an empty list of passages")
        tokens = [self.analyzer(passage_text(p, self.include_title))
                  for p in tqdm(passages, desc="rank-bm25 tokenize", unit="p", disable=not self.progress,
                                mininterval=1.0)]
        self._bm25 = BM25Okapi(tokens, k1=self.k1, b=self.b, epsilon=self.epsilon)
        self.ids = [p.id for p in passages]

    def search(self, queries: Sequence[str], k: int) -> list[list[Hit]]:
        if self._bm25 is None:
            raise RuntimeError("index() before search()")
        results: list[list[Hit]] = []
        for q in queries:
            terms = self.analyzer(q)
            if not terms:
                results.append([])
                continue
            scores = np.asarray(self._bm25.get_scores(terms), dtype=np.float64)[None, :]
            (idx, s), = top_k_rows(scores, k, drop_nonpositive=True)
            results.append([(self.ids[int(i)], float(v)) for i, v in zip(idx, s)])
        return results
