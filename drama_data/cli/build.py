"""``drama-data build``: candidates (+ rerankings) -> Tevatron training set (thin layer over :func:`drama_data.build.build`)."""
from __future__ import annotations

import json

import click

from drama_data.cli.common import clean_errors
from drama_data.errors import ConfigError

INPUT_KEYS = ("candidates", "queries", "rerank", "ratio", "name", "group", "queries_config")
SINGLE_INPUT = ("--candidates", "--queries", "--rerank")

HELP = """Label positives and hard negatives, filter, dedup and mix into a Tevatron-format training set.

\b
One input (a mine output and the queries it was mined from):
  drama-data build --candidates runs/qgen-cands --queries runs/qgen --output runs/train
\b
Several inputs, each with its share of the mix (repeat --input, one per input):
  drama-data build --output runs/train \\
    --input candidates=runs/qgen-cands,queries=runs/qgen,ratio=1 \\
    --input candidates=runs/crop-cands,queries=runs/crop,ratio=1
\b
  --input keys: candidates=DIR (required), queries=DIR, rerank=DIR, ratio=R (on every input
  or on none; rows are kept in these proportions, as many as the inputs allow), name=NAME
  (default: the candidates folder's name), group=GROUP (for --mix / mix.ratios by group).
\b
The same from YAML (--config build.yaml; paths relative to the file; flags override it):
  inputs:
    - {candidates: runs/qgen-cands, queries: runs/qgen, ratio: 1}
    - {candidates: runs/crop-cands, queries: runs/crop, ratio: 1}
  output: runs/train
Every key with its default: drama_data/templates/build.yaml (printed by --show-template).
\b
Cross-lingual rows (--task crosslingual) keep their source passage as the only positive; their
negatives come from what `mine --cross-lingual` searched (column mined_with: the query, the
source query of a translation, or the passage's own text); the summary counts rows per way.
"""


def _input_spec(value: str, position: int):
    """``--input candidates=DIR,queries=DIR[,rerank=DIR][,ratio=R][,name=N][,group=G]`` -> InputSpec."""
    from drama_data.build.config import InputSpec, _ratio

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


def _pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    out = {}
    for v in values:
        if "=" not in v:
            raise ConfigError(f"{option} {v!r}: expected NAME=VALUE")
        k, val = v.split("=", 1)
        if k.strip() in out:
            raise ConfigError(f"{option} {k.strip()}= given twice ({out[k.strip()]} and {val.strip()}); give it once")
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


def _show_template(ctx, _param, value):
    if value and not ctx.resilient_parsing:
        from pathlib import Path

        import drama_data

        click.echo((Path(drama_data.__file__).parent / "templates" / "build.yaml").read_text(encoding="utf-8"), nl=False)
        ctx.exit()


@click.command(name="build", help=HELP)
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None, help="YAML build config (inputs, rules, filters, mix).")
@click.option("--input", "inputs", multiple=True, metavar="candidates=DIR,queries=DIR[,rerank=DIR][,ratio=R][,name=N]",
              help="One input; repeat for several (see above). Replaces inputs: of --config.")
@click.option("--candidates", multiple=True, type=click.Path(file_okay=False), help="Candidates folder from `mine` (single-input form; several inputs: --input).")
@click.option("--queries", multiple=True, type=click.Path(file_okay=False), help="Queries dataset the candidates were mined from (records not_mined).")
@click.option("--rerank", multiple=True, type=click.Path(file_okay=False), help="Rankings folder from `generate --task rerank` over --candidates.")
@click.option("--group", default=None, help="Mixing group of the --candidates input (default: default; with --input: group=).")
@click.option("--output", default=None, type=click.Path(file_okay=False), help="Output dataset folder (overrides output: in the config).")
@click.option("--seed", type=int, default=None, help="Seed for mixing and shuffling (default 0).")
@click.option("--miner", type=click.Choice(["weak", "strong"]), default=None,
              help="How far the miner's ranks can be trusted; picks the default rules. weak (default: BM25, a "
                   "small encoder): the source passage is the positive, LLM queries must find their source in "
                   "the miner's top 20, cropped sentences are cut from their positive. strong (an LLM-based "
                   "retriever, as the paper's): ranks 1-10 positive, 30-50 negative.")
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
@click.option("--no-report", is_flag=True,
              help="Do not write the quality report at the end (run `drama-data report DIR` later).")
@click.option("--no-progress", is_flag=True)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON (for scripts).")
@click.option("--show-template", is_flag=True, expose_value=False, is_eager=True, callback=_show_template,
              help="Print the YAML config template (every key, with its default) and exit.")
@clean_errors
def command(config_path, inputs, candidates, queries, rerank, group, output, seed, miner, positives, negatives,
            source_positive, max_negatives, fn_margin, mix, mix_by, mix_total, min_query_tokens, max_query_tokens,
            max_copy_rate, near_dup_threshold, min_agreement, exclude_contaminated, contamination, overwrite,
            no_report, no_progress, as_json):
    from drama_data.build import build
    from drama_data.build.config import InputSpec, load_config

    for option, values in zip(SINGLE_INPUT, (candidates, queries, rerank)):
        if len(values) > 1:
            raise ConfigError(f"{option} given {len(values)} times; for several inputs use --input "
                              "candidates=DIR,queries=DIR[,ratio=R] once per input")
    if inputs and (candidates or queries or rerank):
        raise ConfigError("--candidates/--queries/--rerank and --input both given; describe every input with "
                          "--input candidates=DIR,queries=DIR[,rerank=DIR][,ratio=R]")
    if inputs and group is not None:
        raise ConfigError("--group applies to --candidates; with --input give group=NAME inside each --input")
    if not config_path and not candidates and not inputs:
        raise click.UsageError("give --input candidates=DIR,... (repeatable), --candidates DIR or --config FILE.yaml")
    overrides: dict = {"output": output, "seed": seed, "mix_by": mix_by, "mix_total": mix_total, "miner": miner}
    if inputs:
        overrides["inputs"] = [_input_spec(v, i) for i, v in enumerate(inputs)]
    elif candidates:
        from pathlib import Path

        overrides["inputs"] = [InputSpec(candidates=candidates[0], name=Path(candidates[0]).name, group=group or "default",
                                         rerank=rerank[0] if rerank else None,
                                         queries=queries[0] if queries else None)]
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

    click.echo(json.dumps(report.as_dict(), indent=2) if as_json else report.render())
    if not no_report:
        report_after_run(report.output, list(contamination) + list(exclude_contaminated),
                         echo=lambda m: click.echo(m, err=as_json))
