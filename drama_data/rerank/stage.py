"""The rerank stage: listwise LLM ranking of mined candidates, windows of many queries batched together.

Input: a ``drama-data mine`` folder (configs ``candidates`` and ``passages``). For each query the first
``depth`` candidates (paper: 20) are ranked with sliding windows (window 20, stride 10), passages cut to
``passage_tokens`` tokens (paper: 256), temperature 0 (DRAMA Sec. 3.3). Round k sends the k-th window of
every query in one backend call. ``passes > 1`` reranks shuffled copies of each list as well and keeps the
mean Kendall tau between the first pass and the others as a per-query ``agreement`` (label confidence).

Output: a dataset folder with config ``rankings`` (default): ``query_id, query, source, language, initial,
ranking, agreement, repaired, windows`` plus provenance, and config ``failures`` listing every window
whose answer needed repair (with the raw text) or whose request failed (kept in input order).
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from drama_data import __version__
from drama_data.backends import build_backend
from drama_data.backends.base import Backend, Request, Sampling
from drama_data.chunking import word_spans
from drama_data.datasets.card import render_dataset_card
from drama_data.datasets.folder import LOG_FILE, check_output_folder, dumps, read_table, utc_now, write_dataset
from drama_data.errors import ConfigError, InputError
from drama_data.generate.cache import RequestCache, open_cache
from drama_data.generate.execution import ExecutionStats, execute
from drama_data.generate.planning import make_plan, plan_options
from drama_data.generate.runner import RunSummary
from drama_data.rerank.permutation import parse_permutation
from drama_data.rerank.windows import apply_window, kendall_tau, window_spans
from drama_data.tasks.base import derive_seed
from drama_data.tasks.prompting import PromptTemplate, load_prompt

RANKING_SCHEMA = pa.schema({
    "query_id": pa.string(), "query": pa.string(), "source": pa.string(), "language": pa.string(),
    "initial": pa.list_(pa.string()), "ranking": pa.list_(pa.string()), "agreement": pa.float64(),
    "repaired": pa.int32(), "windows": pa.int32(), "backend": pa.string(), "model": pa.string(),
    "prompt_id": pa.string(), "prompt_sha256": pa.string(),
})
FAILURE_SCHEMA = pa.schema({
    "query_id": pa.string(), "pass": pa.int32(), "window": pa.int32(), "kind": pa.string(),
    "reason": pa.string(), "raw_text": pa.string(), "finish_reason": pa.string(),
})


@dataclass
class RerankSettings:
    """Paper defaults (DRAMA Sec. 3.3 / RankGPT): depth 20, window 20, stride 10, 256-token passages, T=0."""

    depth: int = 20
    window: int = 20
    stride: int = 10
    passage_tokens: int = 256
    passes: int = 1
    seed: int = 0
    max_tokens: int | None = None  # default: 6 tokens per identifier + 20

    def sampling(self, query_id: str, pass_index: int) -> Sampling:
        return Sampling(temperature=0.0, top_p=1.0, max_tokens=self.max_tokens or 6 * self.window + 20,
                        seed=derive_seed(self.seed, query_id, pass_index))


@dataclass
class _List:
    """One query's list in one pass, as it moves through its windows."""

    query_id: str
    query: str
    pass_index: int
    items: list[str]
    spans: list[tuple[int, int]]
    repaired: int = 0


def cut(text: str, max_tokens: int) -> str:
    """``text`` cut to its first ``max_tokens`` word tokens."""
    spans = word_spans(text)
    return text if len(spans) <= max_tokens else text[: spans[max_tokens - 1][1]]


@dataclass
class RerankJob:
    """Turns lists into window requests and answers back into reordered lists (pure; no I/O)."""

    settings: RerankSettings
    prompt: PromptTemplate
    passages: dict[str, str]
    failures: list[dict] = field(default_factory=list)

    def request(self, lst: _List, round_index: int) -> Request:
        start, end = lst.spans[round_index]
        texts = [cut(self.passages[d], self.settings.passage_tokens) for d in lst.items[start:end]]
        rendered = self.prompt.render(query=lst.query, passages=texts)
        s = self.settings.sampling(lst.query_id, lst.pass_index)
        s = Sampling(temperature=s.temperature, top_p=s.top_p, max_tokens=s.max_tokens,
                     stop=self.prompt.stop, seed=s.seed)
        rid = f"{lst.query_id}|p{lst.pass_index}|w{round_index}"
        if self.prompt.form == "chat":
            return Request(id=rid, messages=rendered, sampling=s)
        return Request(id=rid, prompt=rendered, sampling=s)

    def apply(self, lst: _List, round_index: int, completion) -> None:
        span = lst.spans[round_index]
        n = span[1] - span[0]
        base = {"query_id": lst.query_id, "pass": lst.pass_index, "window": round_index}
        if not completion.ok:
            self.failures.append({**base, "kind": "backend", "reason": completion.error or "error",
                                  "raw_text": completion.text, "finish_reason": completion.finish_reason})
            lst.repaired += n
            return
        parsed = parse_permutation(self.prompt.response_prefix + completion.text, n)
        if parsed.repaired:
            lst.repaired += parsed.repaired
            self.failures.append({**base, "kind": "repaired", "reason": parsed.describe(),
                                  "raw_text": completion.text, "finish_reason": completion.finish_reason})
        lst.items = apply_window(lst.items, span, parsed.order)


def _read_candidates(folder: str, depth: int, limit: int | None):
    from drama_data.sources import local_path

    local_path(folder, "--corpus", kind="folder")  # a mine output folder; never a Hub id
    try:
        cands = read_table(folder, "candidates").to_pylist()
        passages = read_table(folder, "passages")
    except InputError as exc:
        raise InputError(f"--corpus for --task rerank must be a drama-data mine output: {exc}") from None
    if limit:
        cands = cands[:limit]
    texts = {}
    for pid, title, text in zip(*(passages.column(c).to_pylist() for c in ("id", "title", "text"))):
        texts[pid] = f"{title}. {text}" if title else text
    rows = []
    for row in cands:
        ids = [c["docid"] for c in sorted(row["candidates"], key=lambda c: c["rank"])][:depth]
        unknown = [d for d in ids if d not in texts]
        if unknown:
            raise InputError(f"{folder}: query {row['query_id']!r} lists candidate {unknown[0]!r}, "
                             "which is not in the folder's passages")
        rows.append({**row, "initial": ids})
    if not rows:
        raise InputError(f"{folder}: no queries to rerank")
    return rows, texts


def rerank(
    rows: list[dict],
    passages: dict[str, str],
    backend: Backend,
    cache: RequestCache | None,
    settings: RerankSettings,
    prompt: PromptTemplate,
    *,
    batch_queries: bool = True,
    progress: bool = True,
) -> tuple[list[dict], list[dict], ExecutionStats]:
    """Rerank ``rows`` (each with ``query_id``, ``query``, ``initial``); return (results, failures, stats).

    ``batch_queries=False`` runs one query (one request) at a time - the slow baseline of the benchmark.
    """
    job = RerankJob(settings, prompt, passages)
    lists: list[_List] = []
    for row in rows:
        for p in range(settings.passes):
            items = list(row["initial"])
            if p:
                random.Random(derive_seed(settings.seed, row["query_id"], "shuffle", p)).shuffle(items)
            lists.append(_List(row["query_id"], row["query"], p, items,
                               window_spans(len(items), settings.window, settings.stride)))
    stats = ExecutionStats()
    groups = [lists] if batch_queries else [[lst] for lst in lists]
    for group in groups:
        for r in range(max((len(lst.spans) for lst in group), default=0)):
            active = [lst for lst in group if r < len(lst.spans)]
            reqs = [job.request(lst, r) for lst in active]
            results, st = execute(reqs, backend, cache, desc=f"rerank window {r + 1}",
                                  progress=progress and batch_queries)
            stats.add(st)
            for lst, req in zip(active, reqs):
                job.apply(lst, r, results[req.id])
            if cache is not None:  # usage history for plans (drama_data.generate.planning)
                from drama_data.generate.cache import request_key

                cache.record_usage((request_key(backend.cache_name, backend.cache_model, q), backend.name,
                                    backend.cache_model, "rerank", prompt.sha256, q.sampling.max_tokens,
                                    results[q.id].prompt_tokens, results[q.id].completion_tokens, 1)
                                   for q in reqs if results[q.id].ok)
                if st.generated:
                    cache.record_throughput(backend.name, backend.cache_model, "rerank", st.generated,
                                            st.prompt_tokens, st.completion_tokens, st.generate_seconds,
                                            st.start_seconds)
    by_query: dict[str, list[_List]] = {}
    for lst in lists:
        by_query.setdefault(lst.query_id, []).append(lst)
    out = []
    for row in rows:
        passes = by_query[row["query_id"]]
        first = passes[0]
        agreement = (sum(kendall_tau(first.items, o.items) for o in passes[1:]) / (len(passes) - 1)
                     if len(passes) > 1 else None)
        out.append({"query_id": row["query_id"], "query": row["query"], "source": row.get("source", ""),
                    "language": row.get("language", ""), "initial": row["initial"], "ranking": first.items,
                    "agreement": agreement, "repaired": first.repaired, "windows": len(first.spans)})
    return out, job.failures, stats


def run_rerank(*, corpus: str, output: str, backend_name: str = "vllm", model: str | None = None,
               echo: Callable[[str], None] | None = print, **o) -> RunSummary:
    """``drama-data generate --task rerank``: see the module doc."""
    t0 = time.time()
    dry_run = o.get("dry_run", False)
    if o.get("max_requests") is not None or o.get("max_cost") is not None:
        raise ConfigError("--max-requests/--max-cost are not supported for --task rerank (its windows depend on "
                          "each other); use --limit to rerank fewer queries, and --dry-run to see the cost first")
    out = output if dry_run else check_output_folder(output, overwrite=o.get("overwrite", False))
    settings = RerankSettings(depth=o.get("depth") or 20, window=o.get("window", 20), stride=o.get("stride", 10),
                              passage_tokens=o.get("passage_tokens", 256), passes=max(1, o.get("passes", 1)),
                              seed=o.get("seed", 0), max_tokens=o.get("max_tokens"))
    try:
        window_spans(settings.window, settings.window, settings.stride)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    rows, passages = _read_candidates(corpus, settings.depth, o.get("limit"))
    longest = max(len(r["initial"]) for r in rows)
    if settings.window > longest:
        raise ConfigError(f"--window {settings.window} is larger than every candidate list (longest: {longest}, "
                          f"e.g. query {rows[0]['query_id']!r}); lower --window or mine more candidates")
    backend = build_backend(backend_name, model, echo=echo, **o)
    if backend.log_path is None:
        backend.log_path = Path(out) / LOG_FILE
    cache = open_cache(o.get("cache_dir"), o.get("no_cache", False))
    try:
        form = o.get("prompt_format") or ("chat" if backend.supports_chat() else "completion")
        prompt = load_prompt("rerank", form, o.get("prompt_path"))
        if dry_run:
            return plan_rerank(rows, passages, backend, cache, settings, prompt, backend_name, model, o)
        if echo:
            echo(f"{len(rows)} queries x up to {settings.depth} candidates; windows {settings.window}/"
                 f"{settings.stride}; prompt {prompt.id}; model {backend.model}")
        results, failures, stats = rerank(rows, passages, backend, cache, settings, prompt,
                                          progress=o.get("progress", True))
    finally:
        backend.close()
        if cache is not None:
            cache.close()
    for r in results:
        r.update(backend=backend.name, model=backend.model, prompt_id=prompt.id, prompt_sha256=prompt.sha256)
    tables = {"rankings": pa.Table.from_pylist(results, schema=RANKING_SCHEMA),
              "failures": pa.Table.from_pylist(failures, schema=FAILURE_SCHEMA)}
    summary = RunSummary(output=str(out), task="rerank", passages=len(rows), rows=len(results),
                         stats=stats, model=backend.model)
    summary.failures.update(f["kind"] for f in failures)
    summary.failed_slots = sum(1 for f in failures if f["kind"] == "backend")
    provenance = {
        "tool": f"drama-toolkit {__version__}", "stage": "rerank", "date": utc_now(),
        "task": {"task": "rerank", "source": "rerank", "seed": settings.seed,
                 "sampling": settings.sampling("", 0).as_dict(), **settings.__dict__},
        "backend": backend.info(), "prompt": {"id": prompt.id, "form": prompt.form, "sha256": prompt.sha256},
        "input": {"candidates": str(corpus), "queries": len(rows)}, "counts": summary.as_dict(),
    }
    provenance["counts"].pop("output", None)
    meta, body = render_dataset_card(provenance, tables["rankings"], tables["failures"])
    write_dataset(out, tables, default="rankings", card_body=body, card_meta=meta,
                  extra_files={"provenance.json": dumps(provenance)}, overwrite=o.get("overwrite", False))
    summary.seconds = time.time() - t0
    return summary


def plan_rerank(rows, passages, backend, cache, settings: RerankSettings, prompt, backend_name, model, o):
    """``--dry-run`` of the rerank task: every window request, built on the initial candidate order (later
    windows see reordered passages of the same lists, so their prompt lengths are estimated this way)."""

    job = RerankJob(settings, prompt, passages)
    requests = []
    for row in rows:
        for p in range(settings.passes):
            lst = _List(row["query_id"], row["query"], p, list(row["initial"]),
                        window_spans(len(row["initial"]), settings.window, settings.stride))
            requests += [job.request(lst, r) for r in range(len(lst.spans))]
    price, _ = plan_options(model, backend_name, o)
    plan = make_plan(task="rerank", backend=backend, form=prompt.form, passages=len(rows), requests=requests,
                     cache=cache, prompt_sha256=prompt.sha256, max_tokens=settings.sampling("", 0).max_tokens,
                     price=price, sample=o.get("plan_sample") or 64)
    plan.notes.append("passages = queries to rerank; later windows' prompts estimated from the initial order")
    return plan
