"""Dense mining with any encoder: inner-product top-k over passage embeddings, exact or with faiss.

Encoders (anything with ``encode_queries(texts)`` and ``encode_documents(texts)`` returning a 2-D float
array works; pass it as ``encoder=``), or a model path resolved by
:func:`drama_data.mining.encoders.load_encoder` (importable from here too):

- ``kind="sentence-transformers"``: ``SentenceTransformer(path)``; queries go through ``encode_query`` and
  passages through ``encode_document``, so prompts saved with the model (e.g. ``"Query: "``) are applied.
- a kind registered by a plug-in (:mod:`drama_data.mining.encoders`, entry-point group ``drama_data.encoders``):
  the model package registers ``kind="drama"``: its ``DramaEncoder`` (bidirectional, mean-pooled LLM encoder of the
  paper, ``"Query: "`` prefix on queries, BOS/EOS added; Sec. 3.3), optionally cut to a Matryoshka ``dim``.
- ``kind="auto"`` (default): the first registered kind that recognises the folder (``drama``: a folder of ours
  with ``drama_config.json``, a ``facebook/drama-*`` layout or a bare decoder LLM), else ``sentence-transformers``.

A ``--model`` value that is not an existing path (a short name such as ``minilm``, a zoo name) goes through the
plug-ins' name resolvers (the model package: its zoo and bundled models) and is used unchanged when none answers.

Search: embeddings are L2-normalised by default (inner product = cosine). Up to ``exact_max_docs`` passages
(default 200,000) the search is exact: a numpy matmul over query x passage blocks with top-k merged across
blocks, ties broken by corpus order. Above it, faiss: ``faiss_index="flat"`` (exact inner product, multi-threaded BLAS) or
``"hnsw"`` (HNSW32, approximate, for very large corpora; ``ef_search`` tunes recall). Passage embeddings
are saved as ``embeddings.npy`` (float32) with ``ids.json``, so a rerun with the same corpus and encoder does
not re-encode.
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
from drama_data.mining.base import Hit, Retriever, passage_text, top_k_rows
from drama_data.mining.encoders import Encoder, load_encoder, to_numpy
from drama_data.precision import is_choice

log = logging.getLogger(__name__)

__all__ = ["DenseRetriever", "Encoder", "load_encoder"]

EXACT_MAX_DOCS = 200_000
FAISS_INDEXES = ("flat", "hnsw")


class _PrecomputedOnly:
    """The encoder of a retriever built by :meth:`DenseRetriever.from_embeddings`: it has no model."""

    def _refuse(self, texts):
        raise RuntimeError("this DenseRetriever was built from precomputed embeddings: search it with "
                           "search_embeddings(query_embeddings, k)")

    encode_queries = encode_documents = _refuse


class DenseRetriever(Retriever):
    """Dense top-k by inner product (see the module docstring).

    Args: ``model`` (path) or ``encoder`` (object), ``encoder_kind``, ``batch_size`` (texts per encoder call),
    ``normalize``, ``exact_max_docs``, ``faiss_index`` (flat|hnsw), ``ef_search``, ``threads`` (faiss),
    ``include_title``, ``max_length``, ``device``, ``dim`` (Matryoshka cut, DRAMA encoders only), ``bf16``
    (autocast encoding: ``True``, ``"auto"`` = where the device computes bf16 natively, default ``False``); ``ray``
    (``"local"`` or a cluster address), ``ray_workers``, ``ray_gpus_per_worker``: encode the passages on a Ray
    actor pool (:mod:`drama_data.mining.dense_ray`; same chunks, same order).
    """

    name = "dense"
    cross_lingual = True  # as far as the encoder is multilingual: the summary says so

    def __init__(self, model: str | None = None, *, encoder: Encoder | None = None, encoder_kind: str = "auto",
                 batch_size: int = 64, normalize: bool = True, exact_max_docs: int = EXACT_MAX_DOCS,
                 faiss_index: str = "flat", ef_search: int = 256, threads: int = 0, include_title: bool = True,
                 max_length: int | None = None, device: str | None = None, dim: int | None = None,
                 progress: bool = True, ray: str | None = None, ray_workers: int = 2,
                 ray_gpus_per_worker: float | None = None, bf16: bool | str = False) -> None:
        super().__init__()
        if not is_choice(bf16):
            raise ConfigError(f"--bf16 {bf16!r}: use auto, true or false")
        if faiss_index not in FAISS_INDEXES:
            raise ConfigError(f"--faiss-index {faiss_index!r}: use {' or '.join(FAISS_INDEXES)}")
        if encoder is None and not model:
            raise ConfigError("--retriever dense needs --model PATH (a sentence-transformers or DRAMA model)")
        self.model_path = str(model) if model else None
        self._encoder = encoder
        self.encoder_kind = encoder_kind if encoder is None else type(encoder).__name__
        self.batch_size = max(1, int(batch_size))
        self.normalize = normalize
        self.exact_max_docs = int(exact_max_docs)
        self.faiss_index = faiss_index
        self.ef_search = int(ef_search)
        self.threads = int(threads)
        self.include_title = include_title
        self.max_length = max_length
        self.device = device
        self.dim = dim
        self.bf16 = bf16
        self.progress = progress
        if ray and not model:
            raise ConfigError("--ray encodes with --model PATH on each worker: an encoder object cannot be shipped")
        self.ray = None if not ray else ("local" if ray is True else str(ray))
        self.ray_workers = int(ray_workers)
        self.ray_gpus_per_worker = ray_gpus_per_worker
        self.embeddings: np.ndarray | None = None
        self._faiss = None
        self._fingerprint: str | None = None

    @classmethod
    def from_embeddings(cls, ids: Sequence[str], embeddings: np.ndarray, **options) -> DenseRetriever:
        """A retriever over passage embeddings computed elsewhere (row ``i`` is passage ``ids[i]``), used as is
        (not re-normalised). Search it with :meth:`search_embeddings`; ``options`` as for the constructor
        (``exact_max_docs``, ``faiss_index``, ``ef_search``, ``threads``)."""
        emb = np.ascontiguousarray(embeddings, dtype=np.float32)
        if emb.ndim != 2 or emb.shape[0] != len(ids) or not len(ids):
            raise ValueError(f"embeddings of shape {emb.shape} for {len(ids)} passage ids: need one row per id")
        retriever = cls(encoder=_PrecomputedOnly(), progress=False, **options)
        retriever.embeddings, retriever.ids = emb, list(ids)
        return retriever

    def fingerprint(self) -> str:
        """A hash of the encoder's embedding of a fixed probe text: tells two models (or two versions of the
        one at a path, or two encoder objects of one class) apart in the index cache key."""
        if self._fingerprint is None:
            import hashlib

            probe = to_numpy(self.encoder.encode_documents(["DRAMA index cache probe: 0123456789 Ünïcödé 中文"]))
            self._fingerprint = hashlib.blake2b(np.round(probe, 4).tobytes(), digest_size=8).hexdigest()
        return self._fingerprint

    def settings(self) -> dict:
        fingerprint = self.fingerprint()  # loads the encoder first, so encoder_kind is the resolved one
        return {"name": self.name, "model": self.model_path or self.encoder_kind, "encoder": self.encoder_kind,
                "fingerprint": fingerprint,
                "normalize": self.normalize, "include_title": self.include_title, "max_length": self.max_length,
                "dim": self.dim, "bf16": str(self.bf16).lower(), "exact_max_docs": self.exact_max_docs,
                "faiss_index": self.faiss_index}

    @property
    def search_mode(self) -> str:
        n = self.size or 0
        return "exact" if n and n <= self.exact_max_docs else f"faiss-{self.faiss_index}"

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder, self.encoder_kind = load_encoder(self.model_path, self.encoder_kind,
                                                            batch_size=self.batch_size, device=self.device,
                                                            max_length=self.max_length, dim=self.dim, bf16=self.bf16)
        return self._encoder

    def _encode(self, texts: Sequence[str], which: str, desc: str | None = None) -> np.ndarray:
        fn = self.encoder.encode_queries if which == "queries" else self.encoder.encode_documents
        step = self.batch_size * 8  # texts per encoder call, here and on each Ray worker
        if which == "documents" and self.ray and texts:
            from drama_data.mining.dense_ray import encode_on_ray

            load = {"path": self.model_path, "kind": self.encoder_kind, "batch_size": self.batch_size,
                    "device": self.device, "max_length": self.max_length, "dim": self.dim, "bf16": self.bf16}
            emb = encode_on_ray(texts, load, chunk=step, workers=self.ray_workers,
                                gpus_per_worker=self.ray_gpus_per_worker,
                                address=None if self.ray == "local" else self.ray)
            return self._finish(emb, texts, which)
        parts = []
        bar = tqdm(total=len(texts), desc=desc, unit="p", disable=not (self.progress and desc), mininterval=1.0)
        for s in range(0, len(texts), step):
            parts.append(to_numpy(fn(list(texts[s:s + step]))))
            bar.update(len(texts[s:s + step]))
        bar.close()
        emb = np.concatenate(parts, axis=0) if parts else np.zeros((0, 0), np.float32)
        return self._finish(emb, texts, which)

    def _finish(self, emb: np.ndarray, texts: Sequence[str], which: str) -> np.ndarray:
        if emb.ndim != 2 or emb.shape[0] != len(texts):
            raise RuntimeError(f"encoder returned shape {emb.shape} for {len(texts)} {which}")
        if self.normalize:
            norms = np.linalg.norm(emb, axis=1, keepdims=True)
            emb = emb / np.maximum(norms, 1e-12)
        return np.ascontiguousarray(emb, dtype=np.float32)

    def index(self, passages: Sequence[Passage], folder=None) -> None:
        if not passages:
            raise ValueError("cannot index an empty list of passages")
        texts = [passage_text(p, self.include_title) for p in passages]
        self.embeddings = self._encode(texts, "documents", desc="dense encode passages")
        self.ids = [p.id for p in passages]
        self._faiss = None

    def save(self, folder) -> bool:
        if self.embeddings is None:
            raise RuntimeError("index() before save()")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "embeddings.npy", self.embeddings)
        (folder / "ids.json").write_text(json.dumps(self.ids, ensure_ascii=False), encoding="utf-8")
        return True

    def load(self, folder) -> bool:
        folder = Path(folder)
        if not (folder / "embeddings.npy").is_file() or not (folder / "ids.json").is_file():
            return False
        self.embeddings = np.load(folder / "embeddings.npy", mmap_mode="r")
        self.ids = json.loads((folder / "ids.json").read_text(encoding="utf-8"))
        self._faiss = None
        return True

    def _build_faiss(self):
        import faiss

        if self.threads > 0:
            faiss.omp_set_num_threads(self.threads)
        emb = np.ascontiguousarray(self.embeddings, dtype=np.float32)
        d = emb.shape[1]
        if self.faiss_index == "hnsw":
            index = faiss.IndexHNSWFlat(d, 32, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 200
        else:
            index = faiss.IndexFlatIP(d)
        index.add(emb)
        self._faiss = index
        return index

    def search_embeddings(self, q: np.ndarray, k: int, mode: str | None = None) -> list[list[Hit]]:
        """Top-``k`` for already-encoded queries; ``mode`` forces ``exact`` or ``faiss`` (else by size)."""
        if self.embeddings is None:
            raise RuntimeError("index() or load() before search()")
        k = min(int(k), self.size)
        mode = mode or ("exact" if self.size <= self.exact_max_docs else "faiss")
        if k <= 0 or len(q) == 0:
            return [[] for _ in range(len(q))]
        if mode == "exact":
            return self._search_exact(q, k)
        if mode != "faiss":
            raise ValueError(f"mode must be exact or faiss, got {mode!r}")
        index = self._faiss or self._build_faiss()
        if self.faiss_index == "hnsw":
            index.hnsw.efSearch = max(self.ef_search, k)
        scores, idx = index.search(np.ascontiguousarray(q, dtype=np.float32), k)
        out = []
        for s_row, i_row in zip(scores, idx):
            keep = i_row >= 0
            s_row, i_row = s_row[keep], i_row[keep]
            order = np.lexsort((i_row, -s_row))
            out.append([(self.ids[int(i)], float(s)) for i, s in zip(i_row[order], s_row[order])])
        return out

    def _search_exact(self, q: np.ndarray, k: int, query_chunk: int = 1024, doc_chunk: int = 65_536) -> list[list[Hit]]:
        """Exact top-``k``: scores of ``query_chunk x doc_chunk`` blocks (at most ~256 MB), merged across blocks."""
        if len(q) > query_chunk:
            return [hits for s in range(0, len(q), query_chunk)
                    for hits in self._search_exact(q[s:s + query_chunk], k, query_chunk, doc_chunk)]
        emb = self.embeddings
        n = emb.shape[0]
        best_s: np.ndarray | None = None
        best_i: np.ndarray | None = None
        for start in range(0, n, doc_chunk):
            block = np.asarray(emb[start:start + doc_chunk], dtype=np.float32)
            scores = q @ block.T
            tops = top_k_rows(scores, k)
            s = np.full((len(q), k), -np.inf, dtype=np.float32)
            i = np.full((len(q), k), np.iinfo(np.int64).max, dtype=np.int64)
            for r, (ti, ts) in enumerate(tops):
                s[r, :len(ti)], i[r, :len(ti)] = ts, ti + start
            if best_s is None:
                best_s, best_i = s, i
                continue
            cs, ci = np.concatenate([best_s, s], 1), np.concatenate([best_i, i], 1)
            order = np.lexsort((ci, -cs), axis=1)[:, :k]
            best_s, best_i = np.take_along_axis(cs, order, 1), np.take_along_axis(ci, order, 1)
        out = []
        for s_row, i_row in zip(best_s, best_i):
            keep = np.isfinite(s_row)
            out.append([(self.ids[int(i)], float(s)) for i, s in zip(i_row[keep], s_row[keep])])
        return out

    def search(self, queries: Sequence[str], k: int) -> list[list[Hit]]:
        q = self._encode(list(queries), "queries")
        return self.search_embeddings(q, k)
