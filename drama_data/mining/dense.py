"""Dense mining with any encoder: inner-product top-k over passage embeddings, exact or with faiss.

Encoders (anything with ``encode_queries(texts)`` and ``encode_documents(texts)`` returning a 2-D float
array works; pass it as ``encoder=``), or a model path resolved by :func:`load_encoder`:

- ``kind="sentence-transformers"``: ``SentenceTransformer(path)``; queries go through ``encode_query`` and
  passages through ``encode_document``, so prompts saved with the model (e.g. ``"Query: "``) are applied.
- ``kind="drama"``: ``drama_models.encoder.DramaEncoder.from_pretrained(path)`` (bidirectional, mean-pooled
  LLM encoder of the paper, ``"Query: "`` prefix on queries, BOS/EOS added; Sec. 3.3), optionally cut to a
  Matryoshka ``dim``.
- ``kind="auto"`` (default): ``drama`` when ``drama_models.encoder`` is importable and the folder is ours
  (``drama_config.json``), a ``facebook/drama-*`` layout (``DramaModel``) or a bare decoder LLM
  (``model_type`` llama, qwen2, gemma3_text, ...), else ``sentence-transformers``.

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
from pathlib import Path
from typing import Any, Protocol, Sequence

import numpy as np
from tqdm.auto import tqdm

from drama_data.chunking import Passage
from drama_data.errors import ConfigError
from drama_data.mining.base import Hit, Retriever, passage_text, top_k_rows

log = logging.getLogger(__name__)

DECODER_TYPES = {"llama", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "gemma3_text", "mistral", "phi3"}
EXACT_MAX_DOCS = 200_000
FAISS_INDEXES = ("flat", "hnsw")


class Encoder(Protocol):
    """What the dense miner needs from an encoder."""

    def encode_queries(self, texts: Sequence[str]) -> Any: ...

    def encode_documents(self, texts: Sequence[str]) -> Any: ...


def _to_numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float32)


class SentenceTransformerEncoder:
    """``SentenceTransformer`` behind the :class:`Encoder` protocol (``encode_query``/``encode_document``)."""

    def __init__(self, path: str, *, batch_size: int = 64, device: str | None = None,
                 max_length: int | None = None, bf16: bool | str = False) -> None:
        from sentence_transformers import SentenceTransformer

        from drama_models.precision import resolve_bf16

        try:
            self.model = SentenceTransformer(str(path), device=device)
        except Exception as exc:
            raise ConfigError(f"--model {path}: cannot load as a sentence-transformers model ({exc})") from None
        if max_length:
            self.model.max_seq_length = int(max_length)
        self.batch_size = batch_size
        self.path = str(path)
        self.device_type = self.model.device.type
        self.bf16 = resolve_bf16(bf16, self.device_type)

    def encode_queries(self, texts):
        from drama_models.precision import autocast

        with autocast(self.device_type, self.bf16):
            return self.model.encode_query(list(texts), batch_size=self.batch_size, show_progress_bar=False,
                                           convert_to_numpy=True)

    def encode_documents(self, texts):
        from drama_models.precision import autocast

        with autocast(self.device_type, self.bf16):
            return self.model.encode_document(list(texts), batch_size=self.batch_size, show_progress_bar=False,
                                              convert_to_numpy=True)


class DramaEncoderAdapter:
    """``drama_models.encoder.DramaEncoder`` behind the :class:`Encoder` protocol (batch size, max length,
    Matryoshka ``dim``, no inner progress bar)."""

    def __init__(self, path: str, *, batch_size: int = 64, device: str | None = None, max_length: int | None = None,
                 dim: int | None = None, bf16: bool | str = False) -> None:
        from drama_models.encoder import DramaEncoder

        try:
            self.model = DramaEncoder.from_pretrained(str(path), device=device, bf16=bf16)
        except Exception as exc:
            raise ConfigError(f"--model {path}: cannot load as a DRAMA encoder ({exc})") from None
        self.kw = {"batch_size": batch_size, "show_progress": False, "max_length": max_length, "dim": dim}

    def encode_queries(self, texts):
        return self.model.encode_queries(list(texts), **self.kw)

    def encode_documents(self, texts):
        return self.model.encode_documents(list(texts), **self.kw)


def _is_drama_checkpoint(path: Path) -> bool:
    """A folder saved by ``DramaEncoder.save_pretrained`` (``drama_config.json``), a ``facebook/drama-*`` layout
    (``DramaModel``) or a bare decoder LLM checkpoint (which only our encoder turns into a retriever)."""
    if (path / "drama_config.json").is_file():
        return True
    cfg = path / "config.json"
    if not cfg.is_file():
        return False
    try:
        data = json.loads(cfg.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    try:
        from drama_models.encoder import DECODER_CLASSES

        decoders = set(DECODER_CLASSES) | DECODER_TYPES
    except ImportError:
        decoders = DECODER_TYPES
    return "DramaModel" in (data.get("architectures") or []) or str(data.get("model_type", "")).lower() in decoders


def load_encoder(path: str, kind: str = "auto", *, batch_size: int = 64, device: str | None = None,
                 max_length: int | None = None, dim: int | None = None,
                 bf16: bool | str = False) -> tuple[Encoder, str]:
    """Load the encoder at ``path``; returns ``(encoder, kind_used)`` (see the module docstring). ``bf16``:
    autocast encoding to bf16 (``True``, ``"auto"`` = where the device computes bf16 natively)."""
    if kind not in ("auto", "sentence-transformers", "drama"):
        raise ConfigError(f"--encoder {kind!r}: use auto, sentence-transformers or drama")
    p = Path(path).expanduser()
    if not p.exists():  # a short name (minilm, all-MiniLM-L6-v2), a zoo name or a Hub id, as drama-models takes them
        from drama_models.model_source import ModelSourceError, resolve_model
        from drama_models.zoo import ZooError
        from drama_models.zoo import resolve_model as resolve_name

        try:
            path = resolve_model(resolve_name(path), "--model", hub_check=False)
        except (ModelSourceError, ZooError) as exc:
            raise ConfigError(str(exc)) from None
        p = Path(path).expanduser()
    if kind == "auto":
        try:
            import drama_models.encoder  # noqa: F401

            drama_available = True
        except ImportError:
            drama_available = False
        kind = "drama" if drama_available and _is_drama_checkpoint(p) else "sentence-transformers"
    if kind == "drama":
        try:
            import drama_models.encoder  # noqa: F401
        except ImportError as exc:
            raise ConfigError(f"--encoder drama: drama_models.encoder is not available ({exc})") from None
        return DramaEncoderAdapter(str(p), batch_size=batch_size, device=device, max_length=max_length, dim=dim,
                                   bf16=bf16), kind
    if dim is not None:
        raise ConfigError("--dim (Matryoshka truncation) needs --encoder drama")
    return SentenceTransformerEncoder(str(p), batch_size=batch_size, device=device, max_length=max_length,
                                      bf16=bf16), kind


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
        from drama_models.precision import is_choice

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
    def from_embeddings(cls, ids: Sequence[str], embeddings: np.ndarray, **options) -> "DenseRetriever":
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

            probe = _to_numpy(self.encoder.encode_documents(["DRAMA index cache probe: 0123456789 Ünïcödé 中文"]))
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
            parts.append(_to_numpy(fn(list(texts[s:s + step]))))
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
