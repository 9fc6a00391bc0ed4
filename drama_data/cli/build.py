"""``drama-data build``: candidates (+ rerankings) -> Tevatron training set (thin layer over :func:`drama_data.build.build`).

The options are declared below in one stack; :func:`drama_data.build.flags.config_from_flags` turns them into the
:class:`~drama_data.build.config.BuildConfig` (checking their combinations), the command runs and prints."""
from __future__ import annotations

import click

from drama_data.build.st_layout import DEFAULT_NEGATIVES as ST_NEGATIVES
from drama_data.cli.common import clean_errors
from drama_data.cli.options import Command, json_option, option, print_summary

HELP = """Label positives and hard negatives, filter, dedup and mix into a Tevatron-format training set.

\b
One input is a mine output and the queries it was mined from (--candidates, --queries); several inputs,
each with its share of the mix, are --input, repeated (see Examples).
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
\b
The output also holds the config `sentence-transformers` (anchor, positive, negative_1..N,
scores): load_dataset(OUTPUT, "sentence-transformers") goes straight into
SentenceTransformerTrainer and its losses (--st-negatives N; --no-sentence-transformers: leave it out).
"""


EXAMPLES = [
    "drama-data build --candidates runs/qgen-cands --queries runs/qgen --output runs/train",
    "drama-data build --output runs/train \\\n"
    "    --input candidates=runs/qgen-cands,queries=runs/qgen,ratio=1 \\\n"
    "    --input candidates=runs/crop-cands,queries=runs/crop,ratio=1",
    "drama-data build --config build.yaml --output runs/train",
]
GROUPS = {
    "Input": ["config_path", "inputs", "candidates", "queries", "rerank", "group"],
    "Labelling": ["miner", "positives", "negatives", "source_positive", "max_negatives", "fn_margin",
                  "swap_negatives", "swap_keep_mined"],
    "Filters": ["min_query_tokens", "max_query_tokens", "max_copy_rate", "near_dup_threshold", "min_agreement",
                "exclude_contaminated", "contamination"],
    "Mixing": ["seed", "mix", "mix_by", "mix_total"],
    "Output": ["output", "overwrite", "no_report", "no_progress"],
}


def _show_template(ctx, _param, value):
    if value and not ctx.resilient_parsing:
        from pathlib import Path

        import drama_data

        click.echo((Path(drama_data.__file__).parent / "templates" / "build.yaml").read_text(encoding="utf-8"), nl=False)
        ctx.exit()


@click.command(name="build", help=HELP, cls=Command, groups=GROUPS, examples=EXAMPLES)
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None, help="YAML build config (inputs, rules, filters, mix).")
@click.option("--input", "inputs", multiple=True, metavar="candidates=DIR,queries=DIR[,rerank=DIR][,ratio=R][,name=N]",
              help="One input; repeat for several (see above). Replaces inputs: of --config.")
@click.option("--candidates", multiple=True, type=click.Path(file_okay=False), help="Candidates folder from `mine` (single-input form; several inputs: --input).")
@click.option("--queries", multiple=True, type=click.Path(file_okay=False), help="Queries dataset the candidates were mined from (records not_mined).")
@click.option("--rerank", multiple=True, type=click.Path(file_okay=False), help="Rankings folder from `generate --task rerank` over --candidates.")
@click.option("--group", default=None, help="Mixing group of the --candidates input (default: default; with --input: group=).")
@click.option("--output", default=None, type=click.Path(file_okay=False), help="Output dataset folder (overrides output: in the config).")
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
@click.option("--min-query-tokens", type=int, default=None)
@click.option("--max-query-tokens", type=int, default=None)
@click.option("--max-copy-rate", default=None, help="Copy-rate threshold (or 'none').")
@click.option("--near-dup-threshold", default=None, help="Near-duplicate Jaccard threshold (or 'none').")
@click.option("--min-agreement", default=None, help="Minimum rerank Kendall tau (or 'none').")
@click.option("--exclude-contaminated", multiple=True, type=click.Path(exists=True, file_okay=False),
              help="Remove rows overlapping this evaluation collection (BEIR folder, test qrels); repeatable.")
@click.option("--contamination", multiple=True, type=click.Path(exists=True, file_okay=False),
              help="Only report overlap with this evaluation collection in the card (see drama-data report).")
@click.option("--seed", type=int, default=None, help="Seed for mixing and shuffling (default 0).")
@click.option("--mix", "mix", multiple=True, metavar="KEY=RATIO", help="Mixing ratio per group, e.g. english_web=2 (repeat).")
@click.option("--mix-by", type=click.Choice(["group", "source", "rule", "language", "input"]), default=None)
@click.option("--mix-total", type=int, default=None, help="Cap on the mixed total.")
@option("--sentence-transformers/--no-sentence-transformers", "sentence_transformers", default=None, group="Output",
        help="Also write the `sentence-transformers` config (anchor, positive, negative_1..N, scores) that "
             "SentenceTransformerTrainer and its losses take. Default: on (sentence_transformers.write).")
@option("--st-negatives", type=click.IntRange(min=0), default=None, metavar="N", group="Output",
        help=f"Negative columns of the `sentence-transformers` config (default {ST_NEGATIVES}, the paper's group of "
             "1 positive + 7 negatives); a row with fewer repeats its own.")
@option("--st-require-scores", is_flag=True, default=None, group="Output",
        help="Leave out of the `sentence-transformers` config the rows without a miner score for each passage, "
             "so that it has the `scores` column (for MarginMSELoss / DistillKLDivLoss); they stay in `train`.")
@click.option("--swap-negatives", "swap_negatives", type=click.IntRange(min=0), default=None, metavar="N",
              help="Long rows (queries with answer_start/answer_end): add up to N negatives made of the row's own "
                   "document with the answer section swapped for another document's, first among its negatives "
                   "(default 0: none; swap_negatives: in the config).")
@click.option("--swap-keep-mined", "swap_keep_mined", type=click.IntRange(min=0), default=None, metavar="M",
              help="Mined negatives a row with swap negatives keeps after them (default: all). Training samples "
                   "negatives uniformly: 0 makes a group of 2 always take the swap negative.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output folder that is not a drama-toolkit dataset.")
@click.option("--no-report", is_flag=True,
              help="Do not write the quality report at the end (run `drama-data report DIR` later).")
@click.option("--no-progress", is_flag=True)
@json_option
@click.option("--show-template", is_flag=True, expose_value=False, is_eager=True, callback=_show_template,
              help="Print the YAML config template (every key, with its default) and exit.")
@clean_errors
def command(overwrite, no_report, no_progress, as_json, contamination, **flags):
    from drama_data.build import build
    from drama_data.build.flags import config_from_flags

    cfg = config_from_flags(flags)
    report = build(cfg, overwrite=overwrite, progress=not no_progress)
    from drama_data.report.render import report_after_run

    print_summary(report.as_dict(), report.render(), as_json=as_json)
    if not no_report:
        report_after_run(report.output, list(contamination) + list(flags["exclude_contaminated"]),
                         echo=lambda m: click.echo(m, err=as_json))
