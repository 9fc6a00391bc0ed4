"""Card templates (Jinja2) and the code that fills them.

- ``dataset_card.md.j2``: the body of every dataset folder's README.md (rendered by ``drama_data.datasets.card``);
- ``model_card.md.j2``: a trained model folder's README.md (:mod:`cards.model_card`: metrics against the
  baselines, training data provenance, loss curve);
- ``mine_card.md.j2``, ``build_card.md.j2``: the bodies of the ``mine`` and ``build`` output folders' README.md
  (rendered by :func:`render` from ``drama_data.mining.mine`` and ``drama_data.build.stage``);
- ``quality_report.md.j2``, ``compare_table.md.j2``, ``compare.md.j2``: the ``## Quality report`` section of a dataset
  card and the side-by-side comparison of ``drama-data report`` (``drama_data.report.render``);
- ``recipe_summary.md.j2``: a recipe run folder's summary.md (``drama_models.recipes.manifest``);
- ``results_table.md.j2``, ``zoo_table.md.j2``: the evaluation table (results.md) and what ``drama-models zoo``
  prints (``drama_models.evaluation``, ``drama_models.zoo``);
- :mod:`cards.figures`: the PNGs the cards embed (loss curve; query length and language distribution);

This folder is a package of the distribution (``pip install .`` ships the templates as package data), so the
templates are found the same way in a checkout and in an installed copy: :func:`template_text`.
"""
from __future__ import annotations

import json
from importlib import resources

import jinja2


def template_text(name: str) -> str:
    """The text of the shipped template ``name`` (e.g. ``dataset_card.md.j2``)."""
    ref = resources.files("cards").joinpath(name)
    if not ref.is_file():
        raise FileNotFoundError(f"card template {name!r} is not shipped in the cards package")
    return ref.read_text(encoding="utf-8")


def render(name: str, **values) -> str:
    """The shipped template ``name`` filled with ``values`` (Markdown text).

    Blocks take no line of their own (``trim_blocks``, ``lstrip_blocks``), the template's last newline is kept, a
    value the template names but the caller did not pass is an error (``StrictUndefined``), and nothing is escaped
    (the output is Markdown). Filter ``json``: :func:`json.dumps` (Jinja's ``tojson`` escapes ``<``, ``>``, ``&``).
    """
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, trim_blocks=True,
                             lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["json"] = json.dumps
    return env.from_string(template_text(name)).render(**values)
