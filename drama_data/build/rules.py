"""Labelling rules of ``build``: :class:`Rule` (which ranks are positives and negatives for one kind of query), the
defaults per miner strength (:data:`MINER_RULES`; why: :mod:`drama_data.build.config`), and :func:`make_rules`,
the defaults with a config's or the flags' overrides applied (``rules.<name>.<key>`` errors name the key).
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, make_dataclass
from typing import Any

from drama_data.errors import ConfigError
from drama_data.mapping_loader import from_mapping, given_values

RANKINGS = ("retriever", "rerank")
POSITIVE_TEXTS = ("passage", "without_query")
MINERS = ("weak", "strong")
_RERANK = {"positives": [1, 1], "negatives": [10, 20], "source_positive": False, "ranking": "rerank",
           "fn_margin": None}
_CROSSLINGUAL = {"positives": None, "negatives": [30, 50], "source_positive": True, "ranking": "retriever",
                 "fn_margin": 0.05}
#: the rules per miner strength (see the module doc): ``strong`` is the paper's, ``weak`` the default
MINER_RULES: dict[str, dict[str, dict[str, Any]]] = {
    "weak": {
        "sent": {"positives": None, "negatives": [3, 30], "source_positive": True, "ranking": "retriever",
                 "fn_margin": 0.05, "positive_text": "without_query"},
        "qgen": {"positives": None, "negatives": [3, 30], "source_positive": True, "ranking": "retriever",
                 "fn_margin": 0.05, "roundtrip_top": 20},
        "rerank": _RERANK, "crosslingual": _CROSSLINGUAL,
    },
    "strong": {
        "sent": {"positives": [1, 10], "negatives": [30, 50], "source_positive": False, "ranking": "retriever",
                 "fn_margin": 0.05},
        "qgen": {"positives": [1, 10], "negatives": [30, 50], "source_positive": True, "ranking": "retriever",
                 "fn_margin": 0.05},
        "rerank": _RERANK, "crosslingual": _CROSSLINGUAL,
    },
}
DEFAULT_MINER = "weak"
DEFAULT_RULES = MINER_RULES[DEFAULT_MINER]

@dataclass
class Rule:
    """How one kind of query is labelled (ranks are 1-based and inclusive)."""

    name: str
    positives: tuple[int, int] | None
    negatives: tuple[int, int] | None
    source_positive: bool = False
    ranking: str = "retriever"
    fn_margin: float | None = 0.05
    max_positives: int | None = None
    max_negatives: int | None = None
    min_negatives: int = 1
    exclude_source_from_negatives: bool = True
    #: keep a query only when its source passage is in the first N of the ranking (round-trip check)
    roundtrip_top: int | None = None
    #: ``without_query``: the source passage minus the query's text (inverse cloze) is the positive
    positive_text: str = "passage"


#: a rule's keys in build.yaml / --positives etc.; each one left out keeps the miner's default (from :class:`Rule`)
RuleKeys = make_dataclass("RuleKeys", [(f.name, Any, field(default=None)) for f in fields(Rule) if f.name != "name"])


def _range(value, option: str) -> tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, str):
        parts = value.replace(" ", "").split("-")
        if len(parts) == 1:
            parts = parts * 2
        try:
            value = [int(p) for p in parts]
        except ValueError:
            raise ConfigError(f"{option}: {value!r} is not a rank range like 1-10") from None
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value, value]
    if (not isinstance(value, (list, tuple)) or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        raise ConfigError(f"{option}: {value!r} is not a rank range [first, last] (1-based, inclusive)")
    lo, hi = value
    if lo < 1 or hi < lo:
        raise ConfigError(f"{option}: [{lo}, {hi}] must satisfy 1 <= first <= last")
    return (lo, hi)


def _check_rule(rule: Rule) -> None:
    o = f"rules.{rule.name}"
    if rule.ranking not in RANKINGS:
        raise ConfigError(f"{o}.ranking: {rule.ranking!r}, use retriever or rerank")
    if rule.positives is None and not rule.source_positive:
        raise ConfigError(f"{o}: no positives possible (positives is null and source_positive is false)")
    if rule.positives and rule.negatives:
        (pl, ph), (nl, nh) = rule.positives, rule.negatives
        if pl <= nh and nl <= ph:
            raise ConfigError(f"{o}: positives [{pl}, {ph}] and negatives [{nl}, {nh}] overlap")
    if rule.fn_margin is not None and (not isinstance(rule.fn_margin, (int, float)) or rule.fn_margin < 0):
        raise ConfigError(f"{o}.fn_margin: must be a number >= 0 or null, got {rule.fn_margin!r}")
    for key in ("max_positives", "max_negatives"):
        v = getattr(rule, key)
        if v is not None and (not isinstance(v, int) or v < 1):
            raise ConfigError(f"{o}.{key}: must be a positive integer or null, got {v!r}")
    if rule.roundtrip_top is not None and (not isinstance(rule.roundtrip_top, int) or rule.roundtrip_top < 1):
        raise ConfigError(f"{o}.roundtrip_top: must be a positive integer or null, got {rule.roundtrip_top!r}")
    if rule.positive_text not in POSITIVE_TEXTS:
        raise ConfigError(f"{o}.positive_text: {rule.positive_text!r}, use {' or '.join(POSITIVE_TEXTS)}")
    if rule.positive_text == "without_query" and not rule.source_positive:
        raise ConfigError(f"{o}.positive_text: without_query needs source_positive: true")
    if not isinstance(rule.min_negatives, int) or rule.min_negatives < 0:
        raise ConfigError(f"{o}.min_negatives: must be an integer >= 0, got {rule.min_negatives!r}")


def make_rules(overrides: Mapping[str, Mapping[str, Any]] | None = None, miner: str = DEFAULT_MINER
               ) -> dict[str, Rule]:
    """The rules for ``miner`` (:data:`MINER_RULES`) with ``overrides`` (rule name -> {field: value}) applied;
    names new rules too."""
    if miner not in MINERS:
        raise ConfigError(f"miner: {miner!r}, use weak or strong")
    merged = copy.deepcopy(MINER_RULES[miner])
    for name, values in (overrides or {}).items():
        if values is not None and not isinstance(values, (Mapping, RuleKeys)):
            raise ConfigError(f"rules.{name}: expected a mapping of rule options")
        keys = values if isinstance(values, RuleKeys) else from_mapping(RuleKeys, values, where=f"rules.{name}.")
        base = merged.setdefault(name, {"positives": None, "negatives": None, "source_positive": False,
                                        "ranking": "retriever", "fn_margin": 0.05})
        base.update(given_values(keys))
    rules = {}
    for name, v in merged.items():
        rules[name] = Rule(name=name, positives=_range(v.get("positives"), f"rules.{name}.positives"),
                           negatives=_range(v.get("negatives"), f"rules.{name}.negatives"),
                           **{k: v[k] for k in v if k not in ("positives", "negatives")})
    return rules
