"""``prune()``: the whole pruning flow behind ``drama-models prune``, checks first, work second.

Checks, all before the model's weights are loaded: method / importance names, the architecture
(``arch.py``), the target against the source shape (``targets.py``), the calibration text (enough tokens for
``min_calibration_blocks`` blocks; enough sentence pairs for retrieval importance), the ``--vocab-from`` corpus
and tokenizer, the held-out text, the output folder.

``--target full`` (the source's shape) needs no calibration text and skips importance and slicing: with
``--vocab-from`` it prunes the vocabulary only.

Work: load the model (fp32 by default) -> importance (activation: Minitron; retrieval: contrastive Taylor) and a
plan, or Sheared-LLaMA masks -> slice to the exact target -> optionally prune the vocabulary -> save a plain
transformers checkpoint plus ``pruning.json`` (target, kept indices, parameter counts, perplexities, timings).
Input/Output: see `prune`.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from drama_models.pruning.arch import adapter_for
from drama_models.pruning.errors import PruningError
from drama_models.pruning.lm_data import text_blocks
from drama_models.pruning.loading import load_causal_lm, load_config, load_tokenizer
from drama_models.pruning.plan import PruningPlan
from drama_models.pruning.report import format_counts, parameter_counts, perplexity
from drama_models.pruning.sheared import ShearedSettings
from drama_models.pruning.targets import Shape, Target, resolve_target
from drama_models.pruning.text_source import read_texts

METHODS = ("oneshot", "sheared")
IMPORTANCES = ("activation", "retrieval")
MIN_RETRIEVAL_PAIRS = 8


@dataclass
class PruneSettings:
    """How [`prune`][drama_models.pruning.pipeline.prune] prunes: the method, calibration, vocabulary and held-out
    text, precision and output handling (each one a ``drama-models prune`` flag of the same name).

    Attributes:
        method: ``oneshot`` (importance ranking then slicing, as Minitron) or ``sheared`` (learned L0 masks, as
            Sheared-LLaMA).
        importance: One-shot ranking: ``activation`` (Minitron) or ``retrieval`` (a contrastive query-passage
            loss, Taylor importance).
        layer_metric: Layer ranking for activation importance: ``bi`` (block influence) or ``loss`` (LM-loss
            increase when the layer is dropped).
        seq_len: Tokens per calibration block (DRAMA trains with max length 256).
        calibration_blocks: Calibration blocks used (Minitron uses 1024 samples; 128 is a CPU-friendly default).
        calibration_docs: Read at most this many calibration documents.
        min_calibration_blocks: Fewest full blocks the calibration text must give.
        batch_size: Blocks per forward pass.
        retrieval_pairs: ``retrieval`` importance: (query, passage) pairs made from the calibration text.
        retrieval_max_length: ``retrieval`` importance: max tokens per text of a pair.
        sheared: The Sheared-LLaMA settings (steps, learning rates, ...).
        sheared_init: ``uniform`` (Sheared-LLaMA's initial masks) or ``activation`` (warm start from Minitron
            importance ranks).
        vocab_from: Keep only the tokens this corpus uses (plus specials and byte fallbacks).
        vocab_docs: Read at most this many ``vocab_from`` documents.
        heldout: Held-out text for perplexity before and after.
        heldout_docs: Read at most this many held-out documents.
        heldout_skip_docs: Skip this many held-out documents first (e.g. those used for calibration).
        heldout_blocks: Held-out blocks of ``seq_len`` tokens measured.
        measure_before: Also measure the source model's perplexity.
        dtype: ``float32``, ``bfloat16`` or ``float16`` for loading the model.
        device: ``cpu`` or ``cuda`` (``None``: cuda when available).
        overwrite: Write into a non-empty output folder.
        seed: Seed for pairs, sampling and sheared training.
        progress: Show progress bars.
    """

    method: str = "oneshot"
    importance: str = "activation"
    layer_metric: str = "bi"
    seq_len: int = 256  # DRAMA trains with max length 256
    calibration_blocks: int = 128  # Minitron uses 1024 samples; a CPU-friendly default
    calibration_docs: int | None = None
    min_calibration_blocks: int = 8
    batch_size: int = 4
    retrieval_pairs: int = 256
    retrieval_max_length: int = 128
    sheared: ShearedSettings = field(default_factory=ShearedSettings)
    sheared_init: str = "uniform"  # "uniform" (Sheared-LLaMA) or "activation" (warm start from Minitron scores)
    vocab_from: str | None = None
    vocab_docs: int | None = None
    heldout: str | None = None
    heldout_docs: int | None = None
    heldout_skip_docs: int = 0
    heldout_blocks: int = 32
    measure_before: bool = True
    dtype: str = "float32"
    device: str | None = None
    overwrite: bool = False
    seed: int = 0
    progress: bool = True


def _check_choices(st: PruneSettings) -> None:
    if st.method not in METHODS:
        raise PruningError(f"--method {st.method!r}: choose one of {', '.join(METHODS)}")
    if st.importance not in IMPORTANCES:
        raise PruningError(f"--importance {st.importance!r}: choose one of {', '.join(IMPORTANCES)}")
    if st.layer_metric not in ("bi", "loss"):
        raise PruningError(f"--layer-metric {st.layer_metric!r}: choose bi or loss")
    if st.method == "sheared" and st.importance != "activation":
        raise PruningError("--importance applies to --method oneshot; sheared learns its own masks")
    if st.sheared_init not in ("uniform", "activation"):
        raise PruningError(f"--sheared-init {st.sheared_init!r}: choose uniform or activation")
    if st.seq_len < 8:
        raise PruningError(f"--seq-len {st.seq_len}: must be >= 8")
    if st.dtype not in ("float32", "bfloat16", "float16"):
        raise PruningError(f"--dtype {st.dtype!r}: choose float32, bfloat16 or float16")



def _calibration_blocks(calibration, tokenizer, shape, st: PruneSettings) -> tuple[list[str], list]:
    """The calibration texts and their token blocks for pruning to ``shape``, checked for what the method needs
    (raises :class:`PruningError` naming ``--calibration``)."""
    if calibration is None:
        raise PruningError(f"--calibration is needed to prune to {shape.as_text()} (only --target full goes without)")
    texts = read_texts(calibration, max_docs=st.calibration_docs, option="--calibration")
    blocks = text_blocks(tokenizer, texts, st.seq_len, max_blocks=st.calibration_blocks)
    if len(blocks) < st.min_calibration_blocks:
        n_tokens = len(blocks) * st.seq_len
        raise PruningError(
            f"--calibration {calibration}: too short; {len(texts)} documents give {len(blocks)} full blocks of "
            f"{st.seq_len} tokens (~{n_tokens} tokens) but importance needs at least {st.min_calibration_blocks} "
            f"blocks ({st.min_calibration_blocks * st.seq_len} tokens). Give more text, or lower --seq-len"
        )
    if st.method == "sheared" and len(blocks) < st.sheared.batch_size:
        raise PruningError(
            f"--calibration: {len(blocks)} blocks, fewer than the sheared batch size {st.sheared.batch_size}"
        )
    if st.method == "oneshot" and st.importance == "retrieval":
        from drama_models.pruning.retrieval_importance import make_pairs

        n_pairs = len(make_pairs(texts, st.retrieval_pairs, st.seed))
        if n_pairs < MIN_RETRIEVAL_PAIRS:
            raise PruningError(
                f"--calibration {calibration}: only {n_pairs} documents with two or more sentences; "
                f"--importance retrieval needs at least {MIN_RETRIEVAL_PAIRS} (query, passage) pairs"
            )
    return texts, blocks


def prune(
    model: str,
    target: str | Target,
    calibration: str | Path | None,
    out: str | Path,
    settings: PruneSettings | None = None,
    gguf_file: str | None = None,
    trust_remote_code: bool = False,
) -> dict:
    """Prune a decoder LLM to a smaller shape and save it as a plain transformers checkpoint.

    As in DRAMA (Ma et al. 2025), the pruned model is the backbone a dense retriever is then trained from. Every
    check runs before the weights are loaded; then importance and a plan (or Sheared-LLaMA masks), slicing to the
    exact target, optionally vocabulary pruning, and the save, with ``pruning.json`` beside it.

    Args:
        model: The source model: a Hub id or folder (Llama, Qwen2, Gemma 3 text).
        target: The target shape: ``"hidden=768,ffn=3072,heads=12,layers=12[,kv_heads=N]"``, a named target
            (``drama-0.1b``, ``drama-0.3b``), a `Target`, or ``"full"`` (the source's shape: with ``vocab_from``,
            vocabulary-only pruning). ``head_dim`` is kept from the source.
        calibration: Calibration text: a BEIR folder, ``.jsonl(.gz)`` or ``.txt(.gz)`` file; may be ``None``
            only with ``target="full"``.
        out: The output folder; must be missing or empty unless ``settings.overwrite``.
        settings: The [`PruneSettings`][drama_models.pruning.pipeline.PruneSettings]; ``None`` for the defaults.
        gguf_file: A ``.gguf`` file inside ``model`` (dequantised on load).
        trust_remote_code: Run the model repository's own code.

    Returns:
        The report also written to ``out/pruning.json``: target, kept indices, parameter counts, perplexities
            (with ``heldout``), timings.

    Raises:
        PruningError: Bad input (an unknown method, architecture or target, too little calibration text, a
            non-empty output folder, ...), one line naming the flag, before any weights are loaded.
    """
    st = settings or PruneSettings()
    timings: dict[str, float] = {}
    t_start = time.time()
    _check_choices(st)
    config = load_config(model, gguf_file, trust_remote_code)
    adapter_for(config, "--model")
    source = Shape.from_config(config)
    shape = resolve_target(target, source, "--target")
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not st.overwrite:
        raise PruningError(f"--output {out}: folder exists and is not empty; pass --overwrite to replace its files")

    tokenizer = load_tokenizer(model, gguf_file, trust_remote_code)
    keep_shape = shape == source
    if keep_shape and st.method == "sheared":
        raise PruningError("--method sheared learns masks to shrink the model; --target keeps its shape: use oneshot")
    texts, blocks = ([], None) if keep_shape else _calibration_blocks(calibration, tokenizer, shape, st)
    vocab_texts = None
    if st.vocab_from:
        from drama_models.pruning.vocab import check_tokenizer

        check_tokenizer(tokenizer)
        vocab_texts = read_texts(st.vocab_from, max_docs=st.vocab_docs, option="--vocab-from")
        if not vocab_texts:
            raise PruningError(f"--vocab-from {st.vocab_from}: no documents")
    heldout = None
    if st.heldout:
        h_texts = read_texts(st.heldout, max_docs=st.heldout_docs, skip_docs=st.heldout_skip_docs, option="--heldout")
        heldout = text_blocks(tokenizer, h_texts, st.seq_len, max_blocks=st.heldout_blocks)
        if len(heldout) == 0:
            raise PruningError(f"--heldout {st.heldout}: not enough text for one block of {st.seq_len} tokens")
    timings["checks_s"] = round(time.time() - t_start, 2)

    # ---------------------------------------------------------------- work
    t = time.time()
    device = st.device or ("cuda" if torch.cuda.is_available() else "cpu")
    net = load_causal_lm(model, st.dtype, gguf_file, trust_remote_code, device)
    timings["load_s"] = round(time.time() - t, 2)
    report: dict = {
        "source_model": str(model),
        "source_shape": asdict(source),
        "target": shape.__dict__ | {"requested": target.as_text() if isinstance(target, Target) else str(target)},
        "method": "none (shape kept)" if keep_shape else st.method,
        "importance": st.importance if st.method == "oneshot" and not keep_shape else None,
        "calibration": None if keep_shape else {"source": str(calibration), "documents": len(texts),
                                                "blocks": len(blocks), "seq_len": st.seq_len},
        "parameters_before": parameter_counts(net),
    }
    if heldout is not None and st.measure_before:
        t = time.time()
        report["perplexity_before"] = perplexity(net, heldout.to(device), st.batch_size, "perplexity (source)", st.progress)
        timings["perplexity_before_s"] = round(time.time() - t, 2)

    t = time.time()
    scales = None
    if keep_shape:
        plan = PruningPlan.identity(source)
    elif st.method == "oneshot":
        if st.importance == "activation":
            from drama_models.pruning.importance import activation_importance

            scores = activation_importance(net, blocks.to(device), st.batch_size, st.layer_metric, st.progress)
        else:
            from drama_models.pruning.retrieval_importance import retrieval_importance

            scores = retrieval_importance(net, tokenizer, texts, st.retrieval_pairs, max(2, st.batch_size * 4),
                                          st.retrieval_max_length, seed=st.seed, progress=st.progress)
        plan = PruningPlan.from_scores(scores, source, shape)
        timings["importance_s"] = round(time.time() - t, 2)
    else:
        from drama_models.pruning.sheared import sheared_prune

        init = None
        if st.sheared_init == "activation":
            from drama_models.pruning.importance import activation_importance

            init = activation_importance(net, blocks.to(device), st.batch_size, st.layer_metric, st.progress)
        result = sheared_prune(net, blocks.to(device), shape, st.sheared, st.progress, init_scores=init)
        plan, scales = result.plan, result.scales
        report["sheared"] = {"settings": asdict(st.sheared), "init": st.sheared_init, "first": result.history[0],
                             "last": result.history[-1]}
        timings["sheared_s"] = round(time.time() - t, 2)

    t = time.time()
    from drama_models.pruning.slicing import slice_model

    pruned = net if keep_shape else slice_model(net, plan, scales)
    del net
    timings["slice_s"] = round(time.time() - t, 2)
    report["kept"] = {"layers": plan.layers, "heads": plan.heads, "kv_heads": plan.kv_heads}
    report["parameters_after_pruning"] = parameter_counts(pruned)
    if heldout is not None:
        t = time.time()
        report["perplexity_after"] = perplexity(pruned, heldout.to(device), st.batch_size, "perplexity (pruned)", st.progress)
        timings["perplexity_after_s"] = round(time.time() - t, 2)
    if vocab_texts is not None:
        from drama_models.pruning.vocab import prune_vocabulary

        t = time.time()
        pruned, tokenizer, info = prune_vocabulary(pruned, tokenizer, vocab_texts, st.progress)
        info.pop("kept_ids")
        report["vocabulary"] = info | {"source": str(st.vocab_from)}
        report["parameters_after_vocabulary"] = parameter_counts(pruned)
        timings["vocabulary_s"] = round(time.time() - t, 2)

    t = time.time()
    out.mkdir(parents=True, exist_ok=True)
    pruned.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "pruning_plan.json").write_text(json.dumps(plan.to_dict()))
    timings["save_s"] = round(time.time() - t, 2)
    timings["total_s"] = round(time.time() - t_start, 2)
    report["timings"] = timings
    report["summary"] = (
        f"{source.as_text()} -> {shape.as_text()}; parameters {format_counts(report['parameters_before'])} -> "
        f"{format_counts(report.get('parameters_after_vocabulary', report['parameters_after_pruning']))}"
    )
    (out / "pruning.json").write_text(json.dumps(report, indent=2))
    return report
