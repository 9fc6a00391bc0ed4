"""RoPE context extension for decoder backbones (Llama, Qwen2, Gemma 3), through transformers' own RoPE types.

``apply_rope_scaling(config, "linear:4")`` rewrites a loaded config's ``rope_parameters`` before the weights load
(checked against transformers 5.19, ``modeling_rope_utils``):

- ``linear:F`` (position interpolation): positions divided by ``F``; ``max_position_embeddings`` times ``F``;
- ``yarn:F`` (YaRN): ``original_max_position_embeddings`` = the trained length, ``max_position_embeddings``
  times ``F``;
- a dict is taken as the ``rope_parameters`` entry itself (e.g. ``{"rope_type": "yarn", "factor": 4.0,
  "beta_fast": 32}``).

Models with one RoPE per layer type (Gemma 3: ``sliding_attention`` / ``full_attention``) get the scaling on
their global (``full_attention``) layers only, as Gemma 3 itself was extended to 128k; a sliding-window layer
never sees positions further apart than its window. Encoders with absolute position embeddings (BERT, RoBERTa,
MiniLM) cannot be extended this way: that is one ``ValueError`` naming the option.

In: a transformers config, the spec. Out: the config, changed in place, and a one-line description
(:func:`describe_rope` gives it again for any config).
"""
from __future__ import annotations

ROPE_TYPES = ("linear", "yarn")


def parse_rope_scaling(spec: str | dict, name: str = "rope_scaling") -> dict:
    """``"linear:4"`` / ``"yarn:2.5"`` / a dict -> a ``rope_parameters`` entry ``{"rope_type", "factor", ...}``."""
    if isinstance(spec, dict):
        entry = dict(spec)
        if entry.get("rope_type", entry.get("type")) not in ROPE_TYPES:
            raise ValueError(f"option `{name}`={spec!r}: rope_type must be one of {', '.join(ROPE_TYPES)}")
        entry["rope_type"] = entry.pop("type", entry.get("rope_type"))
    else:
        kind, _, factor = str(spec).strip().partition(":")
        if kind not in ROPE_TYPES or not factor:
            raise ValueError(f"option `{name}`={spec!r} must be TYPE:FACTOR with TYPE one of "
                             f"{', '.join(ROPE_TYPES)} (e.g. linear:4)")
        try:
            entry = {"rope_type": kind, "factor": float(factor)}
        except ValueError:
            raise ValueError(f"option `{name}`={spec!r}: factor {factor!r} is not a number") from None
    factor = entry.get("factor")
    if not isinstance(factor, (int, float)) or factor < 1:
        raise ValueError(f"option `{name}`={spec!r}: factor must be a number >= 1")
    entry["factor"] = float(factor)
    return entry


def apply_rope_scaling(config, spec: str | dict, name: str = "model") -> str:
    """Scale ``config``'s RoPE as ``spec`` says (see the module docstring); returns :func:`describe_rope`."""
    entry = parse_rope_scaling(spec)
    params = getattr(config, "rope_parameters", None)
    if not params:
        raise ValueError(f"option `rope_scaling`={spec!r}: {name} (model_type {getattr(config, 'model_type', '?')!r}) "
                         "has no rotary position embeddings to scale (absolute positions cannot be extended)")
    nested = _nested_keys(params)
    if nested:
        keys = ["full_attention"] if "full_attention" in nested else nested
        targets = [params[k] for k in keys if params.get(k) is not None]
    else:
        targets = [params]
    trained = int(config.max_position_embeddings)
    for target in targets:
        target.update(entry)
        if entry["rope_type"] == "yarn":
            target["original_max_position_embeddings"] = trained
    config.max_position_embeddings = int(round(trained * entry["factor"]))
    if hasattr(config, "validate_rope"):
        config.validate_rope()
    return describe_rope(config)


def _nested_keys(params: dict) -> list[str]:
    """The layer types of a per-layer-type ``rope_parameters`` (Gemma 3), or ``[]`` for one global entry."""
    return [k for k, v in params.items() if isinstance(v, dict)]


def describe_rope(config) -> str:
    """One line on a config's positions: ``"rope default (32768 positions)"``, ``"rope linear x4 on
    full_attention (2048 positions)"``, or ``"absolute positions (512)"``."""
    params = getattr(config, "rope_parameters", None)
    limit = getattr(config, "max_position_embeddings", None)
    if not params:
        return f"absolute positions ({limit})" if limit else "positions unknown"
    nested = _nested_keys(params)
    parts = []
    for key, entry in ([(k, params[k]) for k in nested] if nested else [("", params)]):
        if not entry:
            continue
        kind = entry.get("rope_type", "default")
        text = kind if kind == "default" else f"{kind} x{entry.get('factor', 1):g}"
        parts.append(f"{text} on {key}" if key else text)
    return f"rope {', '.join(parts)} ({limit} positions)"
