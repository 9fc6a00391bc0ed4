"""One reading of :class:`~drama_models.training.config.TrainConfig`'s fields for every front end.

``train_options()`` -> one :class:`TrainOption` per field (name, kind from the type hint, whether ``None`` is
allowed, help text, default, and the ``--help`` section it belongs to). The ``train`` command turns them into ``--flags`` (``drama_models/cli.py``) and the
recipe ``train`` stage into recipe keys (``drama_models/recipes/stages/train.py``), so a new training option is
one field in ``TrainConfig`` and shows up in both.
"""
from __future__ import annotations

import types
import typing
from dataclasses import MISSING, dataclass, fields
from typing import Any

from drama_models.training.config import DatasetSpec, TrainConfig

KINDS = ("datasets", "list", "bool", "int", "float", "str")

# The section of ``drama-models train --help`` each field is listed in (every field has one: a test checks).
SECTIONS = {
    "Input": ("datasets", "query_max_len", "passage_max_len", "length_buckets"),
    "Model/backend": ("model", "pooling", "normalize", "bidirectional", "query_prefix", "document_prefix", "bf16",
                      "gradient_checkpointing"),
    "Objective": ("batch_size", "train_group_size", "temperature", "distill_weight", "contrastive_weight",
                  "distill_temperature", "negatives_cross_device", "matryoshka_dims", "matryoshka_weights",
                  "gradcache_chunk_size", "encode_chunk_size"),
    "Optimisation": ("learning_rate", "weight_decay", "adam_beta1", "adam_beta2", "adam_epsilon", "max_grad_norm",
                     "max_steps", "warmup_steps", "lr_scheduler", "seed"),
    "Output": ("output_dir", "logging_steps", "save_steps", "save_total_limit", "keep_checkpoints", "resume",
               "show_progress"),
    "Scale": ("fsdp",),
}
_SECTION_OF = {name: section for section, names in SECTIONS.items() for name in names}


@dataclass(frozen=True)
class TrainOption:
    """One ``TrainConfig`` field as a front end sees it. ``kind``: ``datasets`` (the repeatable PATH[:WEIGHT]
    list), ``list`` (comma-separated on the command line), ``bool``, ``int``, ``float`` or ``str``; ``optional``:
    ``None`` is a valid value (``none`` on the command line)."""

    name: str
    kind: str
    optional: bool
    help: str
    default: Any

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def section(self) -> str:
        """Where ``--help`` lists it (:data:`SECTIONS`)."""
        return _SECTION_OF.get(self.name, "Other options")

    @property
    def yaml_types(self) -> tuple[type, ...]:
        """The Python types a recipe value may have (strings too where :class:`TrainConfig` parses them)."""
        if self.kind in ("datasets", "list"):
            return (list, str)
        if self.name == "bf16":  # auto | true | false, and YAML's true/false
            return (str, bool)
        return {"bool": (bool,), "int": (int,), "float": (float,)}.get(self.kind, (str,))


def _kind(hint) -> tuple[str, bool]:
    """``(kind, optional)`` of a type hint such as ``int``, ``float | None``, ``list[int] | None``."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
    else:
        args = (hint,)
    optional = type(None) in args
    base = next(a for a in args if a is not type(None))
    if typing.get_origin(base) is list:
        return ("datasets" if typing.get_args(base) == (DatasetSpec,) else "list"), optional
    for kind, typ in (("bool", bool), ("int", int), ("float", float)):
        if base is typ:
            return kind, optional
    return "str", optional


def train_options(exclude: tuple[str, ...] = ()) -> list[TrainOption]:
    """Every ``TrainConfig`` field but ``exclude``, in declaration order."""
    hints = typing.get_type_hints(TrainConfig)
    out = []
    for f in fields(TrainConfig):
        if f.name in exclude:
            continue
        kind, optional = _kind(hints[f.name])
        default = f.default_factory() if f.default is MISSING else f.default
        out.append(TrainOption(f.name, kind, optional, f.metadata.get("help", ""), default))
    return out
