"""What one ``mine`` run needs, in one object: `MineConfig`, built alike by ``drama-data mine`` (its flags,
`MineConfig.from_flags`), the Python API (`drama_data.mining.mine.mine`) and the recipe stage, and
checked in one place (`MineConfig.validate`) before any data is read.

Errors name what the user wrote: the CLI flag (``--encode-batch-size``, ``--no-title``) by default, or a recipe
key when the caller passes its own ``name`` function to `MineConfig.validate`.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from drama_data.corpus import Fields
from drama_data.errors import ConfigError
from drama_data.mining.base import Retriever

DEFAULT_K = 50  # paper: top 50 for Sent and QGen; 20 for Rerank
DENSE = ("dense", "hybrid")  # retrievers that encode with a model

#: config field -> the CLI flag that sets it, where the flag is not ``--`` + the field with dashes
FLAGS = {"k": "-k", "encoder_kind": "--encoder", "include_title": "--no-title", "max_tokens": "--chunk-tokens",
         "progress": "--no-progress"}
#: retriever settings: config field -> the keyword the retriever classes take (None: the retriever's default)
RETRIEVER_FIELDS = {
    "language": "language", "k1": "k1", "b": "b", "method": "method", "model": "model", "weight": "weight",
    "depth": "depth", "encoder_kind": "encoder_kind", "exact_max_docs": "exact_max_docs",
    "faiss_index": "faiss_index", "dim": "dim", "threads": "threads", "include_title": "include_title",
    "encode_batch_size": "batch_size", "bf16": "bf16", "ray": "ray", "ray_workers": "ray_workers",
    "ray_gpus_per_worker": "ray_gpus_per_worker",
}
RAY_FIELDS = ("ray", "ray_workers", "ray_gpus_per_worker")
_FIELD_OF_KEYWORD = {kw: f for f, kw in RETRIEVER_FIELDS.items()}


def flag(name: str) -> str:
    """The CLI flag of config field ``name`` (``encoder_kind`` -> ``--encoder``)."""
    return FLAGS.get(name, "--" + name.replace("_", "-"))


@dataclass
class MineConfig:
    """The settings of one ``mine`` run (see [`mine`][drama_data.mining.mine.mine] for what it reads and writes).

    Built alike by ``drama-data mine`` (`from_flags`), the Python API and the recipe stage; `validate` checks it
    before any data is read. Retriever settings left ``None`` take the retriever's default; corpus and chunking
    settings left ``None`` take what ``generate`` recorded in the queries' ``provenance.json``, else the defaults.

    Attributes:
        queries: The queries folder written by ``drama-data generate``.
        output: The output folder.
        corpus: The corpus (folder, file or dataset id); ``None`` for the one ``generate`` recorded.
        retriever: A registered retriever name (``bm25s``, ``pyserini``, ``dense``, ``hybrid``, ...) or a ready
            `Retriever` object.
        k: Candidates kept per query (paper, DRAMA Sec. 3.2: 50 for cropped-sentence and synthetic queries, 20
            for the rerank stage).
        language: Lexical retrievers: the analyser's language.
        k1: BM25 ``k1``.
        b: BM25 ``b``.
        method: ``bm25s``: the BM25 variant.
        model: Dense and hybrid: the encoder (path or Hub id).
        weight: Hybrid: the dense score's weight.
        depth: Hybrid: candidates taken from each retriever before fusing.
        encoder_kind: Dense: the encoder plug-in (``--encoder``; see
            [`EncoderRegistry`][drama_data.mining.encoders.EncoderRegistry]).
        exact_max_docs: Dense: search exactly (in blocks) up to this many passages; above it, with faiss.
        faiss_index: Dense, above ``exact_max_docs``: the faiss index, ``flat`` (exact) or ``hnsw``.
        encode_batch_size: Dense and hybrid: passages per encoder batch.
        dim: Dense: embedding dimension to keep (Matryoshka truncation).
        bf16: Dense and hybrid: bf16 autocast (``True``, ``False``, or ``None``/``"auto"``: on where the device
            supports it).
        ray: Dense: a Ray address (``local`` starts one) to encode passages on Ray actors.
        ray_workers: Dense on Ray: number of encoding actors.
        ray_gpus_per_worker: Dense on Ray: GPUs per actor.
        threads: Search threads (BM25; faiss for dense).
        include_title: Index passage titles with their text (``None``: the retriever's default; ``--no-title``
            sets ``False``).
        retriever_options: Any other keyword the retriever class accepts.
        queries_config: The config of the queries dataset to read.
        fields: The corpus' id/title/text field names.
        split: The corpus split.
        max_tokens: Chunk size in tokens (``--chunk-tokens``).
        chunk_tokenizer: The tokenizer that counts chunk tokens (``words`` by default).
        work_dir: Index cache and resumable run chunks (default: the user cache folder).
        chunk_size: Queries per resumable chunk.
        batch_size: Queries per retriever call.
        overwrite: Replace an existing output folder.
        keep_work: Keep the run chunks after the folder is written.
        progress: Show a progress bar.
        cross_lingual: How rows whose query language is not the passage's are searched (``auto``, ...; see
            `drama_data.mining.crosslingual`).
    """

    queries: str | Path
    output: str | Path
    corpus: str | None = None
    retriever: str | Retriever = "bm25s"
    k: int = DEFAULT_K
    # retriever settings
    language: str | None = None
    k1: float | None = None
    b: float | None = None
    method: str | None = None
    model: str | None = None
    weight: float | None = None
    depth: int | None = None
    encoder_kind: str | None = None
    exact_max_docs: int | None = None
    faiss_index: str | None = None
    encode_batch_size: int | None = None
    dim: int | None = None
    #: dense, hybrid: bf16 autocast; None = ``auto``
    bf16: bool | str | None = None
    #: dense: Ray address (``local`` starts one) for encoding passages on Ray actors
    ray: str | None = None
    ray_workers: int | None = None
    ray_gpus_per_worker: float | None = None
    threads: int | None = None
    include_title: bool | None = None
    retriever_options: dict[str, Any] = field(default_factory=dict)
    # corpus and chunking (None: as generate recorded, else the defaults)
    queries_config: str = "queries"
    fields: Fields | None = None
    split: str | None = None
    max_tokens: int | None = None
    chunk_tokenizer: str | None = None
    # running
    work_dir: str | Path | None = None
    chunk_size: int = 10_000
    batch_size: int = 1_000
    overwrite: bool = False
    keep_work: bool = False
    progress: bool = True
    cross_lingual: str = "auto"

    @classmethod
    def from_flags(cls, params: dict[str, Any]) -> MineConfig:
        """The config of ``drama-data mine``'s parsed flags.

        ``--no-title``, ``--no-progress`` and ``--id/title/text-field`` become their fields; ``as_json`` is
        dropped (it is not the config's).

        Args:
            params: click's parameter names and values.

        Returns:
            The config (not yet validated).
        """
        p = dict(params)
        p.pop("as_json", None)
        id_field, title_field, text_field = p.pop("id_field", None), p.pop("title_field", None), p.pop("text_field", None)
        if id_field or title_field or text_field:
            p["fields"] = Fields(id=id_field, title=title_field, text=text_field)
        p["include_title"] = False if p.pop("no_title", False) else None
        p["progress"] = not p.pop("no_progress", False)
        return cls(**p)

    def validate(self, name: Callable[[str], str] = flag) -> MineConfig:
        """Check values and combinations of settings; reads no data.

        Args:
            name: Maps a field to the name the error shows (the CLI flag by default; a recipe passes its own keys).

        Returns:
            The config itself.

        Raises:
            ConfigError: A bad value or combination, naming ``name(field)``.
        """
        from drama_data.mining import RETRIEVERS, retriever_class
        from drama_data.mining.crosslingual import MODES

        if self.k < 1:
            raise ConfigError(f"{name('k')} must be at least 1, got {self.k}")
        if self.chunk_size < 1 or self.batch_size < 1:
            raise ConfigError(f"{name('chunk_size')} and {name('batch_size')} must be at least 1")
        if self.cross_lingual not in MODES:
            raise ConfigError(f"{name('cross_lingual')}: {self.cross_lingual!r} is not one of {', '.join(MODES)}")
        if not isinstance(self.retriever, str):
            return self
        if self.retriever not in RETRIEVERS:
            raise ConfigError(f"{name('retriever')}: {self.retriever!r} is not one of {', '.join(RETRIEVERS)}")
        if any(getattr(self, f) is not None for f in RAY_FIELDS):
            if self.retriever != "dense":
                raise ConfigError(f"{name('ray')} applies to {name('retriever')} dense only")
            from drama_data.backends.ray_pool import require_ray

            require_ray()
        if self.retriever not in DENSE:
            for f in ("encode_batch_size", "bf16"):
                if getattr(self, f) is not None:
                    raise ConfigError(f"{name(f)} applies to {name('retriever')} dense or hybrid only")
        takes = inspect.signature(retriever_class(self.retriever).__init__).parameters
        rejected = sorted(name(f) for f, kw in RETRIEVER_FIELDS.items()
                          if getattr(self, f) is not None and kw not in takes)
        rejected += sorted(name(_FIELD_OF_KEYWORD.get(k, k)) for k, v in self.retriever_options.items()
                           if v is not None and k not in takes)
        if rejected:
            raise ConfigError(f"{name('retriever')} {self.retriever} does not take option(s) {', '.join(rejected)}")
        return self

    def check_paths(self) -> None:
        """Check that the queries folder and a given corpus exist.

        Raises:
            InputError: One line naming ``--queries`` or ``--corpus``.
        """
        from drama_data.sources import local_path, resolve_source

        local_path(self.queries, "--queries", kind="folder")
        if self.corpus:
            resolve_source(self.corpus, "--corpus")

    def retriever_kwargs(self) -> dict[str, Any]:
        """The keywords `drama_data.mining.make_retriever` gets.

        Returns:
            The settings that are set, under the retriever's keyword names, then ``retriever_options``; ``bf16`` is
                ``auto`` for dense and hybrid unless set; Ray settings without ``ray`` mean ``local``.
        """
        out = {kw: getattr(self, f) for f, kw in RETRIEVER_FIELDS.items() if getattr(self, f) is not None}
        if any(getattr(self, f) is not None for f in RAY_FIELDS):
            out["ray"] = self.ray or "local"
        if self.retriever in DENSE:
            out.setdefault("bf16", "auto")
        out.update(self.retriever_options)
        out.setdefault("progress", self.progress)
        return out

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))
