#!/usr/bin/env bash
# DRAMA-0.1B backbone (Ma et al. 2025, section 3.2): Llama-3.2-1B pruned with Sheared-LLaMA's learned masks to
# hidden 768 / FFN 3072 / 12 heads / 12 layers (12 KV heads and head_dim 64 as in facebook/drama-base), full
# Llama-3 vocabulary kept, then continued pretraining with the LM loss. Then `drama-models train` with
# recipes/drama-0.1b.yaml (its `model:` is the pretrained folder below).
#
# The paper's pruning run uses far more text and steps than these defaults on one machine (Sheared-LLaMA: 3,200
# mask steps, then tens of billions of tokens of continued pretraining). CORPUS is any BEIR folder or
# .jsonl(.gz)/.txt(.gz) of pretraining-style text (DRAMA: English web : multilingual Wikipedia : multilingual web
# = 2:1:1); HELDOUT is text kept out of training for perplexity.
#
#   CORPUS=data/pretrain.jsonl.gz HELDOUT=data/heldout.jsonl bash recipes/prune-drama-0.1b.sh
#   NPROC=8 ... runs the continued pretraining under torchrun (DDP).
set -euo pipefail
MODEL=${MODEL:-meta-llama/Llama-3.2-1B}
CORPUS=${CORPUS:?set CORPUS to a text corpus}
HELDOUT=${HELDOUT:-$CORPUS}
OUT=${OUT:-outputs}
NPROC=${NPROC:-1}

drama-models prune --model "$MODEL" --target drama-0.1b --method sheared \
  --calibration "$CORPUS" --calibration-blocks 4096 --seq-len 256 --batch-size 8 \
  --sheared-steps 3200 --sheared-lr 0.1 --sheared-weight-lr 1e-4 \
  --heldout "$HELDOUT" --heldout-blocks 64 --output "$OUT/drama-0.1b-sheared"

torchrun --nproc-per-node "$NPROC" -m drama_models.cli pretrain --model "$OUT/drama-0.1b-sheared" \
  --corpus "$CORPUS" --output "$OUT/drama-0.1b-pruned" --steps 20000 --batch-size 16 --seq-len 256 \
  --lr 1e-4 --warmup-steps 500 --save-every 1000
