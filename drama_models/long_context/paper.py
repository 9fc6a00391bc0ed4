"""Published long-context scores to print next to ours (nDCG@1 x 100 per context length, LongEmbed's metric).

- ``Drama-0.1B``, ``Drama-1B``, ``BGE-M3`` on Needle: the DRAMA paper (Ma et al. 2025), as issue 30 quotes it
  (512 / 4k / 8k / 32k tokens); ``Drama-1B`` on Passkey: 100 up to 4k, 96.2 at 8k (same source).
- ``BGE-M3`` on Passkey: LongEmbed's own results file (``dwzhu-pku/LongEmbed``, ``results/bge-m3/
  LEMBPasskeyRetrieval.json``, ``ndcg_at_1``).

A length a source does not report is left out (the table prints ``-``).
"""
from __future__ import annotations

PAPER_ROWS: dict[str, dict[str, dict[int, float]]] = {
    "needle": {
        "Drama-0.1B (paper)": {512: 93.8, 4096: 48.5, 8192: 32.9, 32768: 8.2},
        "Drama-1B (paper)": {512: 95.2, 4096: 77.8, 8192: 53.8, 32768: 19.0},
        "BGE-M3 (paper)": {512: 84.4, 4096: 49.9, 8192: 26.2, 32768: 12.6},
    },
    "passkey": {
        "Drama-1B (paper)": {256: 100.0, 512: 100.0, 1024: 100.0, 2048: 100.0, 4096: 100.0, 8192: 96.2},
        "BGE-M3 (LongEmbed)": {256: 100.0, 512: 100.0, 1024: 98.0, 2048: 80.0, 4096: 28.0, 8192: 34.0,
                               16384: 16.0, 32768: 14.0},
    },
}
