"""Target shapes: parse ``hidden=768,ffn=3072,heads=12,layers=12[,kv_heads=..]`` or a named target, and check
a target against a source model *before* any work starts.

Named targets (DRAMA, Ma et al. 2025: Llama-3.2-1B pruned to 0.1B and 0.3B):

- ``drama-0.1b``: hidden 768, FFN 3072, 12 heads, 12 layers (paper). ``kv_heads=12``: the released
  ``facebook/drama-base`` config has ``num_key_value_heads: 12`` and ``head_dim: 64``, i.e. plain multi-head
  attention: the source's 8 grouped KV heads are *copied* so every kept query head has its own KV head.
- ``drama-0.3b``: hidden 1024, FFN 4096, 16 heads, 16 layers (paper). ``kv_heads=16`` follows the same
  multi-head layout as the 0.1B model (not checked against the released 0.3B config).

- ``full``: the source's own shape (nothing sliced; no calibration needed). With ``--vocab-from`` this is
  vocabulary-only pruning, e.g. Gemma-3-270M (168M of whose 268M parameters are the embedding) cut to the
  tokens of the languages in play while every layer, head and neuron stays.

Decisions (documented here, tested in ``tests/drama_models/pruning/test_targets.py``):

- **head_dim is never pruned.** It is kept from the source and written to the config explicitly, because
  RoPE, Gemma-3's ``q_norm``/``k_norm`` and ``query_pre_attn_scalar`` are tied to it. So the attention width is
  ``heads * head_dim``, which may differ from ``hidden`` (it already does in Gemma-3: 4 x 256 vs 640).
  For Llama-3.2-1B (head_dim 64) both DRAMA targets give ``hidden / heads == 64`` anyway.
- **hidden must be a multiple of heads**: transformers' own ``LlamaConfig``/``Gemma3TextConfig`` validation
  rejects anything else, so the pruned checkpoint would not load.
- **KV groups**: every new KV head is one source KV head (kept or copied) and its ``heads / kv_heads`` query
  heads all come from that source group, so GQA stays exact. Hence the query heads per KV group may shrink or
  stay, never grow; ``kv_heads`` may exceed the source's only by copying (e.g. ``kv_heads == heads``: plain MHA).
  By default the source's group size is kept (``kv_heads = heads / source_group``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from drama_models.pruning.errors import PruningError

TARGET_KEYS = ("hidden", "ffn", "heads", "layers", "kv_heads")
REQUIRED_KEYS = ("hidden", "ffn", "heads", "layers")


@dataclass(frozen=True)
class Shape:
    """The prunable dimensions of a decoder: one hidden size, and per layer the same FFN/heads/KV heads."""

    hidden: int
    ffn: int
    heads: int
    kv_heads: int
    layers: int
    head_dim: int

    @property
    def group(self) -> int:
        """Query heads per KV head."""
        return self.heads // self.kv_heads

    @classmethod
    def from_config(cls, config) -> Shape:
        heads = config.num_attention_heads
        return cls(
            hidden=config.hidden_size,
            ffn=config.intermediate_size,
            heads=heads,
            kv_heads=getattr(config, "num_key_value_heads", None) or heads,
            layers=config.num_hidden_layers,
            head_dim=getattr(config, "head_dim", None) or config.hidden_size // heads,
        )

    def as_text(self) -> str:
        return (
            f"hidden={self.hidden},ffn={self.ffn},heads={self.heads},kv_heads={self.kv_heads},"
            f"layers={self.layers} (head_dim {self.head_dim})"
        )


@dataclass(frozen=True)
class Target:
    """A requested shape; ``kv_heads=None`` means "keep the source's query heads per KV group"."""

    hidden: int
    ffn: int
    heads: int
    layers: int
    kv_heads: int | None = None
    name: str | None = None

    @property
    def keeps_shape(self) -> bool:
        """True for the ``full`` target: the source's shape, whatever it is."""
        return self.name == "full"

    def as_text(self) -> str:
        if self.keeps_shape:
            return "full"
        kv = "" if self.kv_heads is None else f",kv_heads={self.kv_heads}"
        return f"hidden={self.hidden},ffn={self.ffn},heads={self.heads},layers={self.layers}{kv}"

    def to_dict(self) -> dict:
        return asdict(self)


NAMED_TARGETS: dict[str, Target] = {
    "drama-0.1b": Target(hidden=768, ffn=3072, heads=12, layers=12, kv_heads=12, name="drama-0.1b"),
    "drama-0.3b": Target(hidden=1024, ffn=4096, heads=16, layers=16, kv_heads=16, name="drama-0.3b"),
}


FULL_TARGET = Target(hidden=0, ffn=0, heads=0, layers=0, name="full")  # resolved against the source


def parse_target(text: str | Target, option: str = "--target") -> Target:
    """``"drama-0.1b"``, ``"full"`` or ``"hidden=768,ffn=3072,heads=12,layers=12[,kv_heads=3]"`` -> :class:`Target`."""
    if isinstance(text, Target):
        return text
    spec = (text or "").strip()
    if spec.lower() == "full":
        return FULL_TARGET
    if spec.lower() in NAMED_TARGETS:
        return NAMED_TARGETS[spec.lower()]
    if "=" not in spec:
        raise PruningError(
            f"{option} {text!r}: not a named target ({', '.join(NAMED_TARGETS)}, full) nor a list like "
            "'hidden=768,ffn=3072,heads=12,layers=12[,kv_heads=3]'"
        )
    values: dict[str, int] = {}
    for part in spec.split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        key = key.strip().lower()
        if not sep or key not in TARGET_KEYS:
            raise PruningError(f"{option} {text!r}: unknown entry {part.strip()!r}; allowed keys: {', '.join(TARGET_KEYS)}")
        if key in values:
            raise PruningError(f"{option} {text!r}: {key} given twice")
        try:
            number = int(value.strip())
        except ValueError:
            raise PruningError(f"{option} {text!r}: {key}={value.strip()!r} is not an integer") from None
        if number < 1:
            raise PruningError(f"{option} {text!r}: {key} must be >= 1, got {number}")
        values[key] = number
    missing = [k for k in REQUIRED_KEYS if k not in values]
    if missing:
        raise PruningError(f"{option} {text!r}: missing {', '.join(missing)} (all of {', '.join(REQUIRED_KEYS)} are needed)")
    return Target(**values)


def _valid_kv_choices(heads: int, source: Shape) -> list[int]:
    return [
        kv
        for kv in range(1, heads + 1)
        if heads % kv == 0 and heads // kv <= source.group and kv <= source.kv_heads * (source.group // (heads // kv))
    ]


def resolve_target(target: Target | str, source: Shape, option: str = "--target") -> Shape:
    """Check ``target`` against ``source`` and return the exact final :class:`Shape`.

    Raises :class:`PruningError` (naming ``option``) when a dimension grows, ``hidden % heads != 0``, or the
    query heads cannot be grouped over the KV heads (see the module docstring).
    """
    target = parse_target(target, option)
    if target.keeps_shape:
        return source
    for key, src in (("hidden", source.hidden), ("ffn", source.ffn), ("heads", source.heads), ("layers", source.layers)):
        if getattr(target, key) > src:
            raise PruningError(
                f"{option}: {key}={getattr(target, key)} is larger than the source model's {src} "
                f"(source: {source.as_text()}); pruning can only shrink"
            )
    if target.hidden % target.heads:
        raise PruningError(
            f"{option}: heads={target.heads} does not divide hidden={target.hidden} (transformers requires "
            f"hidden_size % num_attention_heads == 0; head_dim stays {source.head_dim}). Head counts that divide "
            f"{target.hidden}, up to the source's {source.heads}: "
            f"{[h for h in range(1, source.heads + 1) if target.hidden % h == 0]}"
        )
    kv = target.kv_heads
    if kv is None:
        if target.heads % source.group:
            raise PruningError(
                f"{option}: heads={target.heads} is not a multiple of the source's {source.group} query heads per KV "
                f"head, so kv_heads cannot be derived; add kv_heads=N, one of {_valid_kv_choices(target.heads, source)}"
            )
        kv = target.heads // source.group
    if target.heads % kv:
        raise PruningError(f"{option}: kv_heads={kv} does not divide heads={target.heads}")
    group = target.heads // kv
    if group > source.group:
        raise PruningError(
            f"{option}: heads={target.heads} over kv_heads={kv} puts {group} query heads on each KV head, more than "
            f"the source's {source.group}; a KV group can only lose query heads. "
            f"Valid kv_heads for heads={target.heads}: {_valid_kv_choices(target.heads, source)}"
        )
    if kv > source.kv_heads * (source.group // group):
        raise PruningError(
            f"{option}: kv_heads={kv} with {group} query heads each does not fit the source's {source.kv_heads} KV "
            f"groups of {source.group}; valid kv_heads for heads={target.heads}: "
            f"{_valid_kv_choices(target.heads, source)}"
        )
    return Shape(hidden=target.hidden, ffn=target.ffn, heads=target.heads, kv_heads=kv, layers=target.layers,
                 head_dim=source.head_dim)


__all__ = ["FULL_TARGET", "NAMED_TARGETS", "Shape", "Target", "parse_target", "resolve_target"]
