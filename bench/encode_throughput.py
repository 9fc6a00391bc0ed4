"""Documents/s of ``DramaEncoder.encode_documents`` vs ``SentenceTransformer.encode`` on all-MiniLM-L6-v2.

Same model files, same documents (scifact abstracts, "title text"), same max length (the model's 256), same
number of threads. Each system encodes the documents ``--rounds`` times, alternating, and its best round counts
(the machine is shared; the best round is the least disturbed); the CPU time of the process is reported too,
which a busy neighbour disturbs less (with ``--threads 1`` it is the work done). Both use their default batch size unless
``--batch-size`` is given; a second line compares them at the same batch size. Embeddings are checked to agree.

    python bench/encode_throughput.py [--data-root ../shared/data] [--limit 1000] [--rounds 2]

Last line: ``encode_docs_per_s_vs_sentence_transformers: <ratio>x (goal: >= 1.0x)``.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from scifact_data import DEFAULT_DATA_ROOT, minilm_path, scifact


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-root", default=str(DEFAULT_DATA_ROOT))
    ap.add_argument("--limit", type=int, default=1000, help="number of scifact documents (0 = all 5183)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=None, help="batch size for both (default: each one's own)")
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from sentence_transformers import SentenceTransformer

    from drama_models.encoder import DramaEncoder

    c = scifact(args.data_root)
    docs = c.document_texts()
    docs = docs[: args.limit] if args.limit else docs
    path = minilm_path()
    ours = DramaEncoder.from_pretrained(path, device="cpu")
    st = SentenceTransformer(path, device="cpu")
    ours_bs = args.batch_size or 32   # encode_documents' default
    st_bs = args.batch_size or 32     # SentenceTransformer.encode's default
    print(f"{len(docs)} scifact documents, max_length {ours.max_length}/{st.max_seq_length}, "
          f"threads {args.threads}, batch ours {ours_bs} / sentence-transformers {st_bs}")

    def run_ours(bs):
        return ours.encode_documents(docs, batch_size=bs, show_progress=False)

    def run_st(bs):
        return st.encode(docs, batch_size=bs, convert_to_numpy=True, show_progress_bar=False)

    run_ours(ours_bs)[:1], run_st(st_bs)[:1]  # warm-up (first-call allocations)
    best = {"ours": float("inf"), "st": float("inf"), "ours_same": float("inf")}
    best_cpu = dict(best)
    emb = {}
    for r in range(args.rounds):
        for name, fn, bs in (("ours", run_ours, ours_bs), ("st", run_st, st_bs), ("ours_same", run_ours, st_bs)):
            t, c0 = time.perf_counter(), time.process_time()
            emb[name] = fn(bs)
            dt, cpu = time.perf_counter() - t, time.process_time() - c0
            best[name] = min(best[name], dt)
            best_cpu[name] = min(best_cpu[name], cpu)
            print(f"round {r + 1} {name:10s} {dt:7.2f} s wall {cpu:7.2f} s cpu  {len(docs) / dt:8.1f} docs/s")
    diff = float(np.abs(emb["ours"] - emb["st"]).max())
    print(f"max |ours - sentence-transformers| over all embeddings: {diff:.2e}")
    rate = {k: len(docs) / v for k, v in best.items()}
    print(f"per CPU-second: ours {len(docs) / best_cpu['ours']:.1f}, sentence-transformers "
          f"{len(docs) / best_cpu['st']:.1f} docs = {best_cpu['st'] / best_cpu['ours']:.2f}x")
    print(f"best wall-clock: ours {rate['ours']:.1f} docs/s, sentence-transformers {rate['st']:.1f} docs/s")
    print(f"same batch size {st_bs}: ours {rate['ours_same']:.1f} docs/s = {rate['ours_same'] / rate['st']:.2f}x")
    print(f"encode_docs_per_s_vs_sentence_transformers: {rate['ours'] / rate['st']:.2f}x (goal: >= 1.0x)")


if __name__ == "__main__":
    main()
