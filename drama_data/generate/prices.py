"""API prices per model (US dollars per 1M input/output tokens): a built-in table, overridable with YAML.

The built-in table is ``drama_data/templates/prices.yaml``; ``--prices FILE`` adds or replaces entries with the same
layout (``model: {input: 0.15, output: 0.60}``). Used by ``generate --dry-run`` (cost of a plan) and
``--max-cost`` (stop a run when its spend reaches the limit).
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from drama_data.errors import ConfigError


@dataclass(frozen=True)
class Price:
    """Dollars per 1M prompt (``input``) and completion (``output``) tokens, and where the entry came from."""

    model: str
    input: float
    output: float
    source: str

    def cost(self, prompt_tokens: float, completion_tokens: float) -> float:
        return (prompt_tokens * self.input + completion_tokens * self.output) / 1e6


def _parse(text: str, source: str) -> dict[str, Price]:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of model names to {{input: ..., output: ...}}")
    out = {}
    for model, entry in data.items():
        if not isinstance(entry, dict) or set(entry) - {"input", "output"} or not {"input", "output"} <= set(entry):
            raise ConfigError(f"{source}: entry {model!r} must be {{input: <$ per 1M>, output: <$ per 1M>}}")
        try:
            inp, outp = float(entry["input"]), float(entry["output"])
        except (TypeError, ValueError):
            raise ConfigError(f"{source}: entry {model!r}: prices must be numbers") from None
        if inp < 0 or outp < 0:
            raise ConfigError(f"{source}: entry {model!r}: prices must not be negative")
        out[str(model)] = Price(str(model), inp, outp, source)
    return out


def load_prices(path: str | Path | None = None) -> dict[str, Price]:
    """The built-in table, updated with the entries of ``path`` (a YAML file) when given."""
    builtin = resources.files("drama_data.templates").joinpath("prices.yaml").read_text(encoding="utf-8")
    prices = _parse(builtin, "built-in price table")
    if path:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"--prices {path}: no such file")
        prices.update(_parse(p.read_text(encoding="utf-8"), str(p)))
    return prices


def price_for(model: str, prices: dict[str, Price]) -> Price | None:
    """The entry for ``model``: exact, else the longest entry it starts with, else without a ``provider/``."""
    for name in (model, model.rsplit("/", 1)[-1]):
        if name in prices:
            return prices[name]
        starts = [k for k in prices if name.startswith(k + "-")]
        if starts:
            return prices[max(starts, key=len)]
    return None
