"""The ``generate`` stage: a task over a corpus with a backend, resumable, written as a dataset folder.

Input: a corpus (see :mod:`drama_data.corpus`), chunked into passages; a task; a backend. Output: a dataset
folder with configs ``queries`` (default; one row per generated query, with provenance) and ``failures``
(every unparseable completion or failed request, with its raw text and reason), a README.md card and
``provenance.json``.

The corpus is read as a stream and worked on in windows of ``window`` passages (an LLM task sends a window's
requests together, so vLLM still batches them; retries and follow-ups stay inside the window). Each finished
window is written as parquet parts to a work folder next to the output (:mod:`drama_data.generate.workdir`), so
memory does not grow with the corpus; at the end the parts become the dataset folder, identical to one written
from all rows at once. A task with a per-language quota (``--per-language``) decides its waves over the whole
selection, so it runs as one window (in memory). Every completion is also stored in the request cache as it
arrives: rerunning the same command after a crash, Ctrl-C or kill reuses the finished windows, generates only
what is missing and writes exactly the same rows. The same holds when the backend stops the run with an error
(an API that refuses the key, does not serve the model or rejects every request: one line, no dataset folder,
the finished windows kept), so a rerun with the key set resumes.
"""
from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from drama_data import __version__
from drama_data.backends.base import Backend
from drama_data.chunking import Passage, stream_passages
from drama_data.corpus import CorpusReport, Fields
from drama_data.datasets.card import CardStats, render_dataset_card
from drama_data.datasets.failure_schema import FAILURE_SCHEMA
from drama_data.datasets.folder import (
    LOG_FILE,
    check_output_folder,
    dumps,
    utc_now,
    write_dataset,
)
from drama_data.datasets.parts import PartTable
from drama_data.errors import ConfigError
from drama_data.generate.budget import Budget
from drama_data.generate.cache import RequestCache, request_key
from drama_data.generate.config import WINDOW_PASSAGES
from drama_data.generate.execution import ExecutionStats
from drama_data.generate.workdir import (
    WorkFolder,
    run_fingerprint,
    window_digest,
    work_folder_for,
)
from drama_data.plurals import plural
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
ORDER = "_order"  # failures' sort key in the work folder's parts (see _failure_key); not in the dataset
FAILURE_PART_SCHEMA = FAILURE_SCHEMA.append(pa.field(ORDER, pa.string()))


@dataclass
class CorpusOptions:
    """Where the corpus is and how to cut it (paper: passages of at most 256 tokens)."""

    source: str
    split: str = "train"
    fields: Fields = field(default_factory=Fields)
    max_tokens: int = 256
    chunk_tokenizer: str | None = None
    on_empty: str = "skip"
    pack_tokens: int | None = None  # consecutive passages packed into documents of this many tokens (packing.py)

    def as_dict(self) -> dict:
        """What provenance.json records (and ``mine`` reads back): ``pack_tokens`` only when packing."""
        d = {"source": self.source, "split": self.split, "fields": self.fields.__dict__,
             "max_tokens": self.max_tokens, "chunk_tokenizer": self.chunk_tokenizer or "words"}
        if self.pack_tokens:
            d["pack_tokens"] = self.pack_tokens
        return d


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
    uses_llm: bool = True  # False for a task without an LLM (crop): the summary leaves out model/requests/tokens

    def as_dict(self) -> dict:
        return {"output": self.output, "task": self.task, "model": self.model, "passages": self.passages,
                "rows": self.rows, "failed_slots": self.failed_slots, "failures_by_reason": dict(self.failures),
                "requests": self.stats.requests, "cached": self.stats.cached, "generated": self.stats.generated,
                "backend_errors": self.stats.errors, "prompt_tokens": self.stats.prompt_tokens,
                "completion_tokens": self.stats.completion_tokens, "skipped_documents": self.skipped_documents,
                "seconds": round(self.seconds, 2), "stopped": self.stopped or None}

    def render(self) -> str:
        """The summary: only what applies to the task (no model, requests or tokens for a task without an LLM)."""
        d = self.as_dict()
        skipped = plural(self.skipped_documents, "document or page", "documents or pages")
        lines = [f"drama-data generate --task {self.task}: done in {self.seconds:.1f} s"]
        if self.uses_llm:
            lines.append(f"  model            {self.model or '-'}")
        lines.append(f"  passages         {self.passages} ({skipped} skipped)")
        for s in self.skipped[:5]:
            lines.append(f"                     skipped {s['id']}: {s['reason']}")
        if len(self.skipped) > 5:
            lines.append(f"                     ... {len(self.skipped) - 5} more (see provenance.json)")
        attempts = sum(self.failures.values())
        lines += [
            f"  rows written     {self.rows}",
            f"  failed           {self.failed_slots} without a row; {plural(attempts, 'failed attempt')}"
            if self.uses_llm else f"  failed           {self.failed_slots} without a row",
        ]
        for reason, n in self.failures.most_common(5):
            lines.append(f"                     {n:>6}  {reason}")
        if self.uses_llm:
            lines += [
                f"  requests         {d['requests']} ({d['cached']} from cache, {d['generated']} generated, "
                f"{plural(d['backend_errors'], 'backend error')})",
                f"  tokens           {d['prompt_tokens']} prompt, {d['completion_tokens']} completion",
            ]
        lines += [
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


def _check_selection(limit: int | None, num_shards: int, shard_index: int) -> None:
    if num_shards < 1 or not 0 <= shard_index < num_shards:
        raise ConfigError(f"--shard-index must be in [0, {num_shards}); got {shard_index} of {num_shards}")
    if limit is not None and limit < 1:
        raise ConfigError(f"--limit must be positive, got {limit}")


def iter_selected(passages: Iterable[Passage], *, limit: int | None = None, num_shards: int = 1,
                  shard_index: int = 0) -> Iterator[Passage]:
    """The first ``limit`` passages, then those of shard ``shard_index`` of ``num_shards``, lazily."""
    _check_selection(limit, num_shards, shard_index)
    chosen = islice(passages, limit) if limit else iter(passages)
    if num_shards > 1:
        chosen = (p for p in chosen if shard_of(p.id, num_shards) == shard_index)
    return chosen


def select_passages(passages: Sequence[Passage], *, limit: int | None = None, num_shards: int = 1,
                    shard_index: int = 0) -> list[Passage]:
    """:func:`iter_selected` as a list."""
    return list(iter_selected(passages, limit=limit, num_shards=num_shards, shard_index=shard_index))


def _windows(passages: Iterable[Passage], size: int) -> Iterator[list[Passage]]:
    it = iter(passages)
    while True:
        window = list(islice(it, size))
        if not window:
            return
        yield window


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
    window: int = WINDOW_PASSAGES,
    direct: Callable[[Task, list[Passage]], list] | None = None,
):
    """Run ``task`` over ``corpus`` and write the dataset folder ``output``; return the run summary.

    The corpus is streamed and worked on in windows of ``window`` passages whose parts go to a work folder next
    to ``output`` (see the module doc); a rerun of the same command reuses the finished windows. ``backend`` may
    be a zero-argument factory, called once the first window has been read and validated (building a backend
    loads no model: engines start on the first request). ``budget`` stops the run early (see
    :mod:`drama_data.generate.budget`; ``summary.stopped`` says why; the rows so far are written and the work
    folder is kept). ``dry_run=True`` reads the whole selection, writes and sends nothing and returns a
    :class:`~drama_data.generate.planning.Plan` instead (``price``: the model's
    :class:`~drama_data.generate.prices.Price`; ``plan_sample``: requests whose prompt tokens are counted).
    ``direct``: for a task without an LLM, computes ``[task.direct(p) for p in window]`` elsewhere (e.g.
    :class:`~drama_data.generate.ray_direct.RayDirect`: on Ray); the rows are the same.
    Raises ``InputError``/``ConfigError`` for bad options or corpus records when they are reached: before anything
    is written for bad options and for bad records in the first window, later ones leave the finished windows
    in the work folder (the output folder is only written at the end).
    """
    t0 = time.time()
    if not dry_run:
        output = check_output_folder(output, overwrite=overwrite)
    _check_selection(limit, num_shards, shard_index)
    if window < 1:
        raise ConfigError(f"--window-passages must be positive, got {window}")
    stream, report, own = _open_passages(task, corpus, limit)
    selected = iter_selected(stream, limit=limit, num_shards=num_shards, shard_index=shard_index)
    if task.uses_llm and backend is None:
        from drama_data.backends.registry import registry

        raise ConfigError(f"--task {task.name} needs a backend (--backend {'|'.join(registry().names())})")
    if dry_run:
        return _plan(task, list(selected), backend, prompt_format, cache, price, plan_sample)
    run = _Run(task, corpus, Path(output), backend=backend, prompt_format=prompt_format, cache=cache,
               progress=progress, echo=echo, budget=budget or Budget(), window=window, direct=direct,
               selection={"limit": limit, "num_shards": num_shards, "shard_index": shard_index})
    windows = [list(selected)] if task.per_language else _windows(selected, window)
    run.run_windows(windows, _known_total(limit, num_shards, None if own is None else len(own)))
    run.write(report, overwrite, t0)
    run.summary.seconds = time.time() - t0
    return run.summary


def _open_passages(task: Task, corpus: CorpusOptions, limit: int | None):
    """``(passages, corpus report, the task's own passages or None)``: the task's own passages (``--queries``
    DIR), else the corpus streamed (with ``--limit`` read only as far as the first ``limit`` passages need)."""
    own = task.own_passages()
    if own is None:
        stream, report = stream_passages(corpus.source, fields=corpus.fields, split=corpus.split,
                                         max_tokens=corpus.max_tokens, chunk_tokenizer=corpus.chunk_tokenizer,
                                         on_empty=corpus.on_empty, limit=limit, pack_tokens=corpus.pack_tokens)
        return stream, report, None
    return iter(own), CorpusReport(source=corpus.source, documents=len(own)), own


class _Run:
    """One run of :func:`generate` after its options are checked: windows in, parts to the work folder, the
    dataset folder at the end. The backend, the prompt and the work folder are made once the first window is
    read and valid (:meth:`prepare`)."""

    def __init__(self, task: Task, corpus: CorpusOptions, output: Path, *, backend, prompt_format, cache, progress,
                 echo, budget: Budget, window: int, direct, selection: dict):
        self.task, self.corpus, self.output, self.backend = task, corpus, output, backend
        self.prompt_format, self.cache, self.progress, self.echo = prompt_format, cache, progress, echo
        self.budget, self.window, self.direct, self.selection = budget, window, direct, selection
        self.summary = RunSummary(output=str(output), task=task.name, uses_llm=task.uses_llm)
        self.run_options = {"version": __version__, "task": task.info(), "corpus": corpus.as_dict(), **selection,
                            "window": window, "quota": task.per_language}
        self.schema = pa.schema({**QUERY_COLUMNS, **task.columns, **PROVENANCE_COLUMNS})
        self.prompt = None
        self.work: WorkFolder | None = None
        self.saved: list[int] = []  # windows whose parts are in the work folder

    def prepare(self) -> WorkFolder:
        """The backend (built now if given as a factory), the prompt form, and the work folder of this run."""
        task, echo = self.task, self.echo
        if task.uses_llm:
            if not isinstance(self.backend, Backend):
                self.backend = self.backend()
            backend = self.backend
            if backend.log_path is None:
                backend.log_path = self.output / LOG_FILE
            form = self.prompt_format or ("chat" if backend.supports_chat() else "completion")
            self.prompt = task.use_form(form)
            self.summary.model = backend.model
            self.run_options.update(backend=[backend.name, backend.model, backend.cache_model],
                                    prompt=[self.prompt.id, self.prompt.form, self.prompt.sha256])
            if echo:
                echo(f"prompt {self.prompt.id} ({form} form); model {backend.model}; passages streamed in "
                     f"windows of {self.window}")
        folder = WorkFolder(work_folder_for(self.output), run_fingerprint(self.run_options))
        if echo and folder.resumed:
            echo(f"resuming: {folder.resumed} finished windows in {folder.path}")
        return folder

    def run_windows(self, windows: Iterable[list[Passage]], total: int | None) -> None:
        """Each window: reused when finished by an earlier run, else run and saved; on any error (a bad record,
        Ctrl-C, a backend that stops the run) a work folder with nothing finished is removed."""
        bar = None  # made with the work folder: a bad first window fails with its one-line error alone
        ordinal = 0  # slots before the current window (the failures' order keys)
        try:
            for index, win in enumerate(windows):
                self.summary.passages += len(win)
                if self.work is None:
                    self.work, bar = self.prepare(), _bar(self.task.name, self.progress, total)
                self._window(index, win, ordinal)
                ordinal += sum(len(self.task.slots(p)) for p in win)
                bar.update(len(win))
            if bar is not None and bar.total and bar.n < bar.total:  # the corpus ended before --limit
                bar.total = bar.n
                bar.refresh()
        except BaseException:
            if self.work is not None and not self.saved:
                self.work.remove()  # nothing finished: leave nothing (the answers so far are in the request cache)
            if bar is not None:
                bar.leave = False  # the run ends on its error line
            raise
        finally:
            if bar is not None:
                bar.close()

    def _window(self, index: int, win: list[Passage], ordinal: int) -> None:
        task, work, budget = self.task, self.work, self.budget
        digest = window_digest(win)
        done = work.finished(index, digest)
        if done is not None:
            _add_recorded(self.summary.stats, done)
            self.saved.append(index)
            return
        if budget.stopped:
            return
        rows: dict[str, dict] = {}
        failures: list[dict] = []
        stats = ExecutionStats()
        if task.uses_llm:
            _run_llm_task(task, win, self.backend, self.cache, rows, failures, stats, self.progress, budget, ordinal)
        else:
            _run_direct(task, win, rows, failures, ordinal, self.direct(task, win) if self.direct else None)
        ordered = [rows[s] for p in win for s in task.slots(p) if s in rows]
        tables = {"queries": pa.Table.from_pylist(ordered, schema=self.schema),
                  "failures": pa.Table.from_pylist(failures, schema=FAILURE_PART_SCHEMA)}
        del rows, failures, ordered
        work.save(index, digest, tables, {
            "complete": not budget.stopped, "passages": len(win), "rows": tables["queries"].num_rows,
            "failures": tables["failures"].num_rows, "requests": stats.requests,
            "prompt_tokens": stats.prompt_tokens, "completion_tokens": stats.completion_tokens})
        self.summary.stats.add(stats)
        self.saved.append(index)

    def write(self, report: CorpusReport, overwrite: bool, t0: float) -> None:
        """The dataset folder from the saved windows' parts (card and provenance included, with the seconds since
        ``t0``); the work folder is removed unless the run stopped early (a rerun continues from it)."""
        if self.work is None:  # no passage selected (e.g. a shard that got none): an empty dataset
            self.work = self.prepare()
        work, summary, schema, prompt = self.work, self.summary, self.schema, self.prompt
        summary.stopped = self.budget.stopped
        summary.skipped_documents, summary.skipped = len(report.skipped), report.skipped
        tables = {"queries": PartTable([work.part("queries", i) for i in self.saved], schema),
                  "failures": PartTable([work.part("failures", i) for i in self.saved], FAILURE_SCHEMA, order=ORDER)}
        card, summary.failures, summary.failed_slots = _card_stats(tables["queries"], tables["failures"], schema)
        summary.rows = card.rows
        summary.seconds = time.time() - t0
        provenance = {
            "tool": f"drama-toolkit {__version__}", "stage": "generate", "date": utc_now(),
            "task": self.task.info(),
            "backend": self.backend.info() if (self.backend and self.task.uses_llm) else None,
            "prompt": {"id": prompt.id, "form": prompt.form, "sha256": prompt.sha256} if prompt else None,
            "corpus": {**self.corpus.as_dict(), **report.as_dict()},
            "selection": {**self.selection, "passages": summary.passages},
            "stopped": summary.stopped or None,
            "counts": summary.as_dict(),
        }
        provenance["counts"].pop("output", None)
        card_meta, card_body = render_dataset_card(provenance, card)
        write_dataset(self.output, tables, default="queries", card_body=card_body, card_meta=card_meta,
                      extra_files={"provenance.json": dumps(provenance)}, overwrite=overwrite)
        if not summary.stopped:
            work.remove()


def _known_total(limit: int | None, num_shards: int, own: int | None) -> int | None:
    """The passages the run will read when that is known before reading (the progress bar's total, for an ETA):
    the task's own passages or ``--limit`` (at most), on one shard; ``None`` otherwise."""
    if num_shards > 1:
        return None
    if own is not None:
        return min(own, limit) if limit else own
    return limit


def _bar(name: str, progress: bool, total: int | None = None):
    """The passages' progress bar (with a total and an ETA when ``total`` is known)."""
    from tqdm.auto import tqdm

    return tqdm(desc=f"{name}: passages", unit=" passages", total=total, disable=not progress,
                dynamic_ncols=True)


def _add_recorded(stats: ExecutionStats, record: dict) -> None:
    """A reused window's requests, counted as a rerun would count them: all answered from the cache."""
    n = record.get("requests", 0)
    stats.add(ExecutionStats(requests=n, cached=n, prompt_tokens=record.get("prompt_tokens", 0),
                             completion_tokens=record.get("completion_tokens", 0)))


def _card_stats(queries: PartTable, failures: PartTable, schema: pa.Schema) -> tuple[CardStats, Counter, int]:
    """The card's counts from the parts (a few small columns of the rows, part by part; the failures' counted
    columns in the dataset's order), the failed attempts by reason and the slots left without a row."""
    card = CardStats(schema)
    cols = [c for c in CardStats.MAIN_COLUMNS if c in schema.names]
    for t in queries.read_columns(cols):
        card.add_rows(t)
    small = pa.concat_tables(list(failures.read_columns([*CardStats.FAILURE_COLUMNS, ORDER])) or
                             [pa.schema([FAILURE_PART_SCHEMA.field(c) for c in (*CardStats.FAILURE_COLUMNS, ORDER)])
                              .empty_table()])
    if small.num_rows:
        small = small.take(pc.sort_indices(small, [(ORDER, "ascending")]))
    card.add_failures(small)
    return (card, Counter(small.column("reason").to_pylist()),
            sum(1 for x in small.column("final").to_pylist() if x))


def _plan(task, selected, backend, prompt_format, cache, price, plan_sample):
    """The ``--dry-run`` plan of ``selected`` (the whole selection, in memory)."""
    if not task.uses_llm:
        from drama_data.generate.planning import Plan

        plan = Plan(task=task.name, backend="-", model="-", form="-", passages=len(selected), requests=0)
        plan.notes.append(f"task {task.name} uses no LLM: {sum(len(task.slots(p)) for p in selected)} rows "
                          "made directly from the passages")
        return plan
    if not isinstance(backend, Backend):
        backend = backend()  # built only now: bad input fails before any model is prepared
    form = prompt_format or ("chat" if backend.supports_chat() else "completion")
    prompt = task.use_form(form)
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


def _run_direct(task, window, rows, failures, ordinal: int, results: list | None = None) -> None:
    """Rows of a task without an LLM (``task.direct``, or its ``results`` per passage computed elsewhere) for the
    passages of ``window``."""
    for n, p in enumerate(window):
        for j, (slot, result) in enumerate(task.direct(p) if results is None else results[n]):
            if isinstance(result, ParseFailure):
                failures.append(_failure(slot, p.id, 0, "parse", result.reason, "", "", True, "", "",
                                         task.pair_of(p, slot), result,
                                         order=_failure_key(0, 0, 0, f"{ordinal + j:012d}")))
            else:
                rows[slot] = _row(p, slot, task, result, {})
        ordinal += len(task.slots(p))


def _failure_key(wave: int, attempt: int, phase: int, pending_key: str) -> str:
    """The sort key that puts failures in the order one pass over the whole selection records them: by quota
    wave, attempt, phase (0: the request, 1: its follow-up), then the slot's place in that attempt's queue.
    A slot's place in the first attempt is its ordinal in the selection; a retry queues the parse failures
    first, then the rejected follow-ups, each in the previous order, so its key is the phase it failed in
    followed by its previous key (keys of one attempt have one length and compare as strings)."""
    return f"{wave:04d}{attempt:03d}{phase}{pending_key}"


def _take(seen: Counter, key, limit: int) -> bool:
    seen[key] += 1
    return seen[key] <= limit


def _run_llm_task(task, selected, backend, cache, rows, failures, stats: ExecutionStats, progress, budget: Budget,
                  ordinal: int = 0) -> None:
    """Every slot of ``selected`` (one window), each up to ``task.max_attempts``; with a quota
    (``task.per_language``) in waves: each wave asks, per (passage language, query language) pair, for as many
    of the pair's next slots as rows are still missing, and the next wave refills what failed, until every pair
    has its quota or no slot left. Waves depend only on the answers (seeded), so a rerun replays them from the
    cache. ``ordinal``: the slots of the selection before this window (for the failures' order keys)."""
    slots = [(p, slot) for p in selected for slot in task.slots(p)]
    quota = task.per_language
    if not quota:
        keys = {slot: f"{ordinal + i:012d}" for i, (_p, slot) in enumerate(slots)}
        _run_slots(task, slots, backend, cache, rows, failures, stats, progress, budget, keys)
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
        keys = {slot: f"{i:012d}" for i, (_p, slot) in enumerate(wave)}
        _run_slots(task, wave, backend, cache, rows, failures, stats, progress, budget, keys, wave=wave_no,
                   label=f" (quota wave {wave_no})" if wave_no else "")
        for p, slot in wave:
            if slot in rows:
                passed[task.pair_of(p, slot)] += 1
        wave_no += 1


def _run_slots(task, pending, backend, cache, rows, failures, run_stats: ExecutionStats, progress,
               budget: Budget, keys: dict[str, str], wave: int = 0, label: str = "") -> None:
    """Attempts of ``pending`` slots; ``keys``: each slot's place in the queue (see :func:`_failure_key`)."""
    prompt = task.prompt
    for attempt in range(task.max_attempts):
        if not pending:
            break
        requests = [task.request(p, slot, attempt) for p, slot in pending]
        desc = f"{task.name}{label}" + (f" (retry {attempt})" if attempt else "")
        results, stats = budget.execute(requests, backend, cache, desc=desc, progress=progress)
        run_stats.add(stats)
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
            order = _failure_key(wave, attempt, 0, keys[slot])
            if not c.ok:
                failures.append(_failure(slot, p.id, attempt, "backend", c.error or "error", c.text,
                                         c.finish_reason, True, backend.model, prompt.sha256, task.pair_of(p, slot),
                                         order=order))
                continue
            try:
                parsed = task.parse(p, slot, prompt.response_prefix + c.text, finish_reason=c.finish_reason)
            except ParseFailure as exc:
                usage.append((req, c, 0))
                failures.append(_failure(slot, p.id, attempt, "parse", exc.reason, c.text, c.finish_reason,
                                         last, backend.model, prompt.sha256, task.pair_of(p, slot), exc, order=order))
                if not last:
                    retry.append((p, slot))
                    keys[slot] = "0" + keys[slot]
                continue
            usage.append((req, c, 1))
            prov = {"backend": backend.name, "model": backend.model, "prompt_id": prompt.id,
                    "prompt_sha256": prompt.sha256, "sampling": json.dumps(req.sampling.as_dict(), sort_keys=True),
                    "seed": req.sampling.seed, "attempt": attempt, "finish_reason": c.finish_reason,
                    "prompt_tokens": c.prompt_tokens, "completion_tokens": c.completion_tokens}
            rows[slot] = _row(p, slot, task, parsed, prov)
            passed.append((p, slot))
        if passed:
            retry += _run_followups(task, passed, attempt, last, backend, cache, rows, failures, run_stats,
                                    progress, budget, desc, keys, wave)
        if cache is not None and usage:
            cache.record_usage((request_key(backend.cache_name, backend.cache_model, r), backend.name,
                                backend.cache_model, task.name, prompt.sha256, r.sampling.max_tokens, c.prompt_tokens,
                                c.completion_tokens, ok) for r, c, ok in usage)
        pending = retry
        if budget.stopped:
            break


def _run_followups(task, passed, attempt, last, backend, cache, rows, failures, run_stats, progress, budget,
                   desc, keys, wave) -> list:
    """Send the follow-up requests of this attempt's rows (:meth:`Task.followup`) and check their answers; a
    rejected row is removed and recorded as a failure (kind ``followup``). Returns the slots to retry."""
    prompt = task.prompt
    todo = [(p, slot, task.followup(p, slot, rows[slot], attempt)) for p, slot in passed]
    todo = [(p, slot, r) for p, slot, r in todo if r is not None]
    if not todo:
        return []
    results, stats = budget.execute([r for _, _, r in todo], backend, cache, desc=f"{desc} (follow-up)",
                                    progress=progress)
    run_stats.add(stats)
    retry = []
    for p, slot, req in todo:
        c = results.get(req.id)
        if c is None:  # not sent (budget): the row stays unchecked, so it is not written; a rerun finishes it
            rows.pop(slot)
            continue
        order = _failure_key(wave, attempt, 1, keys[slot])
        if not c.ok:
            rows.pop(slot)
            failures.append(_failure(slot, p.id, attempt, "backend", c.error or "error", c.text, c.finish_reason,
                                     True, backend.model, prompt.sha256, task.pair_of(p, slot), order=order))
            continue
        try:
            rows[slot].update(task.check_followup(p, slot, rows[slot], prompt.response_prefix + c.text))
        except ParseFailure as exc:
            rows.pop(slot)
            failures.append(_failure(slot, p.id, attempt, "followup", exc.reason, c.text, c.finish_reason, last,
                                     backend.model, prompt.sha256, task.pair_of(p, slot), exc, order=order))
            if not last:
                retry.append((p, slot))
                keys[slot] = "1" + keys[slot]
    return retry


def _row(p: Passage, slot: str, task: Task, parsed: dict, prov: dict) -> dict:
    row = {"query_id": slot, "passage_id": p.id, "doc_id": p.doc_id, "title": p.title, "text": p.text,
           "source": task.source, "language": "", **parsed}
    for name in PROVENANCE_COLUMNS:
        row.setdefault(name, prov.get(name))
    return row


def _failure(slot, pid, attempt, kind, reason, raw, finish, final, model, sha, pair=("", ""),
             exc: ParseFailure | None = None, order: str = "") -> dict:
    """A failure row; ``pair``: the (passage, query) languages the slot asked for; ``exc``: what the language
    check detected in the rejected text, when it ran; ``order``: its sort key (:func:`_failure_key`)."""
    return {"query_id": slot, "passage_id": pid, "attempt": attempt, "kind": kind, "reason": reason,
            "raw_text": raw, "finish_reason": finish, "final": final, "model": model, "prompt_sha256": sha,
            "passage_language": pair[0], "language": pair[1],
            "detected_language": getattr(exc, "detected_language", "") or "",
            "language_confidence": getattr(exc, "language_confidence", None), ORDER: order}
