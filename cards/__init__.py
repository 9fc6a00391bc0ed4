"""Card templates (Jinja2) and the code that fills them.

- ``dataset_card.md.j2``: the body of every dataset folder's README.md (rendered by ``drama_data.datasets.card``);
- ``model_card.md.j2``: a trained model folder's README.md (:mod:`cards.model_card`: metrics against the
  baselines, training data provenance, loss curve);
- :mod:`cards.figures`: the PNGs the cards embed (loss curve; query length and language distribution);

This folder is a package of the distribution (``pip install .`` ships the templates as package data), so the
templates are found the same way in a checkout and in an installed copy: :func:`template_text`.
"""
from __future__ import annotations

from importlib import resources


def template_text(name: str) -> str:
    """The text of the shipped template ``name`` (e.g. ``dataset_card.md.j2``)."""
    ref = resources.files("cards").joinpath(name)
    if not ref.is_file():
        raise FileNotFoundError(f"card template {name!r} is not shipped in the cards package")
    return ref.read_text(encoding="utf-8")
