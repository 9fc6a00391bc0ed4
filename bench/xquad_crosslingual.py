"""Cross-lingual retrieval on XQuAD-R (issue 12's measure): queries of one language over the aligned passages
of another, for BM25 and any encoders given.

``../shared/data/xquad-r-de`` and ``xquad-r-zh`` hold the same 1,190 questions over aligned sentences with shared
ids, so German questions with the Chinese corpus and the Chinese qrels form a de->zh collection (and so on).
Never train on these questions: they are only scored here.

    python bench/xquad_crosslingual.py --model minilm --model runs/xl/train-gemma

Prints one table row per (pair, system); the last line is the de->zh headline against the better baseline:
``xquad_de_zh_ndcg10: SYSTEM VALUE (goal: >= 2 x max(BM25, all-MiniLM-L6-v2) = X)``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAIRS = (("de", "zh"), ("zh", "de"), ("de", "de"), ("zh", "zh"))


def pair_collection(root: Path, query_lang: str, passage_lang: str):
    """Questions of ``xquad-r-<query_lang>`` over the corpus and qrels of ``xquad-r-<passage_lang>``."""
    from drama_models.beir import BeirCollection, load_beir

    q = load_beir(root / f"xquad-r-{query_lang}", "test")
    p = load_beir(root / f"xquad-r-{passage_lang}", "test")
    queries = {i: t for i, t in q.queries.items() if i in p.qrels}
    return BeirCollection(name=f"xquad-r {query_lang}->{passage_lang}", path=p.path, split="test",
                          corpus=p.corpus, queries=queries, qrels={i: p.qrels[i] for i in queries})


class CachedEncoder:
    """An encoder that encodes a given list of texts once: the four pairs share two corpora and two question
    sets, so each model encodes each of them once instead of twice. In: any encoder with ``encode_queries`` /
    ``encode_documents``; out: the same calls, memoised on (kind, texts, dim)."""

    def __init__(self, encoder):
        self.encoder = encoder
        self.cache: dict[tuple, object] = {}

    def _get(self, kind: str, texts, dim, **kw):
        key = (kind, tuple(texts), dim)
        if key not in self.cache:
            self.cache[key] = getattr(self.encoder, f"encode_{kind}")(list(texts), dim=dim, **kw)
        return self.cache[key]

    def encode_queries(self, texts, dim=None, **kw):
        return self._get("queries", texts, dim, **kw)

    def encode_documents(self, texts, dim=None, **kw):
        return self._get("documents", texts, dim, **kw)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--model", action="append", default=[],
                    help="an encoder (path, Hub id or short name such as minilm); repeatable")
    ap.add_argument("--pairs", default=",".join(f"{a}-{b}" for a, b in PAIRS),
                    help="query-passage language pairs, e.g. de-zh,de-de")
    ap.add_argument("--max-length", type=int, default=256)
    a = ap.parse_args()

    from drama_models.encoder import DramaEncoder
    from drama_models.evaluation import bm25_run, compute_metrics, dense_run
    from drama_models.zoo import resolve_model

    pairs = [tuple(x.split("-")) for x in a.pairs.split(",") if x]
    paths = {m: resolve_model(m) for m in a.model}
    for m, path in paths.items():  # a folder that is not there: one line, not a Hub lookup's traceback
        if (path.startswith((".", "/", "~")) or Path(path).parent.is_dir()) and not Path(path).expanduser().is_dir():
            ap.error(f"--model {m}: no such model folder")
    encoders = {m: CachedEncoder(DramaEncoder.from_pretrained(path, max_length=a.max_length))
                for m, path in paths.items()}
    results: dict[tuple[str, str], float] = {}
    print("| pair | system | nDCG@10 | Recall@100 |\n|---|---|---|---|")
    for ql, pl in pairs:
        c = pair_collection(a.data_root, ql, pl)
        runs = {"BM25": bm25_run(c, language=pl)}
        for name, enc in encoders.items():
            runs[name] = dense_run(enc, c, show_progress=False)
        for name, run in runs.items():
            m = compute_metrics(c.qrels, run)
            results[(f"{ql}->{pl}", name)] = m["ndcg@10"]
            print(f"| {ql}->{pl} | {name} | {m['ndcg@10']:.4f} | {m['recall@100']:.4f} |", flush=True)
    dz = {name: v for (pair, name), v in results.items() if pair == "de->zh"}
    if dz:
        baselines = [v for name, v in dz.items() if name == "BM25" or resolve_model(name) == resolve_model("minilm")]
        best = max(dz, key=dz.get)
        print(f"xquad_de_zh_ndcg10: {best} {dz[best]:.4f} (goal: >= 2 x max(BM25, all-MiniLM-L6-v2) = "
              f"{2 * max(baselines):.4f})")


if __name__ == "__main__":
    main()
