"""The ``generate`` stage: a task over a corpus with a backend, resumable, written as a dataset folder.

Input: a corpus (see :mod:`drama_data.corpus`), chunked into passages; a task; a backend. Output: a dataset
folder with configs ``queries`` (default; one row per generated query, with provenance) and ``failures``
(every unparseable completion or failed request, with its raw text and reason), a README.md card and
``provenance.json``. Every completion is stored in the request cache as it arrives, so rerunning the same
command after a crash or Ctrl-C only generates what is missing and writes exactly the same rows.
"""
from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import pyarrow as pa

from drama_data import __version__
from drama_data.backends.base import Backend
from drama_data.chunking import Passage, load_passages
from drama_data.corpus import Fields
from drama_data.datasets.card import render_dataset_card
from drama_data.datasets.folder import LOG_FILE, check_output_folder, dumps, utc_now, write_dataset
from drama_data.errors import ConfigError
from drama_data.generate.budget import Budget
from drama_data.generate.cache import RequestCache, request_key
from drama_data.generate.execution import ExecutionStats
from drama_data.tasks.base import ParseFailure, Task

QUERY_COLUMNS: dict[str, pa.DataType] = {
    "query_id": pa.string(), "query": pa.string(), "passage_id": pa.string(), "doc_id": pa.string(),
    "title": pa.string(), "text": pa.string(), "source": pa.string(), "language": pa.string(),
}
PROVENANCE_COLUMNS: dict[str, pa.DataType] = {
    "backend": pa.string(), "model": pa.string(), "prompt_id": pa.string(), "prompt_sha256": pa.string(),
    "sampling": pa.string(), "seed": pa.int64(), "attempt": pa.int32(), "finish_reason": pa.string(),
    "prompt_tokens": pa.int32(), "completion_tokens": pa.int32(),
}
FAILURE_SCHEMA = pa.schema({
    "query_id": pa.string(), "passage_id": pa.string(), "attempt": pa.int32(), "kind": pa.string(),
    "reason": pa.string(), "raw_text": pa.string(), "finish_reason": pa.string(), "final": pa.bool_(),
    "model": pa.string(), "prompt_sha256": pa.string(), "language": pa.string(), "passage_language": pa.string(),
    "detected_language": pa.string(), "language_confidence": pa.float32(),
})


@dataclass
class CorpusOptions:
    """Where the corpus is and how to cut it (paper: passages of at most 256 tokens)."""

    source: str
    split: str = "train"
    fields: Fields = field(default_factory=Fields)
    max_tokens: int = 256
    chunk_tokenizer: str | None = None
    on_empty: str = "skip"

    def as_dict(self) -> dict:
        return {"source": self.source, "split": self.split, "fields": self.fields.__dict__,
                "max_tokens": self.max_tokens, "chunk_tokenizer": self.chunk_tokenizer or "words"}


@dataclass
class RunSummary:
    """What a run did; ``render()`` is the one-screen summary the CLI prints."""

    output: str
    task: str
    passages: int = 0
    rows: int = 0
    failed_slots: int = 0
    failures: Counter = field(default_factory=Counter)
    stats: ExecutionStats = field(default_factory=ExecutionStats)
    skipped_documents: int = 0
    skipped: list = field(default_factory=list)  # [{"id", "where", "reason"}] of documents/pages left out
    reported: str = ""  # the quality report's line (set by api.run_generate once the report is written)
    stopped: str = ""  # why the run stopped before the end (--max-requests/--max-cost); "" when it ran through
    seconds: float = 0.0
    model: str = ""

    def as_dict(self) -> dict:
        return {"output": self.output, "task": self.task, "model": self.model, "passages": self.passages,
                "rows": self.rows, "failed_slots": self.failed_slots, "failures_by_reason": dict(self.failures),
                "requests": self.stats.requests, "cached": self.stats.cached, "generated": self.stats.generated,
                "backend_errors": self.stats.errors, "prompt_tokens": self.stats.prompt_tokens,
                "completion_tokens": self.stats.completion_tokens, "skipped_documents": self.skipped_documents,
                "seconds": round(self.seconds, 2), "stopped": self.stopped or None}

    def render(self) -> str:
        d = self.as_dict()
        lines = [
            f"drama-data generate --task {self.task}: done in {self.seconds:.1f} s",
            f"  model            {self.model or '-'}",
            f"  passages         {self.passages} ({self.skipped_documents} documents or pages skipped)",
        ]
        for s in self.skipped[:5]:
            lines.append(f"                     skipped {s['id']}: {s['reason']}")
        if len(self.skipped) > 5:
            lines.append(f"                     ... {len(self.skipped) - 5} more (see provenance.json)")
        lines += [
            f"  rows written     {self.rows}",
            f"  failed           {self.failed_slots} without a row; {sum(self.failures.values())} failed attempts",
        ]
        for reason, n in self.failures.most_common(5):
            lines.append(f"                     {n:>6}  {reason}")
        lines += [
            f"  requests         {d['requests']} ({d['cached']} from cache, {d['generated']} generated, "
            f"{d['backend_errors']} backend errors)",
            f"  tokens           {d['prompt_tokens']} prompt, {d['completion_tokens']} completion",
            f"  output           {self.output}",
            f"  load it with     datasets.load_dataset({self.output!r})",
        ]
        if self.stopped:
            lines.insert(1, f"  STOPPED          {self.stopped}; the rows so far are written and every answer is "
                            "cached: rerun the same command (with a larger limit) to continue")
        return "\n".join(lines)


def shard_of(passage_id: str, num_shards: int) -> int:
    """Deterministic shard of a passage id (SHA-256 based, independent of corpus order)."""
    return int.from_bytes(hashlib.sha256(passage_id.encode("utf-8")).digest()[:8], "big") % num_shards


def select_passages(passages: Sequence[Passage], *, limit: int | None = None, num_shards: int = 1,
                    shard_index: int = 0) -> list[Passage]:
    """The first ``limit`` passages, then those of shard ``shard_index`` of ``num_shards``."""
    if num_shards < 1 or not 0 <= shard_index < num_shards:
        raise ConfigError(f"--shard-index must be in [0, {num_shards}); got {shard_index} of {num_shards}")
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be positive, got {limit}")
    chosen = list(passages[:limit] if limit else passages)
    if num_shards > 1:
        chosen = [p for p in chosen if shard_of(p.id, num_shards) == shard_index]
    return chosen


def generate(
    task: Task,
    corpus: CorpusOptions,
    output: str | Path,
    *,
    backend: Backend | Callable[[], Backend] | None = None,
    prompt_format: str | None = None,
    limit: int | None = None,
    num_shards: int = 1,
    shard_index: int = 0,
    cache: RequestCache | None = None,
    overwrite: bool = False,
    progress: bool = True,
    echo: Callable[[str], None] | None = print,
    budget: Budget | None = None,
    dry_run: bool = False,
    plan_sample: int = 64,
    price=None,
):
    """Run ``task`` over ``corpus`` and write the dataset folder ``output``; return the run summary.

    ``backend`` may be a zero-argument factory, called only once the corpus has been validated (building a
    backend loads no model: engines start on the first request). ``budget`` stops the run early (see
    :mod:`drama_data.generate.budget`; ``summary.stopped`` says why). ``dry_run=True`` writes and sends nothing and
    returns a :class:`~drama_data.generate.planning.Plan` instead (``price``: the model's :class:`~drama_data.generate.prices.Price`;
    ``plan_sample``: requests whose prompt tokens are counted).
    Raises ``InputError``/``ConfigError`` before writing anything when the corpus or options are bad.
    """
    t0 = time.time()
    if not dry_run:
        output = check_output_folder(output, overwrite=overwrite)
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be positive, got {limit}")
    passages = task.own_passages()
    if passages is None:  # with --limit, only as much of the corpus as the first `limit` passages need is read
        passages, report = load_passages(corpus.source, fields=corpus.fields, split=corpus.split,
                                         max_tokens=corpus.max_tokens, chunk_tokenizer=corpus.chunk_tokenizer,
                                         on_empty=corpus.on_empty, limit=limit)
    else:
        from drama_data.corpus import CorpusReport

        report = CorpusReport(source=corpus.source, documents=len(passages))
    selected = select_passages(passages, limit=limit, num_shards=num_shards, shard_index=shard_index)
    summary = RunSummary(output=str(output), task=task.name, passages=len(selected),
                         skipped_documents=len(report.skipped), skipped=report.skipped)
    rows: dict[str, dict] = {}
    failures: list[dict] = []
    prompt = None
    if task.uses_llm:
        if backend is None:
            raise ConfigError(f"--task {task.name} needs a backend (--backend vllm|openai|openai-batch)")
        if not isinstance(backend, Backend):
            backend = backend()  # built only now: bad input fails before any model is prepared
        if backend.log_path is None:
            backend.log_path = Path(output) / LOG_FILE
        form = prompt_format or ("chat" if backend.supports_chat() else "completion")
        prompt = task.use_form(form)
        summary.model = backend.model
        if dry_run:
            from drama_data.generate.planning import make_plan

            pending = [(p, slot) for p in selected for slot in task.slots(p)]
            if task.per_language:  # at most the quota per pair (an upper bound: failed slots are refilled)
                seen: Counter = Counter()
                pending = [ps for ps in pending if _take(seen, task.pair_of(*ps), task.per_language)]
            requests = [task.request(p, slot, 0) for p, slot in pending]

            def retry(i, attempt, c):  # the next attempt after a cached answer, as _run_llm_task decides
                p, slot = pending[i]
                if not c.ok or attempt + 1 >= task.max_attempts:
                    return None
                try:
                    task.parse(p, slot, prompt.response_prefix + c.text, finish_reason=c.finish_reason)
                    return None
                except ParseFailure:
                    return task.request(p, slot, attempt + 1)

            rate, tokens, source = task.plan_defaults(form)
            plan = make_plan(task=task.name, backend=backend, form=form, passages=len(selected), requests=requests,
                             cache=cache, prompt_sha256=prompt.sha256, max_tokens=task.sampling.max_tokens,
                             max_attempts=task.max_attempts, price=price, sample=plan_sample, retry=retry,
                             default_parse_rate=rate, default_completion_tokens=tokens, default_source=source)
            if getattr(task, "round_trip", None) is not None:
                plan.notes.append("--round-trip: each accepted translation costs one more request (a "
                                  "back-translation), not counted above")
            return plan
        if echo:
            echo(f"{len(selected)} passages; prompt {prompt.id} ({form} form); model {backend.model}")
        _run_llm_task(task, selected, backend, cache, rows, failures, summary, progress, budget or Budget())
    elif dry_run:
        from drama_data.generate.planning import Plan

        plan = Plan(task=task.name, backend="-", model="-", form="-", passages=len(selected), requests=0)
        plan.notes.append(f"task {task.name} uses no LLM: {sum(len(task.slots(p)) for p in selected)} rows "
                          "made directly from the passages")
        return plan
    else:
        for p in selected:
            for slot, result in task.direct(p):
                if isinstance(result, ParseFailure):
                    failures.append(_failure(slot, p.id, 0, "parse", result.reason, "", "", True, "", "",
                                             task.pair_of(p, slot), result))
                else:
                    rows[slot] = _row(p, slot, task, result, {})
    ordered = [rows[s] for p in selected for s in task.slots(p) if s in rows]
    summary.rows = len(ordered)
    summary.failures = Counter(f["reason"] for f in failures)
    summary.failed_slots = sum(1 for f in failures if f["final"])
    summary.seconds = time.time() - t0
    schema = pa.schema({**QUERY_COLUMNS, **task.columns, **PROVENANCE_COLUMNS})
    tables = {"queries": pa.Table.from_pylist(ordered, schema=schema),
              "failures": pa.Table.from_pylist(failures, schema=FAILURE_SCHEMA)}
    provenance = {
        "tool": f"drama-toolkit {__version__}", "stage": "generate", "date": utc_now(),
        "task": task.info(), "backend": backend.info() if (backend and task.uses_llm) else None,
        "prompt": {"id": prompt.id, "form": prompt.form, "sha256": prompt.sha256} if prompt else None,
        "corpus": {**corpus.as_dict(), **report.as_dict()},
        "selection": {"limit": limit, "num_shards": num_shards, "shard_index": shard_index,
                      "passages": len(selected)},
        "stopped": summary.stopped or None,
        "counts": summary.as_dict(),
    }
    provenance["counts"].pop("output", None)
    card_meta, card_body = render_dataset_card(provenance, tables["queries"], tables["failures"])
    write_dataset(output, tables, default="queries", card_body=card_body, card_meta=card_meta,
                  extra_files={"provenance.json": dumps(provenance)}, overwrite=overwrite)
    summary.seconds = time.time() - t0
    return summary


def _take(seen: Counter, key, limit: int) -> bool:
    seen[key] += 1
    return seen[key] <= limit


def _run_llm_task(task, selected, backend, cache, rows, failures, summary, progress, budget: Budget) -> None:
    """Every slot of ``selected``, each up to ``task.max_attempts``; with a quota (``task.per_language``) in
    waves: each wave asks, per (passage language, query language) pair, for as many of the pair's next slots
    as rows are still missing, and the next wave refills what failed, until every pair has its quota or no
    slot left. Waves depend only on the answers (seeded), so a rerun replays them from the cache."""
    slots = [(p, slot) for p in selected for slot in task.slots(p)]
    quota = task.per_language
    if not quota:
        _run_slots(task, slots, backend, cache, rows, failures, summary, progress, budget)
        summary.stopped = budget.stopped
        return
    queues: dict[tuple, list] = {}
    for p, slot in slots:
        queues.setdefault(task.pair_of(p, slot), []).append((p, slot))
    passed: Counter = Counter()
    wave_no = 0
    while not budget.stopped:
        wave = []
        for pair, queue in queues.items():
            need = quota - passed[pair]
            wave += queue[:max(0, need)]
            del queue[:max(0, need)]
        if not wave:
            break
        _run_slots(task, wave, backend, cache, rows, failures, summary, progress, budget,
                   label=f" (quota wave {wave_no})" if wave_no else "")
        for p, slot in wave:
            if slot in rows:
                passed[task.pair_of(p, slot)] += 1
        wave_no += 1
    summary.stopped = budget.stopped


def _run_slots(task, pending, backend, cache, rows, failures, summary, progress, budget: Budget,
               label: str = "") -> None:
    prompt = task.prompt
    for attempt in range(task.max_attempts):
        if not pending:
            break
        requests = [task.request(p, slot, attempt) for p, slot in pending]
        desc = f"{task.name}{label}" + (f" (retry {attempt})" if attempt else "")
        results, stats = budget.execute(requests, backend, cache, desc=desc, progress=progress)
        summary.stats.add(stats)
        if cache is not None and stats.generated:
            cache.record_throughput(backend.name, backend.cache_model, task.name, stats.generated,
                                    stats.prompt_tokens, stats.completion_tokens, stats.generate_seconds,
                                    stats.start_seconds)
        usage = []
        retry = []
        passed = []
        last = attempt + 1 >= task.max_attempts
        for (p, slot), req in zip(pending, requests):
            c = results.get(req.id)
            if c is None:  # not sent: the budget ran out (summary.stopped says so)
                continue
            if not c.ok:
                failures.append(_failure(slot, p.id, attempt, "backend", c.error or "error", c.text,
                                         c.finish_reason, True, backend.model, prompt.sha256, task.pair_of(p, slot)))
                continue
            try:
                parsed = task.parse(p, slot, prompt.response_prefix + c.text, finish_reason=c.finish_reason)
            except ParseFailure as exc:
                usage.append((req, c, 0))
                failures.append(_failure(slot, p.id, attempt, "parse", exc.reason, c.text, c.finish_reason,
                                         last, backend.model, prompt.sha256, task.pair_of(p, slot), exc))
                if not last:
                    retry.append((p, slot))
                continue
            usage.append((req, c, 1))
            prov = {"backend": backend.name, "model": backend.model, "prompt_id": prompt.id,
                    "prompt_sha256": prompt.sha256, "sampling": json.dumps(req.sampling.as_dict(), sort_keys=True),
                    "seed": req.sampling.seed, "attempt": attempt, "finish_reason": c.finish_reason,
                    "prompt_tokens": c.prompt_tokens, "completion_tokens": c.completion_tokens}
            rows[slot] = _row(p, slot, task, parsed, prov)
            passed.append((p, slot))
        if passed:
            retry += _run_followups(task, passed, attempt, last, backend, cache, rows, failures, summary,
                                    progress, budget, desc)
        if cache is not None and usage:
            cache.record_usage((request_key(backend.name, backend.cache_model, r), backend.name, backend.cache_model,
                                task.name, prompt.sha256, r.sampling.max_tokens, c.prompt_tokens, c.completion_tokens,
                                ok) for r, c, ok in usage)
        pending = retry
        if budget.stopped:
            break


def _run_followups(task, passed, attempt, last, backend, cache, rows, failures, summary, progress, budget,
                   desc) -> list:
    """Send the follow-up requests of this attempt's rows (:meth:`Task.followup`) and check their answers; a
    rejected row is removed and recorded as a failure (kind ``followup``). Returns the slots to retry."""
    prompt = task.prompt
    todo = [(p, slot, task.followup(p, slot, rows[slot], attempt)) for p, slot in passed]
    todo = [(p, slot, r) for p, slot, r in todo if r is not None]
    if not todo:
        return []
    results, stats = budget.execute([r for _, _, r in todo], backend, cache, desc=f"{desc} (follow-up)",
                                    progress=progress)
    summary.stats.add(stats)
    retry = []
    for p, slot, req in todo:
        c = results.get(req.id)
        if c is None:  # not sent (budget): the row stays unchecked, so it is not written; a rerun finishes it
            rows.pop(slot)
            continue
        if not c.ok:
            rows.pop(slot)
            failures.append(_failure(slot, p.id, attempt, "backend", c.error or "error", c.text, c.finish_reason,
                                     True, backend.model, prompt.sha256, task.pair_of(p, slot)))
            continue
        try:
            rows[slot].update(task.check_followup(p, slot, rows[slot], prompt.response_prefix + c.text))
        except ParseFailure as exc:
            rows.pop(slot)
            failures.append(_failure(slot, p.id, attempt, "followup", exc.reason, c.text, c.finish_reason, last,
                                     backend.model, prompt.sha256, task.pair_of(p, slot), exc))
            if not last:
                retry.append((p, slot))
    return retry


def _row(p: Passage, slot: str, task: Task, parsed: dict, prov: dict) -> dict:
    row = {"query_id": slot, "passage_id": p.id, "doc_id": p.doc_id, "title": p.title, "text": p.text,
           "source": task.source, "language": "", **parsed}
    for name in PROVENANCE_COLUMNS:
        row.setdefault(name, prov.get(name))
    return row


def _failure(slot, pid, attempt, kind, reason, raw, finish, final, model, sha, pair=("", ""),
             exc: ParseFailure | None = None) -> dict:
    """A failure row; ``pair``: the (passage, query) languages the slot asked for; ``exc``: what the language
    check detected in the rejected text, when it ran."""
    return {"query_id": slot, "passage_id": pid, "attempt": attempt, "kind": kind, "reason": reason,
            "raw_text": raw, "finish_reason": finish, "final": final, "model": model, "prompt_sha256": sha,
            "passage_language": pair[0], "language": pair[1],
            "detected_language": getattr(exc, "detected_language", "") or "",
            "language_confidence": getattr(exc, "language_confidence", None)}
