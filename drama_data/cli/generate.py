"""``drama-data generate``: run a task over a corpus with an LLM backend and write a dataset folder."""
from __future__ import annotations

import click

from drama_data.backends.settings import parse_key_values
from drama_data.cli.common import clean_errors
from drama_data.cli.options import Command, json_option, print_summary
from drama_data.generate.config import WINDOW_PASSAGES
from drama_data.sources import RULE_HELP


def _backend_option(info):
    """The click option of one backend setting (:class:`~drama_data.backends.settings.SettingInfo`): its flag,
    type, default (shown in --help), help (prefixed by the backends that read it) and --help section."""
    from drama_data.cli.options import option

    help_text = f"{', '.join(info.backends)}: {info.help}"
    if info.type is bool:
        return option(info.flag, info.name, is_flag=True, default=bool(info.default), help=help_text,
                      group=info.group)
    if info.type is dict:  # KEY=VALUE pairs, parsed by parse_key_values
        return option(info.flag, info.name, multiple=True, metavar=info.metavar or "KEY=VALUE", help=help_text,
                      group=info.group)
    kind = click.Choice(list(info.choices)) if info.choices else {int: int, float: float}.get(info.type, str)
    return option(info.flag, info.name, type=kind, default=info.default, metavar=info.metavar,
                  show_default=info.default is not None, help=help_text, group=info.group)


def backend_options(fn):
    """Every registered backend's settings as options of ``drama-data generate`` (one per setting name), in
    registration and declaration order: the one place the backend flags come from."""
    from drama_data.backends.registry import registry

    for info in reversed([i for i in registry().infos() if i.cli]):
        fn = _backend_option(info)(fn)
    return fn


def backend_choice():
    """The ``--backend`` option: every registered name and alias, with each backend's summary."""
    from drama_data.backends.registry import registry

    plugins = registry()
    return click.option("--backend", "backend_name", default="vllm", show_default=True,
                        type=click.Choice(list(plugins.names())), help=plugins.help())


GROUPS = {
    "Input": ["corpus", "queries", "limit", "split", "id_field", "title_field", "text_field", "chunk_tokens",
              "chunk_tokenizer", "pack_tokens"],
    "Model/backend": ["backend_name", "model"],
    "Task": ["task_name", "queries_per_doc", "language", "target_languages", "method", "round_trip", "per_language",
             "section_tokens", "min_language_confidence", "min_script_share", "prompt_path", "prompt_format",
             "max_attempts", "window", "stride", "passage_tokens", "depth", "passes"],
    "Sampling": ["temperature", "top_p", "max_tokens", "seed"],
    "Plan and budget": ["dry_run", "plan_sample", "prices", "max_requests", "max_cost"],
    "Output": ["output", "overwrite", "window_passages", "cache_dir", "no_cache", "contamination", "no_report",
               "no_progress"],
    "Scale": ["num_shards", "shard_index", "ray", "ray_workers", "ray_gpus_per_worker"],
}
EXAMPLES = [
    "drama-data generate --task queries --backend vllm --corpus data/scifact --output out/qgen --limit 100",
    "drama-data generate --backend openai --model gpt-4o-mini --corpus docs/ --output out/qgen --dry-run",
    "drama-data generate --task crosslingual --target-languages de,zh --corpus data/scifact --output out/xl",
    "drama-data generate --task crosslingual --method translate --queries out/qgen --output out/xl-tr",
    "drama-data generate --corpus data/scifact --pack-tokens 4096 --section-tokens 256 --output out/qgen-long",
]


@click.command(name="generate", cls=Command, groups=GROUPS, examples=EXAMPLES)
@click.option("--task", "task_name", default="queries", show_default=True,
              type=click.Choice(["queries", "crop", "crosslingual", "rerank"]), help="What to generate.")
@backend_choice()
@click.option("--model", default=None, help="HF id, local folder or .gguf file; default: the embedded Gemma-3-270M.")
@click.option("--corpus", default=None, help="BEIR folder, .jsonl[.gz]/.parquet file, HF dataset, or a folder/file of "
              ".txt/.md/.html/.pdf (for rerank: a mine output). Required, except with --method translate. " + RULE_HELP)
@click.option("--output", required=True, type=click.Path(file_okay=False), help="Dataset folder to write.")
@click.option("--limit", type=int, default=None,
              help="Use only the first N passages (queries for rerank); a jsonl, parquet or BEIR corpus is read "
                   "only that far.")
@click.option("--split", default="train", show_default=True, help="Split of an HF dataset corpus.")
@click.option("--id-field", default=None, help="Record field holding the id (default: _id/id/docid...).")
@click.option("--title-field", default=None, help="Record field holding the title (default: title).")
@click.option("--text-field", default=None, help="Record field holding the text (default: text/contents...).")
@click.option("--chunk-tokens", default=256, show_default=True, help="Passages have at most this many tokens (paper: 256).")
@click.option("--chunk-tokenizer", default=None,
              help="HF tokenizer counting chunk tokens: a folder, Hub id or embedded:gemma-3-270m / "
                   "embedded:all-minilm-l6-v2 (default: words). Its model's limit (model_max_length, else "
                   "max_position_embeddings) bounds --chunk-tokens and --pack-tokens.")
@click.option("--pack-tokens", type=int, default=None, metavar="N",
              help="Long documents from short passages: join consecutive passages (corpus order, after chunking) "
                   "into documents of at most N tokens, id pack-<first id>-<parts>, parts joined by a blank line "
                   "(a part's title on its first line); provenance records it, so mine sees the same documents. "
                   "--limit and --num-shards then count packed documents. Default: off.")
@click.option("--queries-per-doc", default=1, show_default=True,
              help="queries: queries per passage; crosslingual --method direct: per passage and target language.")
@click.option("--language", default="",
              help="crop: language code of the corpus (default: detected per passage); rows record the detected one.")
@click.option("--target-languages", default="de,zh", show_default=True, help="crosslingual: languages to write queries in (ISO codes or English names; a passage's own "
                   "language is left out).")
@click.option("--method", type=click.Choice(["direct", "translate"]), default="direct", show_default=True,
              help="crosslingual: direct (the LLM writes a query in each target language from the passage) or "
                   "translate (each query of --queries DIR is translated into each target language and paired "
                   "with its passage).")
@click.option("--queries", type=click.Path(exists=True, file_okay=False), default=None,
              help="crosslingual --method translate: an earlier --task queries output folder (its queries and "
                   "passages; no --corpus).")
@click.option("--round-trip", type=float, default=None, metavar="MIN",
              help="crosslingual --method translate: translate each accepted translation back (one more request) "
                   "and reject it when the back-translation keeps less than MIN (0-1) of the source query's "
                   "content words.")
@click.option("--per-language", type=int, default=None,
              help="queries/crosslingual: at most N rows per (passage language, query language) pair; the run "
                   "stops asking for a pair once N rows passed the checks (per shard).")
@click.option("--section-tokens", type=int, default=256, show_default=True, metavar="M",
              help="queries, crop: a passage longer than M tokens is not sent whole: the prompt (crop: the "
                   "sentence) comes from one section (a packed document's part, else an M-token window), picked "
                   "per passage and seed; the row is for the whole passage and records answer_start/answer_end "
                   "(characters) and answer_depth.")
@click.option("--min-language-confidence", type=float, default=None,
              help="queries (non-English passages)/crosslingual: py3langid probability a query needs in its "
                   "language (default 0.5).")
@click.option("--min-script-share", type=float, default=None,
              help="queries (non-English passages)/crosslingual: share of a query's words (CJK: characters) that "
                   "must be in its language's script (default 0.6).")
@click.option("--temperature", type=float, default=None, help="Default: the task's (queries 0.8, rerank 0).")
@click.option("--top-p", type=float, default=None, help="Default: the task's (queries 0.9).")
@click.option("--max-tokens", type=int, default=None, help="Max new tokens per completion (queries: 256).")
@click.option("--seed", default=0, show_default=True, help="Run seed; each request's seed derives from it.")
@click.option("--max-attempts", type=int, default=None, help="Attempts per row when the output cannot be parsed.")
@click.option("--prompt", "prompt_path", default=None, type=click.Path(dir_okay=False), help="Jinja2 prompt file.")
@click.option("--prompt-format", type=click.Choice(["chat", "completion"]), default=None,
              help="Default: chat if the model has a chat template, else few-shot completion.")
@click.option("--window", default=20, show_default=True, help="rerank: passages per window (paper: 20).")
@click.option("--stride", default=10, show_default=True, help="rerank: window step.")
@click.option("--passage-tokens", default=256, show_default=True, help="rerank: passages cut to this many tokens.")
@click.option("--depth", default=20, show_default=True, help="rerank: candidates per query to rank (paper: 20).")
@click.option("--passes", default=1, show_default=True, help="rerank: extra passes over shuffled orders give agreement.")
@click.option("--num-shards", default=1, show_default=True, help="Split the work over machines (by passage id).")
@click.option("--shard-index", default=0, show_default=True)
@click.option("--window-passages", default=WINDOW_PASSAGES, show_default=True,
              help="Passages read, sent and written together: memory stays flat as the corpus grows, and a rerun "
                   "of an interrupted run reuses the finished windows (kept in .OUTPUT.partial/ beside OUTPUT).")
@click.option("--cache-dir", default=None, type=click.Path(file_okay=False), help="Request cache (default ~/.cache/drama).")
@click.option("--no-cache", is_flag=True, help="Do not read or write the request cache.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output folder that is not ours.")
@backend_options
@click.option("--ray", "ray", is_flag=False, flag_value="local", default=None, metavar="[ADDRESS]",
              help="Run the backend on Ray actors, one backend (one vLLM engine) per worker: --ray alone starts a "
                   "local Ray on this machine's CPUs; --ray HOST:PORT (or ray://HOST:PORT, auto) joins a cluster "
                   "whose nodes have this toolkit installed. The request cache, parsing, retries and the output "
                   "stay here, so the rows equal a local run with the same seed. --task crop (no LLM) crops each "
                   "window on --ray-workers Ray tasks (Ray Data), with the same rows.")
@click.option("--ray-workers", type=int, default=None,
              help="--ray: backend instances (Ray actors; default: --data-parallel-size when above 1, else 2); for "
                   "--task crop, Ray tasks per window (default 2).")
@click.option("--ray-gpus-per-worker", type=float, default=None,
              help="--ray: GPUs per worker (default: --tensor-parallel-size for vllm when the cluster has GPUs, "
                   "else 0).")
@click.option("--dry-run", is_flag=True, help="Print the plan (requests, tokens, cost, time) and exit: no model is "
              "loaded and no request is sent.")
@click.option("--plan-sample", type=int, default=64, show_default=True,
              help="--dry-run: count prompt tokens on this many requests and extrapolate.")
@click.option("--prices", default=None, type=click.Path(dir_okay=False),
              help="YAML of $ per 1M tokens, MODEL: {input: X, output: Y}; overrides the built-in table.")
@click.option("--max-requests", type=int, default=None,
              help="Stop after sending this many requests (cached ones are free); rerun to continue.")
@click.option("--max-cost", type=float, default=None,
              help="Stop when the run has spent this many dollars (needs a price for the model); rerun to continue.")
@click.option("--contamination", multiple=True, type=click.Path(exists=True, file_okay=False),
              help="Check the output against this evaluation collection (BEIR folder) in its quality report.")
@click.option("--no-report", is_flag=True,
              help="Do not write the quality report at the end (run `drama-data report DIR` later).")
@click.option("--no-progress", is_flag=True, help="No progress bars.")
@json_option
@clean_errors
def command(**o):
    """Generate queries (or crops, cross-lingual queries, rerank labels) for a corpus."""
    from drama_data.api import run_generate
    from drama_data.generate.config import GenerateConfig
    from drama_data.sources import local_path, resolve_source

    if o.get("corpus") and o["task_name"] == "rerank":  # a mine output folder
        local_path(o["corpus"], "--corpus", kind="folder")
    elif o.get("corpus"):  # at once, before any model or engine: a missing path is one line, never a Hub lookup
        resolve_source(o["corpus"], "--corpus")
    as_json = o.pop("as_json")
    o["engine_args"] = parse_key_values(o["engine_args"])
    config = GenerateConfig.from_options(**o).validate()
    summary = run_generate(config, echo=lambda m: click.echo(m, err=True))
    print_summary(summary.as_dict(), summary.render(), as_json=as_json)
    if getattr(summary, "reported", None):
        click.echo(summary.reported, err=as_json)
