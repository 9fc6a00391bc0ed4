"""``drama-models prune`` and ``drama-models pretrain``: thin click commands over :func:`pipeline.prune` and
:func:`pretrain.pretrain`. ``register(group)`` adds them to the ``drama-models`` group (``drama_models/cli.py``).

Bad input (:class:`errors.PruningError`, a missing model folder or tokenizer) becomes ``Error: <one line>``
(exit 2) before any work starts.
"""
from __future__ import annotations

import os

import click

from drama_data.cli.options import Command, json_option, output_option, print_summary
from drama_models.cli_common import CleanExit, clean_errors
from drama_models.model_source import resolve_model
from drama_models.pruning.targets import NAMED_TARGETS

TARGET_HELP = (
    "Target shape: 'hidden=768,ffn=3072,heads=12,layers=12[,kv_heads=N]' or a named target "
    f"({', '.join(NAMED_TARGETS)}), or 'full' (the source's shape: with --vocab-from, vocabulary-only pruning). "
    "head_dim is kept from the source."
)


def _source(model: str, gguf_file: str | None) -> str:
    """``--model`` checked before any work: a model folder with its tokenizer, a Hub id, or a folder with --gguf-file."""
    if gguf_file:
        from pathlib import Path

        folder = Path(model).expanduser()
        if folder.is_dir():
            if not (folder / gguf_file).is_file():
                raise CleanExit(f"--gguf-file {gguf_file}: not in --model folder {folder}")
            return str(folder)
        return resolve_model(model, tokenizer=False)
    return resolve_model(model)


@click.command("prune", cls=Command, groups={
    "Input": ["calibration", "calibration_docs", "calibration_blocks", "min_calibration_blocks", "vocab_from",
              "vocab_docs", "heldout", "heldout_skip_docs", "heldout_blocks", "seq_len"],
    "Model/backend": ["model", "gguf_file", "dtype", "device", "trust_remote_code"],
    "Pruning": ["target", "method", "importance", "layer_metric", "batch_size", "seed", "sheared_steps", "sheared_lr",
                "sheared_weight_lr", "sheared_train_weights", "sheared_droprate_init", "sheared_fold_scales",
                "sheared_init"],
    "Output": ["overwrite", "no_progress"],
}, examples=[
    ("drama-models prune --model meta-llama/Llama-3.2-1B --target drama-0.1b --calibration data/scifact "
     "--output runs/drama-0.1b-pruned"),
])
@click.option("--model", required=True, help="Source model: Hub id or folder (Llama, Qwen2, Gemma 3 text).")
@click.option("--gguf-file", default=None, help="A .gguf file name inside --model (dequantised on load).")
@click.option("--target", required=True, help=TARGET_HELP)
@click.option("--calibration", default=None,
              help="Calibration text: BEIR folder, .jsonl(.gz) or .txt(.gz) (required unless --target full).")
@output_option("--out", required=True, help="Output folder (a plain HF checkpoint).")
@click.option("--method", type=click.Choice(["oneshot", "sheared"]), default="oneshot", show_default=True,
              help="oneshot: importance ranking then slicing (Minitron); sheared: learned L0 masks (Sheared-LLaMA).")
@click.option("--importance", type=click.Choice(["activation", "retrieval"]), default="activation", show_default=True,
              help="One-shot ranking: activations (Minitron) or a contrastive query-passage loss (Taylor).")
@click.option("--layer-metric", type=click.Choice(["bi", "loss"]), default="bi", show_default=True,
              help="Layer ranking for activation importance: block influence, or LM-loss increase when dropped.")
@click.option("--vocab-from", default=None, help="Keep only the tokens this corpus uses, its words in lower case, "
              "Capitalised and UPPER CASE included (plus specials and byte fallbacks).")
@click.option("--vocab-docs", type=int, default=None, help="Read at most this many --vocab-from documents.")
@click.option("--heldout", default=None, help="Held-out text for perplexity before/after (same formats).")
@click.option("--heldout-skip-docs", type=int, default=0, show_default=True,
              help="Skip this many documents of --heldout first (e.g. those used for calibration).")
@click.option("--heldout-blocks", type=int, default=32, show_default=True)
@click.option("--seq-len", type=int, default=256, show_default=True)
@click.option("--calibration-blocks", type=int, default=128, show_default=True, help="Blocks of --seq-len tokens used.")
@click.option("--calibration-docs", type=int, default=None, help="Read at most this many calibration documents.")
@click.option("--min-calibration-blocks", type=int, default=8, show_default=True)
@click.option("--batch-size", type=int, default=4, show_default=True)
@click.option("--sheared-steps", type=int, default=100, show_default=True)
@click.option("--sheared-lr", type=float, default=0.05, show_default=True, help="Mask and multiplier learning rate.")
@click.option("--sheared-weight-lr", type=float, default=1e-4, show_default=True)
@click.option("--sheared-train-weights", type=click.Choice(["all", "non-embedding", "none"]), default="all",
              show_default=True)
@click.option("--sheared-droprate-init", type=float, default=0.5, show_default=True)
@click.option("--sheared-fold-scales", is_flag=True, help="Fold the deterministic mask values into the weights.")
@click.option("--sheared-init", type=click.Choice(["uniform", "activation"]), default="uniform", show_default=True,
              help="uniform: Sheared-LLaMA's initial masks; activation: warm start from Minitron importance ranks.")
@click.option("--dtype", type=click.Choice(["float32", "bfloat16", "float16"]), default="float32", show_default=True)
@click.option("--device", default=None, help="cpu / cuda (default: cuda when available).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--overwrite", is_flag=True, help="Write into a non-empty --output.")
@click.option("--trust-remote-code", is_flag=True, help="Opt in to running the model repository's own code.")
@click.option("--no-progress", is_flag=True)
@json_option
@clean_errors
def prune_command(model, gguf_file, target, calibration, output, method, importance, layer_metric, vocab_from, vocab_docs,
                  heldout, heldout_skip_docs, heldout_blocks, seq_len, calibration_blocks, calibration_docs,
                  min_calibration_blocks, batch_size, sheared_steps, sheared_lr, sheared_weight_lr,
                  sheared_train_weights, sheared_droprate_init, sheared_fold_scales, sheared_init, dtype, device,
                  seed, overwrite, trust_remote_code, no_progress, as_json):
    """Prune an LLM to a small dense-retriever backbone (as in DRAMA, Ma et al. 2025)."""
    from drama_models.pruning.pipeline import PruneSettings, prune
    from drama_models.pruning.sheared import ShearedSettings

    settings = PruneSettings(
        method=method, importance=importance, layer_metric=layer_metric, seq_len=seq_len,
        calibration_blocks=calibration_blocks, calibration_docs=calibration_docs,
        min_calibration_blocks=min_calibration_blocks, batch_size=batch_size,
        sheared=ShearedSettings(steps=sheared_steps, batch_size=batch_size, mask_lr=sheared_lr, lambda_lr=sheared_lr,
                                weight_lr=sheared_weight_lr, train_weights=sheared_train_weights,
                                droprate_init=sheared_droprate_init, fold_scales=sheared_fold_scales, seed=seed),
        sheared_init=sheared_init, vocab_from=vocab_from, vocab_docs=vocab_docs, heldout=heldout,
        heldout_skip_docs=heldout_skip_docs,
        heldout_blocks=heldout_blocks, dtype=dtype, device=device, overwrite=overwrite, seed=seed,
        progress=not no_progress,
    )
    report = prune(_source(model, gguf_file), target, calibration, output, settings, gguf_file=gguf_file,
                   trust_remote_code=trust_remote_code)
    lines = [report["summary"], *(f"{key.replace('_', ' ')}: {report[key]:.2f}"
                                  for key in ("perplexity_before", "perplexity_after") if key in report),
             f"written to {output} (report: {output}/pruning.json)"]
    print_summary({"output": str(output), "report": f"{output}/pruning.json", **report}, "\n".join(lines),
                  as_json=as_json)


@click.command("pretrain", cls=Command, groups={
    "Input": ["corpus", "max_docs", "heldout_docs", "heldout_path", "heldout_skip_docs", "heldout_blocks", "seq_len"],
    "Model/backend": ["model", "gguf_file", "dtype", "trust_remote_code"],
    "Training": ["steps", "batch_size", "grad_accum", "lr", "min_lr_ratio", "warmup_steps", "weight_decay", "seed",
                 "stop_after", "resume"],
    "Output": ["save_every", "keep_checkpoints", "no_progress"],
}, examples=[
    ("drama-models pretrain --model runs/drama-0.1b-pruned --corpus data/scifact --output runs/drama-0.1b-pt "
     "--steps 2000"),
])
@click.option("--model", required=True, help="Model folder or Hub id (e.g. the output of `prune`).")
@click.option("--gguf-file", default=None)
@click.option("--corpus", required=True, help="Training text: BEIR folder, .jsonl(.gz) or .txt(.gz).")
@output_option("--out", required=True, help="Output folder: checkpoints while training, the model at the end.")
@click.option("--steps", type=int, default=1000, show_default=True)
@click.option("--batch-size", type=int, default=8, show_default=True, help="Blocks per device per micro-batch.")
@click.option("--grad-accum", type=int, default=1, show_default=True)
@click.option("--seq-len", type=int, default=256, show_default=True)
@click.option("--lr", type=float, default=1e-4, show_default=True)
@click.option("--min-lr-ratio", type=float, default=0.1, show_default=True)
@click.option("--warmup-steps", type=int, default=0, show_default=True)
@click.option("--weight-decay", type=float, default=0.0, show_default=True)
@click.option("--save-every", type=int, default=200, show_default=True)
@click.option("--keep-checkpoints", type=int, default=2, show_default=True)
@click.option("--max-docs", type=int, default=None)
@click.option("--heldout-docs", type=int, default=0, show_default=True,
              help="Keep the last N corpus documents out of training and report perplexity on them.")
@click.option("--heldout", "heldout_path", default=None, help="Separate held-out text for perplexity before/after.")
@click.option("--heldout-skip-docs", type=int, default=0, show_default=True)
@click.option("--heldout-blocks", type=int, default=32, show_default=True)
@click.option("--stop-after", type=int, default=None, help="Stop this run after N steps (resume later).")
@click.option("--resume/--no-resume", default=True, show_default=True, help="Continue from OUTPUT/checkpoint-* if any.")
@click.option("--dtype", type=click.Choice(["float32", "bfloat16", "float16"]), default="float32", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--trust-remote-code", is_flag=True)
@click.option("--no-progress", is_flag=True)
@json_option
@clean_errors
def pretrain_command(model, gguf_file, corpus, output, steps, batch_size, grad_accum, seq_len, lr, min_lr_ratio,
                     warmup_steps, weight_decay, save_every, keep_checkpoints, max_docs, heldout_docs, heldout_path,
                     heldout_skip_docs, heldout_blocks, stop_after, resume, dtype, seed, trust_remote_code, no_progress,
                     as_json):
    """Continued pretraining (LM loss) after pruning; torchrun-compatible (DDP)."""
    from drama_models.pruning.pretrain import PretrainSettings, pretrain

    settings = PretrainSettings(
        steps=steps, batch_size=batch_size, grad_accum=grad_accum, seq_len=seq_len, lr=lr, min_lr_ratio=min_lr_ratio,
        warmup_steps=warmup_steps, weight_decay=weight_decay, save_every=save_every,
        keep_checkpoints=keep_checkpoints, max_docs=max_docs, heldout_docs=heldout_docs, heldout=heldout_path,
        heldout_skip_docs=heldout_skip_docs, heldout_blocks=heldout_blocks, seed=seed,
        stop_after=stop_after, progress=not no_progress,
    )
    summary = pretrain(_source(model, gguf_file), corpus, output, settings, resume=resume, dtype=dtype,
                       gguf_file=gguf_file, trust_remote_code=trust_remote_code)
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun only rank 0 reports
        brief = {k: v for k, v in summary.items() if k not in ("history", "settings")}
        print_summary({"output": str(output), **brief}, _pretrain_text(brief, output), as_json=as_json)


def _pretrain_text(summary: dict, output: str) -> str:
    """The lines ``pretrain`` prints without ``--json``."""
    from drama_data.plurals import plural

    if not summary.get("finished"):
        return (f"stopped at step {summary['step']} of {summary['steps']} (a rerun continues); checkpoint in {output}")
    lines = [(f"pretrained {plural(summary['steps'], 'step')} ({summary['tokens_seen']:,} tokens, "
              f"{summary['seconds_this_run']} s this run): {output} (report: {output}/pretrain.json)")]
    before, after = summary.get("heldout_perplexity_before"), summary.get("heldout_perplexity_after")
    if after is not None:
        lines.append("held-out perplexity: " + (f"{before:.2f} before, " if before is not None else "")
                     + f"{after:.2f} after")
    return "\n".join(lines)


def register(group: click.Group) -> None:
    """Add ``prune`` and ``pretrain`` to a click group (the ``drama-models`` CLI)."""
    group.add_command(prune_command)
    group.add_command(pretrain_command)
