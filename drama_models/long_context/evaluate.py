"""Evaluate an encoder (and BM25) on the synthetic long-context tasks, per length, as LongEmbed scores them.

``evaluate_long_context(model, tasks=("passkey", "needle"), lengths=(512, 2048, 4096, 8192))`` builds each task
at each length (:func:`drama_models.long_context.tasks.build_task`, lengths counted with the model's tokenizer),
encodes every document whole up to the encoder's limit (:attr:`DramaEncoder.context_limit`; a longer document
is truncated there and the row says so: ``read_tokens`` < ``length``), queries against that length's documents
only, and scores nDCG@1 (LongEmbed's headline: the top-1 accuracy, one relevant document per query) and nDCG@10.
BM25 (``drama_data``'s bm25s miner, English) runs on the same documents, never truncated.

Each row: ``{"task", "length", "system", "ndcg@1", "ndcg@10", "num_queries", "num_docs", "read_tokens",
"truncated", "encode_seconds", "docs_per_second", "peak_rss_mb", "tokens_counted_by"}``.
:func:`format_long_context_table` prints one table per task, our rows next to the published ones
(:mod:`drama_models.long_context.paper`).
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cards import render as render_card
from drama_models.long_context.paper import PAPER_ROWS
from drama_models.long_context.tasks import NUM_QUERIES, TASKS, SyntheticTask, TokenCounter, build_task, read_haystack

logger = logging.getLogger(__name__)

DEFAULT_LENGTHS = (512, 2048, 4096, 8192)
DEFAULT_HAYSTACK = Path(__file__).resolve().parents[2] / "drama_data" / "samples" / "scifact-sample"


class PeakRSS:
    """Context manager: the process's peak resident memory (MB) while inside, sampled every 20 ms (psutil);
    ``peak_mb`` is ``None`` without psutil."""

    def __init__(self, interval: float = 0.02):
        self.interval, self.peak_mb, self._stop = interval, None, threading.Event()

    def __enter__(self):
        try:
            import psutil
        except ImportError:
            return self
        proc = psutil.Process()
        self.peak_mb = proc.memory_info().rss / 2**20

        def sample():
            while not self._stop.wait(self.interval):
                self.peak_mb = max(self.peak_mb, proc.memory_info().rss / 2**20)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if hasattr(self, "_thread"):
            self._thread.join()
        return False


def parse_tasks(value: str | Sequence[str]) -> list[str]:
    """``"passkey,needle"`` -> ``["passkey", "needle"]`` (unknown names: one ``ValueError`` naming the option)."""
    names = [v.strip() for v in (value.split(",") if isinstance(value, str) else value) if v.strip()]
    bad = [n for n in names if n not in TASKS]
    if bad or not names:
        raise ValueError(f"option `long_context`={value!r}: choose from {', '.join(TASKS)} (comma-separated)")
    return list(dict.fromkeys(names))


def parse_lengths(value: str | Sequence[int]) -> list[int]:
    """``"512,2k,4096"`` -> ``[512, 2048, 4096]`` (``k`` = 1024)."""
    out = []
    for item in (value.split(",") if isinstance(value, str) else value):
        text = str(item).strip().lower()
        try:
            n = int(float(text[:-1]) * 1024) if text.endswith("k") else int(text)
        except ValueError:
            raise ValueError(f"option `lengths`: {item!r} is not a token count (e.g. 512, 2048 or 2k)") from None
        if n < 64:
            raise ValueError(f"option `lengths`: {item!r} is below 64 tokens")
        out.append(n)
    if not out:
        raise ValueError("option `lengths` is empty")
    return list(dict.fromkeys(out))


def score(task: SyntheticTask, scores: np.ndarray, doc_ids: list[str], qids: list[str]) -> dict:
    """nDCG@1 and nDCG@10 (x 1, in [0, 1]) of a ``[queries, docs]`` score matrix (ties: first document wins)."""
    from drama_models.evaluation import compute_metrics

    top = np.argsort(-scores, axis=1, kind="stable")[:, :10]
    run = {q: {doc_ids[j]: float(scores[i, j]) for j in top[i]} for i, q in enumerate(qids)}
    top1 = float(np.mean([doc_ids[top[i, 0]] in task.qrels[q] for i, q in enumerate(qids)]))
    return {"ndcg@1": top1, "ndcg@10": compute_metrics(task.qrels, run)["ndcg@10"]}


def _dense_row(encoder, task: SyntheticTask, system: str, batch_size: int) -> dict:
    read = min(task.length, encoder.max_length, encoder.context_limit or task.length)
    doc_ids, qids = list(task.corpus), list(task.queries)
    with PeakRSS() as mem:
        start = time.perf_counter()
        docs = encoder.encode_documents([task.corpus[d] for d in doc_ids], batch_size=batch_size,
                                        max_length=read, show_progress=False)
        seconds = time.perf_counter() - start
    queries = encoder.encode_queries([task.queries[q] for q in qids], batch_size=batch_size, show_progress=False)
    row = score(task, queries @ docs.T, doc_ids, qids)
    return {**row, "system": system, "read_tokens": read, "truncated": read < task.length,
            "encode_seconds": round(seconds, 2), "docs_per_second": round(len(doc_ids) / max(seconds, 1e-9), 3),
            "peak_rss_mb": round(mem.peak_mb, 1) if mem.peak_mb is not None else None}


def _bm25_row(task: SyntheticTask) -> dict:
    from drama_models.evaluation import bm25_run

    collection = task.as_collection()
    run = bm25_run(collection, k=10, language="en")
    doc_ids, qids = list(task.corpus), list(task.queries)
    index = {d: j for j, d in enumerate(doc_ids)}
    scores = np.full((len(qids), len(doc_ids)), -np.inf)
    for i, q in enumerate(qids):
        for d, s in run.get(q, {}).items():
            scores[i, index[d]] = s
    return {**score(task, scores, doc_ids, qids), "system": "BM25", "read_tokens": task.length, "truncated": False,
            "encode_seconds": None, "docs_per_second": None, "peak_rss_mb": None}


def load_long_context_encoder(model, encoder_kwargs: dict | None = None):
    """A :class:`DramaEncoder` from ``model``, reading up to its context limit unless ``encoder_kwargs`` sets
    ``max_length``; an encoder is returned as is (it reads up to its own ``max_length``)."""
    from drama_models.encoder import DramaEncoder

    if hasattr(model, "encode_documents"):
        return model
    kwargs = dict(encoder_kwargs or {})
    encoder = DramaEncoder.from_pretrained(str(model), **kwargs)
    if "max_length" not in kwargs and encoder.context_limit:
        encoder.max_length = int(encoder.context_limit)  # whole documents up to the model's limit
    return encoder


def describe_encoder(encoder) -> str:
    """``"attention sdpa, rope default (32768 positions), reads up to 32768 tokens"``."""
    from drama_models.rope import describe_rope

    return (f"attention {encoder.attention}, {describe_rope(encoder.backbone.config)}, "
            f"reads up to {min(encoder.max_length, encoder.context_limit or encoder.max_length)} tokens")


def evaluate_long_context(
    model=None,
    *,
    tasks: Sequence[str] = TASKS,
    lengths: Sequence[int] = DEFAULT_LENGTHS,
    haystack: str | Path | None = None,
    seed: int = 0,
    num_queries: int = NUM_QUERIES,
    num_docs: int | None = None,
    bm25: bool = True,
    name: str | None = None,
    batch_size: int = 8,
    max_batch_tokens: int | None = 16384,
    encoder_kwargs: dict | None = None,
    tokenizer=None,
    output_dir: str | Path | None = None,
    on_row=None,
) -> dict:
    """Run the synthetic tasks (see the module docstring). ``model``: a path, Hub id or :class:`DramaEncoder`
    (``None``: BM25 only). ``haystack``: a BEIR folder for Needle (default: the bundled SciFact sample).
    ``tokenizer``: counts the lengths (default: the model's; words without a model). ``max_batch_tokens``
    bounds a batch's padded tokens (8k-token documents go one or two at a time). ``on_row(row)`` is called as
    each row is done. Returns ``{"rows": [...], "encoder": str | None, "tokens_counted_by": str, "haystack": str}``
    and, with ``output_dir``, writes ``long_context.json`` and ``long_context.md`` there.
    """
    tasks = parse_tasks(tasks)
    lengths = parse_lengths(lengths)
    if model is None and not bm25:
        raise ValueError("nothing to evaluate: give a model, or bm25=True")
    haystack_dir = Path(haystack) if haystack else DEFAULT_HAYSTACK
    hay_texts = read_haystack(haystack_dir) if "needle" in tasks else None
    encoder = load_long_context_encoder(model, encoder_kwargs) if model is not None else None
    if encoder is not None and max_batch_tokens:
        encoder.max_batch_tokens = max_batch_tokens
    system = name or (Path(str(model).rstrip("/")).name if model is not None and not hasattr(model, "encode_documents")
                      else "model")
    counter = TokenCounter(tokenizer if tokenizer is not None else (encoder.tokenizer if encoder else None))
    rows = []
    for task_name in tasks:
        for length in lengths:
            task = build_task(task_name, length, counter, seed=seed, num_queries=num_queries, num_docs=num_docs,
                              haystack=hay_texts if task_name == "needle" else None,
                              haystack_name=str(haystack_dir) if task_name == "needle" else "")
            common = {"task": task_name, "length": length, "num_queries": len(task.queries),
                      "num_docs": len(task.corpus), "tokens_counted_by": counter.name}
            todo = ([lambda t=task: _dense_row(encoder, t, system, batch_size)] if encoder is not None else []) + \
                   ([lambda t=task: _bm25_row(t)] if bm25 else [])
            for make in todo:
                row = {**common, **make()}
                logger.info("%s %d %s: nDCG@1 %.3f", task_name, length, row["system"], row["ndcg@1"])
                rows.append(row)
                if on_row is not None:
                    on_row(row)
    result = {"rows": rows, "encoder": describe_encoder(encoder) if encoder is not None else None,
              "tokens_counted_by": counter.name, "haystack": str(haystack_dir), "seed": seed}
    if output_dir is not None:
        out = Path(output_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "long_context.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        (out / "long_context.md").write_text(format_long_context_table(result) + "\n", encoding="utf-8")
    return result


def _cell(value: float | None, truncated: bool = False) -> str:
    return "-" if value is None else f"{100 * value:.1f}" + ("*" if truncated else "")


def length_label(n: int) -> str:
    """A length as the tables head it: ``4096`` -> ``4k``, ``512`` -> ``512``."""
    return f"{n // 1024}k" if n % 1024 == 0 and n >= 1024 else str(n)


def _sizes(rows: list[dict], label: dict[int, str]) -> str:
    """How many queries and documents each length had: "5 queries over 10 documents per length", or per group of
    lengths when they differ ("5 queries over 10 documents at 512 and 2k, 3 over 6 at 4k and 8k")."""
    groups: dict[tuple[int, int], list[str]] = {}
    for n in dict.fromkeys(r["length"] for r in rows):
        r = next(r for r in rows if r["length"] == n)
        groups.setdefault((r["num_queries"], r["num_docs"]), []).append(label[n])
    if len(groups) == 1:
        (q, d), = groups
        return f"{q} queries over {d} documents per length"
    parts = [f"{q} {'queries ' if i == 0 else ''}over {d} {'documents ' if i == 0 else ''}at "
             f"{' and '.join([', '.join(names[:-1]), names[-1]] if len(names) > 1 else names)}"
             for i, ((q, d), names) in enumerate(groups.items())]
    return ", ".join(parts)


def format_long_context_table(result: dict | list[dict]) -> str:
    """One markdown table per task: nDCG@1 x 100 per length for each system evaluated here, then the published
    rows; ``*`` marks a length read truncated to the model's limit (stated under the table)."""
    rows = result["rows"] if isinstance(result, dict) else result
    tables = []
    for task in dict.fromkeys(r["task"] for r in rows):
        mine = [r for r in rows if r["task"] == task]
        lengths = list(dict.fromkeys(r["length"] for r in mine))
        label = {n: length_label(n) for n in lengths}
        table = {"task": task, "sizes": _sizes(mine, label), "head": [label[n] for n in lengths],
                 "rows": [], "notes": []}
        for system in dict.fromkeys(r["system"] for r in mine):
            by_len = {r["length"]: r for r in mine if r["system"] == system}
            table["rows"].append((system, [_cell(by_len[n]["ndcg@1"], by_len[n]["truncated"]) if n in by_len else "-"
                                           for n in lengths]))
            cut = sorted({by_len[n]["read_tokens"] for n in by_len if by_len[n]["truncated"]})
            if cut:
                table["notes"].append(f"{system} reads at most {cut[0]} tokens: longer documents are truncated there")
        for system, scores in PAPER_ROWS.get(task, {}).items():
            if any(n in scores for n in lengths):  # a source that reports none of these lengths is left out
                table["rows"].append((system, [f"{scores[n]:.1f}" if n in scores else "-" for n in lengths]))
        tables.append(table)
    footer = []
    if isinstance(result, dict):
        if result.get("encoder"):
            footer.append(f"encoder: {result['encoder']}")
        footer.append(f"lengths counted with: {result.get('tokens_counted_by')}; needle haystack: "
                      f"{result.get('haystack')}; seed {result.get('seed', 0)}")
    return render_card("long_context_table.md.j2", tables=tables, footer=footer).rstrip()
