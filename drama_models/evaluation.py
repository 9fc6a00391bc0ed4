"""Evaluate dense encoders (and a BM25 baseline) on BEIR-layout collections.

``evaluate(model, [dir, ...], split="test", bm25=True, output_dir=...)`` reads each folder with
`drama_models.beir.load_beir`, encodes corpus and queries with a `DramaEncoder`, searches the top
``k`` (exact search for small corpora, faiss for large: `dense_run`), scores the run with
pytrec_eval and, when ``output_dir`` is given, writes per dataset ``<dataset>/<system>.trec`` (TREC run file)
and ``<dataset>/<system>.metrics.json``, plus ``results.json`` and ``results.md`` (the table) at the top.

Metrics (the ones DRAMA and BEIR report): nDCG@10 (trec_eval ``ndcg_cut_10``: linear gains, log2 discount),
Recall@100 (``recall_100``) and MRR@10 (``recip_rank`` on the run cut to its 10 best documents). Each is the
mean over *every* judged query of the split; a query the system returns nothing for scores 0 (pytrec_eval alone
would leave it out of the mean). Ties in score are ordered as trec_eval orders them: by document id, descending.

Bad input is handled by the reader (see `drama_models.beir`): unknown ids in qrels are skipped and counted
(reported in the metrics JSON under ``skipped`` and in a log warning), or raise with ``strict=True``; an empty
split raises naming the file.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cards import render as render_card
from drama_models.beir import BeirCollection, load_beir

logger = logging.getLogger(__name__)

METRICS = ("ndcg@10", "recall@100", "mrr@10")
Run = dict[str, dict[str, float]]


def ranked(docs: dict[str, float]) -> list[tuple[str, float]]:
    """A query's results in trec_eval order: score descending, ties by document id descending."""
    return sorted(docs.items(), key=lambda item: (item[1], item[0]), reverse=True)


def compute_metrics(qrels: dict[str, dict[str, int]], run: Run) -> dict:
    """nDCG@10, Recall@100, MRR@10 averaged over all queries of ``qrels`` (see the module docstring).

    Returns ``{"ndcg@10": float, "recall@100": float, "mrr@10": float, "num_queries": int,
    "per_query": {qid: {metric: value}}}``.
    """
    import pytrec_eval

    if not qrels:
        raise ValueError("qrels is empty: no judged query to evaluate")
    judged_run = {q: {d: float(s) for d, s in run.get(q, {}).items()} for q in qrels if run.get(q)}
    cut10 = {q: dict(ranked(docs)[:10]) for q, docs in judged_run.items()}
    per_query = {q: {m: 0.0 for m in METRICS} for q in qrels}
    if judged_run:
        main = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.100"}).evaluate(judged_run)
        rr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(cut10)
        for q, values in main.items():
            per_query[q]["ndcg@10"] = values["ndcg_cut_10"]
            per_query[q]["recall@100"] = values["recall_100"]
        for q, values in rr.items():
            per_query[q]["mrr@10"] = values["recip_rank"]
    result = {m: float(np.mean([v[m] for v in per_query.values()])) for m in METRICS}
    result["num_queries"] = len(per_query)
    result["per_query"] = per_query
    return result


def write_trec_run(run: Run, path: str | Path, tag: str) -> Path:
    """Write ``qid Q0 docid rank score tag`` lines, queries in input order, documents in trec_eval order."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tag = tag.replace(" ", "_") or "run"
    with open(path, "w", encoding="utf-8") as f:
        for qid, docs in run.items():
            f.writelines(f"{qid} Q0 {doc_id} {rank} {score:.6f} {tag}\n"
                         for rank, (doc_id, score) in enumerate(ranked(docs), 1))
    return path


def read_trec_run(path: str | Path) -> Run:
    """The run in a ``qid Q0 docid rank score tag`` file (as :func:`write_trec_run` writes it)."""
    run: Run = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            parts = line.split()
            if len(parts) != 6:
                raise ValueError(f"{path}:{n}: not a TREC run line (qid Q0 docid rank score tag)")
            run.setdefault(parts[0], {})[parts[2]] = float(parts[4])
    return run


def fused_run(lexical: Run, dense: Run, weight: float = 0.5) -> Run:
    """BM25 and dense runs fused per query as the hybrid miner fuses them
    (:func:`drama_data.mining.hybrid.z_fuse`; a passage outside a list gets that list's lowest score)."""
    from drama_data.mining.hybrid import z_fuse

    return {q: z_fuse(ranked(lexical.get(q, {})), ranked(dense.get(q, {})), weight)
            for q in dict.fromkeys([*dense, *lexical])}


SEARCH_METHODS = ("auto", "exact", "faiss", "hnsw")


def dense_run(
    encoder,
    collection: BeirCollection,
    *,
    k: int = 100,
    dim: int | None = None,
    batch_size: int = 64,
    search_method: str = "auto",
    show_progress: bool = True,
) -> Run:
    """Encode ``collection``'s corpus and queries with ``encoder`` and return its top-``k`` run.

    Search is :class:`drama_data.mining.dense.DenseRetriever`'s: ``"exact"`` (blocked matmul), ``"faiss"``
    (flat inner product), ``"hnsw"`` (approximate) or ``"auto"`` (exact for small corpora, faiss flat above).
    """
    from drama_data.mining.dense import DenseRetriever

    if search_method not in SEARCH_METHODS:
        raise ValueError(f"option `search_method`={search_method!r} must be one of {', '.join(map(repr, SEARCH_METHODS))}")
    doc_ids = list(collection.corpus)
    qids = list(collection.queries)
    docs = encoder.encode_documents(
        collection.document_texts(doc_ids), dim=dim, batch_size=batch_size, show_progress=show_progress
    )
    queries = encoder.encode_queries(
        [collection.queries[q] for q in qids], dim=dim, batch_size=batch_size, show_progress=show_progress
    )
    retriever = DenseRetriever.from_embeddings(doc_ids, docs, faiss_index="hnsw" if search_method == "hnsw" else "flat")
    mode = {"auto": None, "exact": "exact"}.get(search_method, "faiss")
    return {q: dict(hits) for q, hits in zip(qids, retriever.search_embeddings(queries, k, mode=mode))}


def bm25_run(collection: BeirCollection, *, k: int = 100, language: str | None = None) -> Run:
    """BM25 top-``k`` with ``drama_data``'s default miner (:class:`drama_data.mining.bm25.BM25sRetriever`: bm25s,
    k1=0.9, b=0.4, stemming and stopwords per language, CJK n-grams), title and text indexed; the language comes
    from the folder's SOURCE.md when not given (:func:`drama_models.beir.detect_language`)."""
    from drama_data.chunking import Passage
    from drama_data.mining.bm25 import BM25sRetriever
    from drama_models.beir import detect_language

    doc_ids = list(collection.corpus)
    language = language or detect_language(collection.path, collection.document_texts(doc_ids[:200]))
    retriever = BM25sRetriever(language, progress=False)
    retriever.index([Passage(i, i, 0, collection.corpus[i]["title"] or "", collection.corpus[i]["text"])
                     for i in doc_ids])
    qids = list(collection.queries)
    hits = retriever.search([collection.queries[q] for q in qids], k)
    return {q: dict(h) for q, h in zip(qids, hits)}


def result_row(collection: BeirCollection, system: str, split: str, metrics: dict, seconds: float) -> dict:
    """One row of :func:`evaluate`'s results (``run_file`` None until the run is written)."""
    return {"dataset": collection.name, "system": system, "split": split, **{m: metrics[m] for m in METRICS},
            "num_queries": metrics["num_queries"], "num_docs": len(collection.corpus),
            "skipped": collection.skipped, "seconds": round(seconds, 2), "run_file": None}


def check_data_dirs(data_dirs: Sequence[str | Path], option: str = "--data") -> None:
    """Raise ``ValueError`` (one line naming ``option``) for the first entry of ``data_dirs`` that is not an existing
    folder; Hub ids are not collections here (evaluation needs a local BEIR folder: corpus.jsonl, queries.jsonl,
    qrels/<split>.tsv)."""
    from drama_data.sources import SourceError, local_path

    for folder in data_dirs:
        try:
            local_path(folder, option, kind="folder")
        except SourceError as err:
            raise SourceError(f"{err} (a BEIR folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv)") from None


def evaluate(
    model,
    data_dirs: Sequence[str | Path],
    *,
    split: str = "test",
    bm25: bool = False,
    output_dir: str | Path | None = None,
    name: str | None = None,
    dim: int | None = None,
    k: int = 100,
    batch_size: int = 64,
    search_method: str = "auto",
    strict: bool = False,
    show_progress: bool = True,
    encoder_kwargs: dict | None = None,
) -> list[dict]:
    """Evaluate a dense encoder (and/or BM25) on BEIR-layout collections: nDCG@10, Recall@100, MRR@10.

    Each metric is the mean over every judged query of the split (the ones DRAMA and BEIR report); a query the
    system returns nothing for scores 0. With ``output_dir``, writes per dataset ``<dataset>/<system>.trec`` and
    ``<dataset>/<system>.metrics.json`` (per-query scores), plus ``results.json`` and ``results.md`` (the table of
    [`format_table`][drama_models.evaluation.format_table]).

    Args:
        model (DramaEncoder | str | Path | None): A [`DramaEncoder`][drama_models.encoder.DramaEncoder], any encoder with its ``encode_queries`` /
            ``encode_documents`` (e.g. an [`ExportedEncoder`][drama_models.export.runtime.ExportedEncoder]), a
            folder or Hub id to load, or ``None`` for BM25 only.
        data_dirs: BEIR folders (``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``).
        split: The qrels split to evaluate.
        bm25: Also evaluate a BM25 baseline.
        output_dir: Where the run files and results go; ``None`` writes nothing.
        name: The model's system name in the results (default: the folder's name, or ``model``).
        dim: Matryoshka dimension to evaluate at (``None``: full).
        k: Run depth; at least 100 for Recall@100.
        batch_size: Texts per encoder batch.
        search_method: ``auto`` (exact torch search for small corpora, faiss for large), ``exact``, ``faiss``
            or ``hnsw``.
        strict: Fail on qrels naming unknown queries or documents (default: skip and count them).
        show_progress: Show progress bars.
        encoder_kwargs: Keywords for [`DramaEncoder.from_pretrained`][drama_models.encoder.DramaEncoder.from_pretrained]
            when ``model`` is a path or id.

    Returns:
        One dict per (dataset, system): ``dataset``, ``system``, ``split``, ``ndcg@10``, ``recall@100``,
            ``mrr@10``, ``num_queries``, ``num_docs``, ``skipped`` (qrels ids not found), ``seconds`` and, with
            ``output_dir``, ``run_file``.

    Raises:
        ValueError: ``k`` below 100, no folder given, nothing to evaluate, or a bad ``search_method``.
        SourceError: A data folder is missing (one line naming it).
        BeirFormatError: A BEIR file is missing or malformed (naming the file and line), the split is empty, or
            with ``strict`` the qrels name an unknown query or document.
    """
    if k < 100:
        raise ValueError(f"option `k`={k}: the run must hold at least 100 documents per query for Recall@100")
    if not data_dirs:
        raise ValueError("no data folder given")
    if model is None and not bm25:
        raise ValueError("nothing to evaluate: give a model, or bm25=True")
    check_data_dirs(data_dirs)
    encoder = None
    system = name
    if model is not None:
        from drama_models.encoder import DramaEncoder

        if isinstance(model, DramaEncoder) or hasattr(model, "encode_documents"):  # (or an ExportedEncoder)
            encoder = model
            system = system or "model"
        else:
            encoder = DramaEncoder.from_pretrained(model, **(encoder_kwargs or {}))
            system = system or Path(str(model).rstrip("/")).name
    out = Path(output_dir) if output_dir is not None else None
    results: list[dict] = []
    for folder in data_dirs:
        collection = load_beir(folder, split, strict=strict)
        systems = []
        if encoder is not None:
            systems.append((system, lambda c=collection: dense_run(
                encoder, c, k=k, dim=dim, batch_size=batch_size, search_method=search_method,
                show_progress=show_progress)))
        if bm25:
            systems.append(("BM25", lambda c=collection: bm25_run(c, k=k)))
        for sys_name, make_run in systems:
            start = time.perf_counter()
            run = make_run()
            seconds = time.perf_counter() - start
            metrics = compute_metrics(collection.qrels, run)
            row = result_row(collection, sys_name, split, metrics, seconds)
            if out is not None:
                safe = sys_name.replace("/", "_")
                row["run_file"] = str(write_trec_run(run, out / collection.name / f"{safe}.trec", sys_name))
                with open(out / collection.name / f"{safe}.metrics.json", "w", encoding="utf-8") as f:
                    json.dump({**row, "per_query": metrics["per_query"]}, f, indent=2)
            logger.info("%s / %s: nDCG@10 %.4f", collection.name, sys_name, row["ndcg@10"])
            results.append(row)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        (out / "results.md").write_text(format_table(results) + "\n", encoding="utf-8")
    return results


def format_table(results: list[dict]) -> str:
    """Render evaluation results as a markdown table (``cards/results_table.md.j2``).

    Args:
        results: The rows [`evaluate`][drama_models.evaluation.evaluate] returns.

    Returns:
        The table: one row per (dataset, system) with nDCG@10, Recall@100 and MRR@10, then each system's
            average over the datasets when there are several.
    """
    averages = []
    if len(dict.fromkeys(r["dataset"] for r in results)) > 1:
        for s in dict.fromkeys(r["system"] for r in results):
            rows = [r for r in results if r["system"] == s]
            averages.append((s, len(rows), {m: float(np.mean([r[m] for r in rows])) for m in METRICS}))
    return render_card("results_table.md.j2", results=results, averages=averages).removesuffix("\n")
