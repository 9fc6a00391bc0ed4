"""A trained model folder's card (``README.md`` from ``model_card.md.j2``) and its loss curve (``loss_curve.png``).

Filled from: the evaluation rows (``drama_models.evaluation.evaluate`` results: this model and the baselines,
per collection), the training config (the dict ``drama-models train --config`` reads), the folder's
``train_log.jsonl`` (loss curve), its ``training_complete.json`` (the trainer's summary: the backbone's positions,
the longest input trained on, rows and steps per length bucket) and each training dataset's ``provenance.json`` (written by ``drama-data
build``: rows, counts by source/rule/language, inputs, what the filters removed).
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2
import yaml

from cards import template_text
from cards.figures import loss_curve
from cards.train_log import read_train_log

SETTINGS = ("max_steps", "batch_size", "train_group_size", "learning_rate", "temperature", "warmup_steps",
            "query_max_len", "passage_max_len", "length_buckets", "matryoshka_dims", "gradcache_chunk_size", "seed")
DISTILL_SETTINGS = ("distill_weight", "distill_temperature", "contrastive_weight")  # shown when distilling
DONE_FILE = "training_complete.json"  # drama_models.training.trainer.DONE_FILE (cards does not import drama_models)


def training_summary(folder: str | Path) -> dict[str, Any]:
    """The ``summary`` the trainer wrote into ``<folder>/training_complete.json`` (``{}`` when absent)."""
    path = Path(folder) / DONE_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("summary") or {}
    except ValueError:
        return {}


def _setting(key: str, value: Any) -> Any:
    if key == "length_buckets" and isinstance(value, (list, tuple)):  # [[256, 32], [1024, 8]] -> 256:32, 1024:8
        return ", ".join(str(b) if isinstance(b, str) else f"{b[0]}:{b[1]}" for b in value)
    return value


def _dataset_info(spec: str) -> dict[str, Any]:
    path = str(spec).rsplit(":", 1)[0] if not Path(str(spec)).exists() and ":" in str(spec) else str(spec)
    info: dict[str, Any] = {"path": path, "rows": None, "counts": {}, "inputs": [], "removed": {}}
    prov = Path(path) / "provenance.json"
    if prov.is_file():
        data = json.loads(prov.read_text(encoding="utf-8"))
        info.update(rows=data.get("rows"), counts=data.get("counts") or {}, removed=data.get("removed") or {},
                    inputs=[{k: i.get(k) for k in ("name", "group", "rows", "retriever", "rerank")}
                            for i in data.get("inputs") or []])
    return info


def render_model_card(*, title: str, system: str, results: Sequence[dict], train_config: dict,
                      log: Sequence[dict], loss_png: str | None, recipe: str | None = None,
                      manifest: str | None = None, summary: dict | None = None) -> str:
    """The card's Markdown (with YAML front matter); ``summary``: :func:`training_summary`'s dict."""
    base = str(train_config.get("model", ""))
    front: dict[str, Any] = {"library_name": "sentence-transformers", "pipeline_tag": "sentence-similarity",
                             "tags": ["drama", "dense-retrieval", "sentence-transformers"]}
    if base and not Path(base).exists():
        front["base_model"] = base
    by_dataset: dict[str, list[dict]] = {}
    for r in results:
        by_dataset.setdefault(r["dataset"], []).append(r)
    env = jinja2.Environment(undefined=jinja2.ChainableUndefined, autoescape=False, trim_blocks=True,
                             lstrip_blocks=True)
    shown = SETTINGS + (DISTILL_SETTINGS if train_config.get("distill_weight") else ())
    settings = [(k, _setting(k, train_config[k])) for k in shown if train_config.get(k) is not None]
    summary = summary or {}
    return env.from_string(template_text("model_card.md.j2")).render(
        front_matter=yaml.safe_dump(front, sort_keys=False).strip(), title=title, system=system, recipe=recipe,
        base_model=base, results_by_dataset=list(by_dataset.items()),
        datasets=[_dataset_info(d) for d in train_config.get("datasets") or []], settings=settings,
        loss_png=loss_png, first_loss=f"{log[0]['loss']:.4f}" if log else None,
        last_loss=f"{log[-1]['loss']:.4f}" if log else None, first_step=log[0]["step"] if log else None,
        last_step=log[-1]["step"] if log else None, query_prefix=train_config.get("query_prefix") or "",
        manifest=manifest, positions=summary.get("positions"), longest_tokens=summary.get("longest_tokens"),
        buckets=summary.get("length_buckets") or [],
    )


def write_model_card(model_dir: str | Path, *, results: Sequence[dict], system: str, train_config: dict,
                     recipe: str | None = None, run_dir: str | Path | None = None) -> Path:
    """Write ``<model_dir>/loss_curve.png`` (when the folder has a training log) and ``<model_dir>/README.md``."""
    folder = Path(model_dir)
    log = read_train_log(folder)
    png = loss_curve(log, folder / "loss_curve.png", title=f"{system}: training loss")
    manifest = str(Path(run_dir) / "manifest.json") if run_dir else None
    text = render_model_card(title=system, system=system, results=results,
                             train_config={k: (v if not hasattr(v, "path") else v.path) for k, v in train_config.items()},
                             log=log, loss_png=png.name if png else None, recipe=recipe, manifest=manifest,
                             summary=training_summary(folder))
    (folder / "README.md").write_text(text, encoding="utf-8")
    return folder / "README.md"
