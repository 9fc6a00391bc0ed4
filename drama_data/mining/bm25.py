"""The default miner: BM25 with ``bm25s`` (eager sparse-matrix scoring, Lù 2024), no JVM needed.

bm25s precomputes the BM25 weight of every (term, passage) pair into a sparse matrix at index time, so a
query is a sum of a few sparse rows plus a top-k selection. We use bm25s for the index (and its save/load)
and sum the rows ourselves, a batch of queries at a time into one dense block (optionally on several
threads), so that the top-k is exact with ties broken by corpus order (bm25s's own ``retrieve`` picks
arbitrarily among passages tied at the k-th score). Terms come from :class:`~drama_data.mining.analyzer.Analyzer` (stemming and stopwords
per language, CJK unigrams+bigrams), the same for passages and queries.

Defaults: ``method="lucene"`` with ``k1=0.9, b=0.4``, Anserini's/pyserini's BM25 defaults, so that the
``bm25s`` and ``pyserini`` miners are interchangeable. On SciFact test (whole abstracts, title + text) this
gives nDCG@10 0.680 (k1=1.2, b=0.75 gives 0.686; the BEIR paper reports ~0.665), see ``bench/mine_bm25.py``.
Index files saved by :meth:`BM25sRetriever.save`: bm25s's own ``*.index.npy``/``*.json`` plus ``ids.json``.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from drama_data.chunking import Passage
from drama_data.errors import ConfigError
from drama_data.mining.analyzer import Analyzer
from drama_data.mining.base import Hit, Retriever, passage_text, top_k_rows

log = logging.getLogger(__name__)

METHODS = ("lucene", "robertson", "atire", "bm25l", "bm25+")


def _bm25s():
    """Import bm25s; it sets its logger to DEBUG on import, so bring it back to ours (quiet unless -vv)."""
    import bm25s

    logging.getLogger("bm25s").setLevel(log.getEffectiveLevel())
    return bm25s


class BM25sRetriever(Retriever):
    """BM25 over a bm25s sparse index.

    Args: ``language`` (analyzer language, ``"none"`` for no stemming/stopwords), ``k1``, ``b``, ``method``
    (bm25s variant: lucene, robertson, atire, bm25l, bm25+), ``stemming``/``stopwords`` (switch off),
    ``include_title`` (index ``title\\ntext``), ``threads`` (search threads; 0 = the calling thread),
    ``batch_size`` (queries per bm25s call), ``progress`` (tqdm while tokenizing passages).
    """

    name = "bm25s"

    def __init__(self, language: str = "en", *, k1: float = 0.9, b: float = 0.4, method: str = "lucene",
                 stemming: bool = True, stopwords: bool = True, include_title: bool = True, threads: int = 0,
                 batch_size: int = 1000, progress: bool = True) -> None:
        super().__init__()
        if method not in METHODS:
            raise ConfigError(f"--method {method!r}: bm25s supports {', '.join(METHODS)}")
        if k1 < 0 or not 0 <= b <= 1:
            raise ConfigError(f"--k1 {k1} / --b {b}: need k1 >= 0 and 0 <= b <= 1")
        self.analyzer = Analyzer(language, stemming=stemming, stopwords=stopwords)
        self.k1, self.b, self.method = float(k1), float(b), method
        self.include_title = include_title
        self.threads = max(0, int(threads))
        self.batch_size = max(1, int(batch_size))
        self.progress = progress
        self._bm25 = None

    def settings(self) -> dict:
        return {"name": self.name, "k1": self.k1, "b": self.b, "method": self.method,
                "include_title": self.include_title, **self.analyzer.settings()}

    def index(self, passages: Sequence[Passage], folder=None) -> None:
        bm25s = _bm25s()

        if not passages:
            raise ValueError("cannot index an empty list of passages")
        tokens = [self.analyzer(passage_text(p, self.include_title))
                  for p in tqdm(passages, desc="bm25s tokenize", unit="p", disable=not self.progress,
                                mininterval=1.0)]
        bm = bm25s.BM25(k1=self.k1, b=self.b, method=self.method)
        bm.index(tokens, show_progress=False)
        self._bm25 = bm
        self.ids = [p.id for p in passages]

    def save(self, folder) -> bool:
        if self._bm25 is None:
            raise RuntimeError("index() before save()")
        folder = Path(folder)
        self._bm25.save(folder, show_progress=False)
        (folder / "ids.json").write_text(json.dumps(self.ids, ensure_ascii=False), encoding="utf-8")
        return True

    def load(self, folder) -> bool:
        bm25s = _bm25s()

        folder = Path(folder)
        if not (folder / "ids.json").is_file() or not (folder / "params.index.json").is_file():
            return False
        self._bm25 = bm25s.BM25.load(folder, show_progress=False)
        self.ids = json.loads((folder / "ids.json").read_text(encoding="utf-8"))
        return True

    def _score_batch(self, token_lists: Sequence[list[str]]) -> np.ndarray:
        """BM25 scores (batch x passages) summed from the rows of bm25s's precomputed sparse matrix."""
        sc = self._bm25.scores
        data, indices, indptr = sc["data"], sc["indices"], sc["indptr"]
        vocab = self._bm25.vocab_dict
        nonocc = getattr(self._bm25, "nonoccurrence_array", None)
        out = np.zeros((len(token_lists), sc["num_docs"]), dtype=np.float32)
        for i, terms in enumerate(token_lists):
            row = out[i]
            for t in terms:  # a repeated query term counts each time, as in bm25s and rank-bm25
                tid = vocab.get(t)
                if tid is None:
                    continue
                a, b = indptr[tid], indptr[tid + 1]
                row[indices[a:b]] += data[a:b]
                if nonocc is not None:
                    row += nonocc[tid]
        return out

    def search(self, queries: Sequence[str], k: int) -> list[list[Hit]]:
        """Top-k per query: batched sparse-row sums, exact top-k with ties broken by corpus order."""
        if self._bm25 is None:
            raise RuntimeError("index() or load() before search()")
        k = min(int(k), len(self.ids))
        n_docs = len(self.ids)
        # keep a score block under ~64 MB whatever the corpus size
        step = max(1, min(self.batch_size, (16 * 1024 * 1024) // max(1, n_docs)))
        batches = [list(queries[s:s + step]) for s in range(0, len(queries), step)]

        def run(batch: list[str]) -> list[list[Hit]]:
            tokens = [self.analyzer(q) for q in batch]
            if k <= 0:
                return [[] for _ in batch]
            tops = top_k_rows(self._score_batch(tokens), k, drop_nonpositive=True)
            return [[(self.ids[int(i)], float(v)) for i, v in zip(idx, sc)] for idx, sc in tops]

        if self.threads > 1 and len(batches) > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(self.threads) as pool:
                parts = list(pool.map(run, batches))
        else:
            parts = [run(b) for b in batches]
        return [hits for part in parts for hits in part]
