"""``drama-data build``'s flags -> :class:`~drama_data.build.config.BuildConfig`: the command-line forms
(``--input candidates=DIR,...``, ``--positives RULE=LO-HI``, ``--mix KEY=RATIO``, ...) read into the overrides
:func:`~drama_data.build.config.load_config` applies over ``--config``, with the combinations of input flags
checked here (one line naming the flag).

In: click's parsed values (:func:`config_from_flags`; parameter names as in ``drama_data/cli/build.py``).
Out: a validated :class:`BuildConfig`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from drama_data.build.config import BuildConfig, InputSpec, _ratio, load_config
from drama_data.errors import ConfigError

INPUT_KEYS = ("candidates", "queries", "rerank", "ratio", "name", "group", "queries_config")
SINGLE_INPUT = ("--candidates", "--queries", "--rerank")
#: filter flags that take a number or 'none'
NUMBER_FILTERS = ("max_copy_rate", "near_dup_threshold", "min_agreement")


def input_spec(value: str, position: int) -> InputSpec:
    """``--input candidates=DIR,queries=DIR[,rerank=DIR][,ratio=R][,name=N][,group=G]`` -> InputSpec."""
    where = f"--input {value!r}"
    fields: dict[str, str] = {}
    for part in value.split(","):
        if not part.strip():
            continue
        if "=" not in part:
            raise ConfigError(f"{where}: {part.strip()!r} is not KEY=VALUE (keys: {', '.join(INPUT_KEYS)})")
        key, val = (x.strip() for x in part.split("=", 1))
        if key not in INPUT_KEYS:
            raise ConfigError(f"{where}: unknown key {key!r} (keys: {', '.join(INPUT_KEYS)})")
        if key in fields:
            raise ConfigError(f"{where}: {key} given twice")
        if not val:
            raise ConfigError(f"{where}: {key} is empty")
        fields[key] = val
    if "candidates" not in fields:
        raise ConfigError(f"{where}: candidates=DIR is missing")
    return InputSpec(candidates=fields["candidates"], name=fields.get("name", ""),
                     group=fields.get("group", "default"), rerank=fields.get("rerank"),
                     queries=fields.get("queries"), queries_config=fields.get("queries_config", "queries"),
                     ratio=_ratio(fields.get("ratio"), f"--input #{position + 1} ratio"))


def pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    """Repeated ``NAME=VALUE`` values of ``option`` as a mapping (a name given twice is an error)."""
    out = {}
    for v in values:
        if "=" not in v:
            raise ConfigError(f"{option} {v!r}: expected NAME=VALUE")
        k, val = v.split("=", 1)
        if k.strip() in out:
            raise ConfigError(f"{option} {k.strip()}= given twice ({out[k.strip()]} and {val.strip()}); give it once")
        out[k.strip()] = val.strip()
    return out


def boolean(v: str, option: str) -> bool:
    if v.lower() in ("1", "true", "yes", "on"):
        return True
    if v.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{option}: {v!r} is not true/false")


def float_or_none(v: str, option: str):
    if v.lower() in ("none", "null", "off"):
        return None
    try:
        return float(v)
    except ValueError:
        raise ConfigError(f"{option}: {v!r} is not a number (or 'none')") from None


def _inputs(p: dict[str, Any]) -> list[InputSpec] | None:
    """The inputs the flags describe (``None``: the config's), after checking that one form was used."""
    candidates, queries, rerank, inputs, group = p["candidates"], p["queries"], p["rerank"], p["inputs"], p["group"]
    for option, values in zip(SINGLE_INPUT, (candidates, queries, rerank)):
        if len(values) > 1:
            raise ConfigError(f"{option} given {len(values)} times; for several inputs use --input "
                              "candidates=DIR,queries=DIR[,ratio=R] once per input")
    if inputs and (candidates or queries or rerank):
        raise ConfigError("--candidates/--queries/--rerank and --input both given; describe every input with "
                          "--input candidates=DIR,queries=DIR[,rerank=DIR][,ratio=R]")
    if inputs and group is not None:
        raise ConfigError("--group applies to --candidates; with --input give group=NAME inside each --input")
    if not p["config_path"] and not candidates and not inputs:
        raise ConfigError("give --input candidates=DIR,... (repeatable), --candidates DIR or --config FILE.yaml")
    if inputs:
        return [input_spec(v, i) for i, v in enumerate(inputs)]
    if candidates:
        return [InputSpec(candidates=candidates[0], name=Path(candidates[0]).name, group=group or "default",
                          rerank=rerank[0] if rerank else None, queries=queries[0] if queries else None)]
    if rerank or queries:
        raise ConfigError("--rerank/--queries go with --candidates (or inside inputs: in the config)")
    return None


def _rules(p: dict[str, Any]) -> dict[str, dict]:
    rules: dict[str, dict] = {}
    for rule, v in pairs(p["positives"], "--positives").items():
        rules.setdefault(rule, {})["positives"] = None if v.lower() in ("none", "null") else v
    for rule, v in pairs(p["negatives"], "--negatives").items():
        rules.setdefault(rule, {})["negatives"] = None if v.lower() in ("none", "null") else v
    for rule, v in pairs(p["source_positive"], "--source-positive").items():
        rules.setdefault(rule, {})["source_positive"] = boolean(v, f"--source-positive {rule}")
    for rule, v in pairs(p["max_negatives"], "--max-negatives").items():
        try:
            rules.setdefault(rule, {})["max_negatives"] = int(v)
        except ValueError:
            raise ConfigError(f"--max-negatives {rule}={v}: not an integer") from None
    return rules


def _filters(p: dict[str, Any]) -> dict[str, Any]:
    filters = {k: p[k] for k in ("min_query_tokens", "max_query_tokens") if p[k] is not None}
    for key in NUMBER_FILTERS:
        if p[key] is not None:
            filters[key] = float_or_none(p[key], "--" + key.replace("_", "-"))
    if p["exclude_contaminated"]:
        filters["exclude_contaminated"] = list(p["exclude_contaminated"])
    return filters


def config_from_flags(p: dict[str, Any]) -> BuildConfig:
    """The build config that ``drama-data build``'s flags ``p`` describe: ``--config`` (if given) with the flags
    over it. Raises ``ConfigError`` with one line naming the flag or the config key."""
    overrides: dict[str, Any] = {"output": p["output"], "seed": p["seed"], "mix_by": p["mix_by"],
                                 "mix_total": p["mix_total"], "miner": p["miner"]}
    inputs = _inputs(p)
    if inputs is not None:
        overrides["inputs"] = inputs
    overrides["rules"] = _rules(p)
    if p["fn_margin"] is not None:
        overrides["fn_margin"] = float_or_none(p["fn_margin"], "--fn-margin")
    if p["mix"]:
        ratios = {}
        for key, v in pairs(p["mix"], "--mix").items():
            r = float_or_none(v, f"--mix {key}")
            ratios[key] = int(r) if r is not None and r == int(r) else r
        overrides["mix_ratios"] = ratios
    overrides["filters"] = _filters(p)
    overrides["sentence_transformers"] = p.get("sentence_transformers")
    overrides["st_negatives"] = p.get("st_negatives")
    overrides["st_require_scores"] = p.get("st_require_scores") or None
    overrides["swap_negatives"] = p.get("swap_negatives")
    overrides["swap_keep_mined"] = p.get("swap_keep_mined")
    return load_config(p["config_path"], **overrides)
