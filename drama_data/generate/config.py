"""The ``generate`` stage's configuration: one object the command line, the Python API and the recipe stage build
alike, checked in one place.

In: keyword options with the names ``drama-data generate`` gives them (``task_name``, ``corpus``, ``output``,
``backend_name``, ``model``, ``limit`` ...; the backend's own settings, e.g. ``concurrency`` or ``engine_args``, by
their setting names: `drama_data.backends.settings`) -> `GenerateConfig.from_options`. Out: a
validated `GenerateConfig` (`GenerateConfig.validate`: one-line `drama_data.errors.ConfigError` naming the
flag) that `drama_data.api.run_generate` runs.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from drama_data.errors import ConfigError

TASKS = ("queries", "crop", "crosslingual", "rerank")
#: Passages read, sent and written together (``--window-passages``; see `drama_data.generate.runner`).
WINDOW_PASSAGES = 4096
RAY_KEYS = ("ray", "ray_workers", "ray_gpus_per_worker", "ray_cpus_per_worker")


@dataclass
class GenerateConfig:
    """Every option of one ``generate`` run; defaults as ``drama-data generate --help`` shows them.

    Each field is the flag of the same name (dashes for underscores) unless said otherwise; see
    ``drama-data generate --help`` for the full text. Build one from keyword options with `from_options`, check it
    with `validate`, run it with [`run_generate`][drama_data.api.run_generate].

    Attributes:
        output: The dataset folder to write (``--output``; required).
        corpus: BEIR folder, ``.jsonl[.gz]``/``.parquet`` file, HF dataset, or a folder/file of
            ``.txt/.md/.html/.pdf``; for ``rerank`` a ``mine`` output. Required except with ``method="translate"``.
        task_name: ``queries``, ``crop``, ``crosslingual`` or ``rerank`` (``--task``).
        backend_name: ``vllm``, ``openai`` or ``openai-batch`` (``--backend``).
        model: HF id, local folder or ``.gguf`` file; ``None`` for the embedded Gemma-3-270M.
        backend_options: The chosen backend's settings by name (``concurrency``, ``engine_args``,
            ``base_url``, ...; other backends' names are ignored).
        limit: Use only the first N passages (queries for ``rerank``).
        split: Split of an HF dataset corpus.
        id_field: Record field holding the id (``None``: ``_id``/``id``/``docid``...).
        title_field: Record field holding the title.
        text_field: Record field holding the text.
        chunk_tokens: Passages have at most this many tokens (paper: 256).
        chunk_tokenizer: HF tokenizer for counting chunk tokens (``None``: words); its model's limit bounds
            ``chunk_tokens`` and ``pack_tokens`` (`drama_data.token_limit`).
        pack_tokens: Join consecutive passages into documents of at most this many tokens
            (`drama_data.packing`; ``None``: off); ``limit`` and shards then count packed documents.
        section_tokens: ``queries``/``crop``: a passage longer than this sends one section of it to the LLM
            (`drama_data.tasks.sections`); the row records where (``answer_start``/``answer_end``/``answer_depth``).
        queries_per_doc: ``queries``: queries per passage; ``crosslingual`` direct: per passage and language.
        language: ``crop``: the corpus' language code (``""``: detected per passage).
        target_languages: ``crosslingual``: comma-separated languages to write queries in.
        method: ``crosslingual``: ``direct`` or ``translate``.
        queries: ``crosslingual`` translate: an earlier ``queries`` output folder.
        round_trip: ``crosslingual`` translate: minimum share of content words a back-translation keeps.
        per_language: At most N rows per (passage language, query language) pair.
        min_language_confidence: Probability a query needs in its language (``None``: 0.5).
        min_script_share: Share of a query's words in its language's script (``None``: 0.6).
        max_attempts: Attempts per row when the output cannot be parsed.
        prompt_path: A Jinja2 prompt file (``--prompt``).
        prompt_format: ``chat`` or ``completion`` (``None``: chat if the model has a chat template).
        temperature: ``None``: the task's (queries 0.8, rerank 0).
        top_p: ``None``: the task's (queries 0.9).
        max_tokens: Max new tokens per completion (``None``: queries 256).
        seed: The run seed; each request's seed derives from it.
        window: ``rerank``: passages per window (paper: 20).
        stride: ``rerank``: window step.
        passage_tokens: ``rerank``: passages cut to this many tokens.
        depth: ``rerank``: candidates per query to rank (paper: 20).
        passes: ``rerank``: passes over shuffled orders (more than 1 gives agreement).
        num_shards: Split the work over machines (by passage id).
        shard_index: This machine's shard.
        window_passages: Passages read, sent and written together (resumable windows).
        ray: Run the backend on Ray actors (``local``, or a cluster address).
        ray_workers: Ray actors (backend instances).
        ray_gpus_per_worker: GPUs per Ray actor.
        ray_cpus_per_worker: CPUs per Ray actor.
        cache_dir: The request cache (``None``: ``~/.cache/drama``).
        no_cache: Do not read or write the request cache.
        overwrite: Replace an existing output folder that is not ours.
        progress: Show progress bars (``--no-progress`` sets ``False``).
        dry_run: Only plan (requests, tokens, cost, time): no model is loaded, no request sent.
        plan_sample: Dry run: requests whose prompt tokens are counted and extrapolated.
        prices: A YAML of $ per 1M tokens, overriding the built-in table.
        max_requests: Stop after sending this many requests (rerun to continue).
        max_cost: Stop when the run has spent this many dollars (rerun to continue).
        contamination: Evaluation collections (BEIR folders) the quality report checks the output against.
        report: Write the quality report at the end (``--no-report`` sets ``False``).
    """

    output: str
    corpus: str | None = None
    task_name: str = "queries"
    backend_name: str = "vllm"
    model: str | None = None
    backend_options: dict[str, Any] = field(default_factory=dict)
    # input
    limit: int | None = None
    split: str = "train"
    id_field: str | None = None
    title_field: str | None = None
    text_field: str | None = None
    chunk_tokens: int = 256
    chunk_tokenizer: str | None = None
    pack_tokens: int | None = None
    section_tokens: int = 256
    # task
    queries_per_doc: int = 1
    language: str = ""
    target_languages: str = "de,zh"
    method: str = "direct"
    queries: str | None = None
    round_trip: float | None = None
    per_language: int | None = None
    min_language_confidence: float | None = None
    min_script_share: float | None = None
    max_attempts: int | None = None
    prompt_path: str | None = None
    prompt_format: str | None = None
    # sampling
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int = 0
    # rerank
    window: int = 20
    stride: int = 10
    passage_tokens: int = 256
    depth: int = 20
    passes: int = 1
    # scale
    num_shards: int = 1
    shard_index: int = 0
    window_passages: int | None = WINDOW_PASSAGES  # None: the same
    ray: str | None = None
    ray_workers: int | None = None
    ray_gpus_per_worker: float | None = None
    ray_cpus_per_worker: float | None = None
    # output, cache, budget, plan
    cache_dir: str | None = None
    no_cache: bool = False
    overwrite: bool = False
    progress: bool = True
    dry_run: bool = False
    plan_sample: int | None = 64
    prices: str | None = None
    max_requests: int | None = None
    max_cost: float | None = None
    contamination: list[str] = field(default_factory=list)
    report: bool = True

    @classmethod
    def from_options(cls, **options: Any) -> GenerateConfig:
        """A config from keyword options named as the CLI names them.

        ``no_progress``/``no_report`` are read as ``progress``/``report``; a backend setting goes into
        ``backend_options``; ``engine_kwargs`` is the old name of ``engine_args``.

        Args:
            **options: The options (``output`` is required).

        Returns:
            The config, not yet validated.

        Raises:
            ConfigError: An unknown option name, or no ``output``.
        """
        from drama_data.backends.registry import registry

        own = {f.name for f in dataclasses.fields(cls)}
        settings = {i.name for i in registry().infos()}
        values: dict[str, Any] = {}
        backend: dict[str, Any] = dict(options.pop("backend_options", None) or {})
        if "no_progress" in options:
            options.setdefault("progress", not options.pop("no_progress"))
        if "no_report" in options:
            options.setdefault("report", not options.pop("no_report"))
        if "engine_kwargs" in options:  # the old name
            old = options.pop("engine_kwargs") or {}
            options["engine_args"] = {**old, **(options.get("engine_args") or {})}
        for key, value in options.items():
            if key in settings:
                backend[key] = value
            elif key in own:
                values[key] = value
            else:
                raise ConfigError(f"generate: unknown option {key!r}")
        values["contamination"] = list(values.get("contamination") or [])
        if "output" not in values:
            raise ConfigError("--output is required")
        return cls(backend_options=backend, **values)

    @property
    def uses_llm(self) -> bool:
        return self.task_name != "crop"

    @property
    def passage_tokens_max(self) -> int:
        """The most tokens a passage handed to the task can have: ``chunk_tokens``, or ``pack_tokens`` when
        packing (a packed document of one part may still have ``chunk_tokens``)."""
        return max(self.chunk_tokens, self.pack_tokens or 0)

    @property
    def prompt_holds_whole_passage(self) -> bool:
        """Whether an LLM prompt can hold a whole passage (``queries`` sends a section of a passage longer than
        ``section_tokens``; the other LLM tasks always send it whole)."""
        if not self.uses_llm:
            return False
        return self.task_name != "queries" or self.passage_tokens_max <= self.section_tokens

    def validate(self) -> GenerateConfig:
        """Check the options together, and the chosen backend's settings; reads no data.

        The corpus itself and the prompt file are read later, before anything is written.

        Returns:
            The config itself.

        Raises:
            ConfigError: A bad value or combination, one line naming the flag.
        """
        if self.task_name not in TASKS:
            raise ConfigError(f"--task {self.task_name!r}: choose from {', '.join(TASKS)}")
        translate = self.task_name == "crosslingual" and self.method == "translate"
        if not self.corpus and not translate:
            raise ConfigError("--corpus is required (except for --task crosslingual --method translate)")
        if self.task_name == "rerank":
            return self._validate_backend()
        if self.chunk_tokens < 1:
            raise ConfigError(f"--chunk-tokens must be at least 1, got {self.chunk_tokens}")
        if self.pack_tokens is not None and self.pack_tokens < 1:
            raise ConfigError(f"--pack-tokens must be at least 1, got {self.pack_tokens}")
        if self.section_tokens < 1:
            raise ConfigError(f"--section-tokens must be at least 1, got {self.section_tokens}")
        if self.task_name not in ("queries", "crosslingual") and self.per_language is not None:
            raise ConfigError(f"--per-language goes with --task queries or crosslingual, not {self.task_name}")
        if self.task_name == "crosslingual":
            if translate and self.corpus:
                raise ConfigError("--method translate reads its passages from --queries DIR: leave out --corpus")
        elif (self.method or "direct") != "direct" or self.queries or self.round_trip is not None:
            raise ConfigError("--method, --queries and --round-trip go with --task crosslingual")
        return self._validate_backend() if self.uses_llm else self

    def _validate_backend(self) -> GenerateConfig:
        self.backend_settings()
        return self

    def backend_settings(self):
        """The chosen backend's validated settings (a `drama_data.backends.settings.BackendSettings`).

        Raises:
            ConfigError: An unknown backend, or a bad setting value.
        """
        from drama_data.backends.registry import registry

        return registry().settings(self.backend_name, self.backend_options)

    def backend_kwargs(self) -> dict[str, Any]:
        """What `drama_data.backends.build_backend` takes: the backend settings, the Ray options, the prompt
        form and the cache folder (for the Batch API's ids)."""
        kw = {**self.backend_options, **{k: getattr(self, k) for k in RAY_KEYS}}
        kw.update(prompt_format=self.prompt_format, cache_dir=self.cache_dir)
        return kw

    def as_options(self) -> dict[str, Any]:
        """Every option as one flat dict (the backend settings merged in): what the rerank stage and the plan
        helpers read."""
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "backend_options"}
        return {**d, **self.backend_options}
