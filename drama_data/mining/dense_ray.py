"""Encode passages for dense mining on a Ray actor pool with Ray Data: ``drama-data mine --retriever dense --ray``.

In: the passage texts (in corpus order), how to load the encoder (:func:`drama_data.mining.encoders.load_encoder`
arguments: path, kind, batch size, max length, dim), the chunk of texts per encoder call (the local path's:
``batch_size x 8``), and the pool (``workers`` actors, ``gpus_per_worker`` each, a cluster ``address`` or a local
Ray). Out: the raw embeddings, one row per text in the input order (normalising stays with the caller).

The texts are a Ray dataset of chunks (``ray.data.from_items``), each chunk exactly the slice one local encoder
call gets, so every text is encoded in the same company as locally (sentence-transformers sorts a call's texts
by length and pads per batch); ``map_batches`` runs them on an actor pool (``compute=ActorPoolStrategy``), one
encoder per actor, and the chunks are put back in order by their index. Here, unlike ``generate``, the whole
input is known up front, which is what a Ray Data pipeline is made for. Queries are few and stay local.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from drama_data.mining.encoders import to_numpy


class EncodeChunks:
    """The actor of the pool: one encoder, loaded once; encodes each chunk of a batch (``{"i", "texts"}``)."""

    def __init__(self, load: dict):
        from drama_data.mining.encoders import load_encoder

        self.encoder, _ = load_encoder(**load)

    def __call__(self, batch: dict) -> dict:
        out = [to_numpy(self.encoder.encode_documents(list(texts))) for texts in batch["texts"]]
        return {"i": np.asarray(batch["i"]), "emb": np.asarray([e.tobytes() for e in out], dtype=object),
                "rows": np.asarray([e.shape[0] for e in out]), "dim": np.asarray([e.shape[1] for e in out])}


def encode_on_ray(texts: Sequence[str], load: dict, *, chunk: int, workers: int = 2,
                  gpus_per_worker: float | None = None, address: str | None = None) -> np.ndarray:
    """Embeddings of ``texts`` (float32, one row per text, in order) from ``workers`` Ray actors (see module doc).

    ``gpus_per_worker`` ``None``: 1 when the cluster has GPUs and ``load`` asks for no device, else 0.
    """
    from drama_data.backends.ray_pool import init_ray

    ray = init_ray(address)
    if gpus_per_worker is None:
        gpus_per_worker = 1.0 if ray.cluster_resources().get("GPU", 0) > 0 and not load.get("device") else 0.0
    items = [{"i": k, "texts": list(texts[s:s + chunk])} for k, s in enumerate(range(0, len(texts), chunk))]
    ds = ray.data.from_items(items).map_batches(
        EncodeChunks, fn_constructor_args=(load,), batch_size=1, batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=max(1, min(workers, len(items)))), num_gpus=gpus_per_worker,
        num_cpus=1)
    parts: dict[int, np.ndarray] = {}
    for row in ds.iter_rows():
        parts[int(row["i"])] = np.frombuffer(row["emb"], dtype=np.float32).reshape(int(row["rows"]), int(row["dim"]))
    missing = sorted(set(range(len(items))) - set(parts))
    if missing:
        raise RuntimeError(f"Ray returned no embeddings for chunk(s) {missing[:5]}")
    return np.concatenate([parts[k] for k in range(len(items))], axis=0)
