"""``drama-data build``: candidates (+ rerankings) -> Tevatron training set (thin layer over :func:`drama_data.build.build`)."""
from __future__ import annotations

import json

import click

from drama_data.cli.common import clean_errors
from drama_data.errors import ConfigError


def _pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    out = {}
    for v in values:
        if "=" not in v:
            raise ConfigError(f"{option} {v!r}: expected NAME=VALUE")
        k, val = v.split("=", 1)
        out[k.strip()] = val.strip()
    return out


def _bool(v: str, option: str) -> bool:
    if v.lower() in ("1", "true", "yes", "on"):
        return True
    if v.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{option}: {v!r} is not true/false")


def _float_or_none(v: str, option: str):
    if v.lower() in ("none", "null", "off"):
        return None
    try:
        return float(v)
    except ValueError:
        raise ConfigError(f"{option}: {v!r} is not a number (or 'none')") from None


@click.command(name="build")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None, help="YAML build config (inputs, rules, filters, mix).")
@click.option("--candidates", default=None, type=click.Path(file_okay=False), help="Candidates folder from `mine` (single-input form).")
@click.option("--queries", default=None, type=click.Path(file_okay=False), help="Queries dataset the candidates were mined from (records not_mined).")
@click.option("--rerank", default=None, type=click.Path(file_okay=False), help="Rankings folder from `generate --task rerank` over --candidates.")
@click.option("--group", default="default", show_default=True, help="Mixing group of the single input.")
@click.option("--output", default=None, type=click.Path(file_okay=False), help="Output dataset folder (overrides output: in the config).")
@click.option("--seed", type=int, default=None, help="Seed for mixing and shuffling (default 0).")
@click.option("--positives", multiple=True, metavar="RULE=LO-HI", help="Positive rank range of a rule, e.g. qgen=1-10.")
@click.option("--negatives", multiple=True, metavar="RULE=LO-HI", help="Negative rank range of a rule, e.g. qgen=30-50.")
@click.option("--source-positive", multiple=True, metavar="RULE=BOOL", help="Always use the source passage as a positive, e.g. qgen=false.")
@click.option("--max-negatives", multiple=True, metavar="RULE=N", help="Keep at most N (best-ranked) negatives.")
@click.option("--fn-margin", default=None, help="False-negative margin for all rules (a number, or 'none' to disable).")
@click.option("--mix", "mix", multiple=True, metavar="KEY=RATIO", help="Mixing ratio per group, e.g. english_web=2 (repeat).")
@click.option("--mix-by", type=click.Choice(["group", "source", "rule", "language", "input"]), default=None)
@click.option("--mix-total", type=int, default=None, help="Cap on the mixed total.")
@click.option("--min-query-tokens", type=int, default=None)
@click.option("--max-query-tokens", type=int, default=None)
@click.option("--max-copy-rate", default=None, help="Copy-rate threshold (or 'none').")
@click.option("--near-dup-threshold", default=None, help="Near-duplicate Jaccard threshold (or 'none').")
@click.option("--min-agreement", default=None, help="Minimum rerank Kendall tau (or 'none').")
@click.option("--exclude-contaminated", multiple=True, type=click.Path(exists=True, file_okay=False),
              help="Remove rows overlapping this evaluation collection (BEIR folder, test qrels); repeatable.")
@click.option("--contamination", multiple=True, type=click.Path(exists=True, file_okay=False),
              help="Only report overlap with this evaluation collection in the card (see drama-data report).")
@click.option("--overwrite", is_flag=True, help="Replace an existing output folder that is not a drama-toolkit dataset.")
@click.option("--no-progress", is_flag=True)
@clean_errors
def command(config_path, candidates, queries, rerank, group, output, seed, positives, negatives, source_positive,
            max_negatives, fn_margin, mix, mix_by, mix_total, min_query_tokens, max_query_tokens, max_copy_rate,
            near_dup_threshold, min_agreement, exclude_contaminated, contamination, overwrite, no_progress):
    """Label positives and hard negatives, filter, dedup and mix into a Tevatron-format training set."""
    from drama_data.build import build
    from drama_data.build_config import InputSpec, load_config

    if not config_path and not candidates:
        raise click.UsageError("give --config FILE.yaml or --candidates DIR")
    overrides: dict = {"output": output, "seed": seed, "mix_by": mix_by, "mix_total": mix_total}
    if candidates:
        from pathlib import Path

        overrides["inputs"] = [InputSpec(candidates=candidates, name=Path(candidates).name, group=group,
                                         rerank=rerank, queries=queries)]
    elif rerank or queries:
        raise click.UsageError("--rerank/--queries go with --candidates (or inside inputs: in the config)")
    rules: dict[str, dict] = {}
    for rule, v in _pairs(positives, "--positives").items():
        rules.setdefault(rule, {})["positives"] = None if v.lower() in ("none", "null") else v
    for rule, v in _pairs(negatives, "--negatives").items():
        rules.setdefault(rule, {})["negatives"] = None if v.lower() in ("none", "null") else v
    for rule, v in _pairs(source_positive, "--source-positive").items():
        rules.setdefault(rule, {})["source_positive"] = _bool(v, f"--source-positive {rule}")
    for rule, v in _pairs(max_negatives, "--max-negatives").items():
        try:
            rules.setdefault(rule, {})["max_negatives"] = int(v)
        except ValueError:
            raise ConfigError(f"--max-negatives {rule}={v}: not an integer") from None
    overrides["rules"] = rules
    if fn_margin is not None:
        overrides["fn_margin"] = _float_or_none(fn_margin, "--fn-margin")
    if mix:
        ratios = {}
        for key, v in _pairs(mix, "--mix").items():
            r = _float_or_none(v, f"--mix {key}")
            ratios[key] = int(r) if r is not None and r == int(r) else r
        overrides["mix_ratios"] = ratios
    filters = {}
    if min_query_tokens is not None:
        filters["min_query_tokens"] = min_query_tokens
    if max_query_tokens is not None:
        filters["max_query_tokens"] = max_query_tokens
    for key, v in (("max_copy_rate", max_copy_rate), ("near_dup_threshold", near_dup_threshold),
                   ("min_agreement", min_agreement)):
        if v is not None:
            filters[key] = _float_or_none(v, "--" + key.replace("_", "-"))
    if exclude_contaminated:
        filters["exclude_contaminated"] = list(exclude_contaminated)
    overrides["filters"] = filters
    cfg = load_config(config_path, **overrides)
    report = build(cfg, overwrite=overwrite, progress=not no_progress)
    from drama_data.report.render import report_after_run

    report_after_run(report.output, list(contamination) + list(exclude_contaminated), echo=click.echo)
    click.echo(json.dumps({"output": report.output, "rows": report.rows, "removed": report.removed,
                           "counts": report.counts, "seconds": report.seconds}, indent=2))
