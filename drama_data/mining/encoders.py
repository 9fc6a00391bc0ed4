"""How dense mining gets its encoder: the `Encoder` protocol, `load_encoder` (a ``--model`` value
and ``--encoder`` kind -> an encoder), the built-in sentence-transformers kind, and the plug-in registry that
other packages fill with extra ``--encoder`` kinds and model-name resolvers.

drama_data never imports the model package; a package that has encoders of its own registers them here, so
``drama-data mine --retriever dense --model X`` can load them:

- an `EncoderKind`: a name (the ``--encoder`` value, e.g. ``drama``), ``load(path, *, batch_size,
  device, max_length, dim, bf16) -> Encoder`` (an object with ``encode_queries`` / ``encode_documents``), and
  ``recognises(folder) -> bool`` (does ``--encoder auto`` give this local folder to this kind?);
- a name resolver: ``resolve(name) -> str | None``: a ``--model`` value that is not an existing path (a short
  name, a zoo name) -> a folder or Hub id, or ``None`` when the name is not the resolver's; it raises an
  exception whose message is one line (``ValueError`` or `drama_data.errors.DramaError`) for a name it
  knows but cannot provide.

Registration: a function ``register(registry: EncoderRegistry) -> None`` named in the ``drama_data.encoders``
entry-point group (``pyproject.toml``: ``[project.entry-points."drama_data.encoders"]``), read once, on the first
lookup, with `importlib.metadata.entry_points`; or `EncoderRegistry.add_kind` /
`EncoderRegistry.add_resolver` from Python. A plug-in that fails to load is logged with its reason and
kept in `EncoderRegistry.failures`: asking for its kind by name gives one line saying why.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from drama_data.errors import ConfigError, DramaError
from drama_data.precision import autocast, resolve_bf16

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "drama_data.encoders"
BUILT_IN_KINDS = ("auto", "sentence-transformers")


@dataclass(frozen=True)
class EncoderKind:
    """One ``--encoder`` kind that a plug-in registers with [`EncoderRegistry.add_kind`][drama_data.mining.encoders.EncoderRegistry.add_kind].

    Attributes:
        name: The ``--encoder`` value (e.g. ``drama``); not a built-in one (``auto``, ``sentence-transformers``).
        load: ``load(path, *, batch_size, device, max_length, dim, bf16) -> encoder``, an object with
            ``encode_queries`` / ``encode_documents`` returning ``[n, dim]`` arrays.
        recognises: ``recognises(folder) -> bool``: whether ``--encoder auto`` gives this local folder to this kind.
        takes_dim: Whether ``load`` cuts embeddings to a Matryoshka ``dim`` itself.
    """

    name: str
    load: Callable[..., Any]
    recognises: Callable[[Path], bool]
    takes_dim: bool = False


class EncoderRegistry:
    """The encoder kinds and ``--model`` name resolvers that plug-in packages add to dense mining.

    drama_data never imports the model package; a package with encoders of its own registers them here, so that
    ``drama-data mine --retriever dense --encoder KIND --model X`` can load them. Register with a function
    ``register(registry: EncoderRegistry) -> None`` named in the ``drama_data.encoders`` entry-point group, read
    once on the first lookup:

    ```toml
    [project.entry-points."drama_data.encoders"]
    my-encoder = "my_package.plugin:register"
    ```

    ```python
    from drama_data.mining.encoders import EncoderKind

    def register(registry):
        registry.add_kind(EncoderKind(name="mine", load=load_my_encoder, recognises=is_my_folder))
        registry.add_resolver(lambda name: MY_ZOO.get(name))  # None: not my name
    ```

    or call `add_kind` / `add_resolver` on `registry()` from Python. A plug-in that fails to load is logged and
    kept in ``failures``; asking for its kind then gives one line saying why.

    Attributes:
        kinds: Registered kinds by name, in registration order.
        resolvers: Name resolvers, asked in registration order.
        failures: Entry-point name -> why it did not load.
    """

    def __init__(self) -> None:
        self.kinds: dict[str, EncoderKind] = {}
        self.resolvers: list[Callable[[str], str | None]] = []
        self.failures: dict[str, str] = {}  # entry-point name -> why it did not load
        self._loaded = False

    def add_kind(self, kind: EncoderKind) -> None:
        """Register an ``--encoder`` kind (a later kind of the same name replaces the earlier).

        Args:
            kind: The [`EncoderKind`][drama_data.mining.encoders.EncoderKind].

        Raises:
            ValueError: The name is a built-in kind.
        """
        if kind.name in BUILT_IN_KINDS:
            raise ValueError(f"encoder kind {kind.name!r} is built in")
        self.kinds[kind.name] = kind

    def add_resolver(self, resolve: Callable[[str], str | None]) -> None:
        """Register a ``--model`` name resolver.

        Args:
            resolve: ``resolve(name) -> str | None``: a folder or Hub id for a name that is not an existing path,
                or ``None`` when the name is not the resolver's; for a name it knows but cannot provide it raises
                an exception with a one-line message (``ValueError`` or `DramaError`).
        """
        self.resolvers.append(resolve)

    def load_entry_points(self) -> None:
        """Run each ``drama_data.encoders`` entry point's ``register(self)`` once (later calls do nothing)."""
        if self._loaded:
            return
        self._loaded = True
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            try:
                ep.load()(self)
            except Exception as exc:  # a broken plug-in must not break the built-in kinds
                self.failures[ep.name] = f"{ep.value}: {type(exc).__name__}: {exc}"
                log.warning("encoder plug-in %s (%s) did not load: %s", ep.name, ep.value, exc)

    def names(self) -> tuple[str, ...]:
        """Every ``--encoder`` value.

        Returns:
            The built-in kinds, then the registered kinds in registration order.
        """
        self.load_entry_points()
        return BUILT_IN_KINDS + tuple(self.kinds)

    def kind(self, name: str) -> EncoderKind | None:
        self.load_entry_points()
        return self.kinds.get(name)

    def recognise(self, folder: Path) -> str | None:
        """The kind ``--encoder auto`` picks for a local folder.

        Args:
            folder: The model folder.

        Returns:
            The first registered kind that claims ``folder``, else ``None`` (sentence-transformers).
        """
        self.load_entry_points()
        for kind in self.kinds.values():
            if kind.recognises(folder):
                return kind.name
        return None

    def resolve(self, name: str) -> str:
        """Resolve a ``--model`` name through the resolvers.

        Args:
            name: A ``--model`` value that is not an existing path.

        Returns:
            The first answer that is not ``None``; ``name`` unchanged when none answers.
        """
        self.load_entry_points()
        for resolve in self.resolvers:
            found = resolve(name)
            if found is not None:
                return str(found)
        return name


_REGISTRY = EncoderRegistry()


def registry() -> EncoderRegistry:
    """The process-wide registry (entry points are read on its first lookup)."""
    return _REGISTRY


class Encoder(Protocol):
    """What the dense miner needs from an encoder."""

    def encode_queries(self, texts: Sequence[str]) -> Any: ...

    def encode_documents(self, texts: Sequence[str]) -> Any: ...


def to_numpy(x) -> np.ndarray:
    """An encoder's output (a torch tensor, a list, an array) as a float32 numpy array."""
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=np.float32)


class SentenceTransformerEncoder:
    """``SentenceTransformer`` behind the :class:`Encoder` protocol (``encode_query``/``encode_document``)."""

    def __init__(self, path: str, *, batch_size: int = 64, device: str | None = None,
                 max_length: int | None = None, bf16: bool | str = False) -> None:
        from sentence_transformers import SentenceTransformer

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
        with autocast(self.device_type, self.bf16):
            return self.model.encode_query(list(texts), batch_size=self.batch_size, show_progress_bar=False,
                                           convert_to_numpy=True)

    def encode_documents(self, texts):
        with autocast(self.device_type, self.bf16):
            return self.model.encode_document(list(texts), batch_size=self.batch_size, show_progress_bar=False,
                                              convert_to_numpy=True)


def load_encoder(path: str, kind: str = "auto", *, batch_size: int = 64, device: str | None = None,
                 max_length: int | None = None, dim: int | None = None,
                 bf16: bool | str = False) -> tuple[Encoder, str]:
    """Load the encoder at ``path``; returns ``(encoder, kind_used)`` (the kinds: `drama_data.mining.dense`).
    ``bf16``: autocast encoding to bf16 (``True``, ``"auto"`` = where the device computes bf16 natively)."""
    plugins = registry()
    if kind not in plugins.names():
        if kind in plugins.failures:
            raise ConfigError(f"--encoder {kind}: its plug-in did not load ({plugins.failures[kind]})")
        names = plugins.names()
        raise ConfigError(f"--encoder {kind!r}: use {', '.join(names[:-1])} or {names[-1]}")
    p = Path(path).expanduser()
    if not p.exists():  # a short name (minilm, all-MiniLM-L6-v2), a zoo name or a Hub id, as drama-models takes them
        try:
            path = plugins.resolve(str(path))
        except (ValueError, DramaError) as exc:
            raise ConfigError(str(exc)) from None
        p = Path(path).expanduser()
    if kind == "auto":
        kind = plugins.recognise(p) or "sentence-transformers"
    plugin = plugins.kind(kind)
    if plugin is not None:
        if dim is not None and not plugin.takes_dim:
            raise ConfigError(f"--dim (Matryoshka truncation) is not supported by --encoder {kind}")
        return plugin.load(str(p), batch_size=batch_size, device=device, max_length=max_length, dim=dim,
                           bf16=bf16), kind
    if dim is not None:
        cutters = [k.name for k in plugins.kinds.values() if k.takes_dim]
        raise ConfigError("--dim (Matryoshka truncation) " + (f"needs --encoder {' or '.join(cutters)}" if cutters
                                                              else "is not supported by sentence-transformers models"))
    return SentenceTransformerEncoder(str(p), batch_size=batch_size, device=device, max_length=max_length,
                                      bf16=bf16), kind
