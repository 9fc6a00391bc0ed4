"""drama_models' plug-ins for dense mining, registered through the ``drama_data.encoders`` entry points.

Light to import (no torch): ``drama-data mine --help`` lists the registered ``--encoder`` kinds, which loads
every entry point; the DRAMA encoder itself (``drama_models.encoder``, torch) is imported only when a folder is
recognised or an encoder is loaded.
"""
from __future__ import annotations

from pathlib import Path


def _load_drama_encoder(path: str, **kwargs):
    """``--encoder drama``: :class:`drama_models.encoder.MiningEncoder` for ``path`` (kwargs as its constructor)."""
    from drama_models.encoder import MiningEncoder

    return MiningEncoder(path, **kwargs)


def _is_drama_checkpoint(path: Path) -> bool:
    """``--encoder auto``: whether ``path`` is a folder the DRAMA encoder loads (see
    :func:`drama_models.encoder.is_drama_checkpoint`)."""
    from drama_models.encoder import is_drama_checkpoint

    return is_drama_checkpoint(path)


def register_mining_encoder(registry) -> None:
    """Entry point of ``drama_data.encoders``: ``--encoder drama`` (and ``auto`` for DRAMA folders) loads
    :class:`drama_models.encoder.MiningEncoder`."""
    from drama_data.mining.encoders import EncoderKind

    registry.add_kind(EncoderKind(name="drama", load=_load_drama_encoder, recognises=_is_drama_checkpoint,
                                  takes_dim=True))


def register_mining_names(registry) -> None:
    """Entry point of ``drama_data.encoders``: ``drama-data mine --model`` takes the names ``drama-models`` takes
    (zoo names, short names)."""
    from drama_models.zoo import resolve_for_mining

    registry.add_resolver(resolve_for_mining)
