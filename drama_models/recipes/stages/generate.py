"""Generate stages: ``queries`` (LLM synthetic queries, QGen), ``crop`` (cropped sentences, Sent, no LLM) and
``crosslingual``, each one call of :func:`drama_data.api.run_generate` over the run's collection.

Output: a dataset folder (``<run>/<stage>/``, config ``queries``). Resuming: every completion is in the request
cache the moment it arrives, so a rerun after a kill only generates what is missing.
"""
from __future__ import annotations

from typing import Any

from drama_models.recipes.schema import opt
from drama_models.recipes.stages.base import RunContext, Stage, flags, join_command

CORPUS_OPTIONS = {
    "corpus": opt(str, help="This stage's own corpus (e.g. one of the paper's three); default: the run's collection."),
    "passages": opt(int, help="Use only the first N passages of the collection (--limit); null: all."),
    "chunk_tokens": opt(int, default=256, nullable=False, help="Passages of at most N tokens (paper: 256)."),
    "chunk_tokenizer": opt(str, help="HF tokenizer counting chunk tokens (default: words); its model's limit "
                           "bounds chunk_tokens and pack_tokens."),
    "pack_tokens": opt(int, help="Join consecutive passages into long documents of at most N tokens (--pack-tokens); "
                       "null: off."),
    "split": opt(str, default="train", nullable=False, help="Split of an HF dataset corpus."),
    "id_field": opt(str), "title_field": opt(str), "text_field": opt(str),
    "queries_per_doc": opt(int, default=1, nullable=False),
    "seed": opt(int, help="Default: the recipe's seed."),
}
SECTION_TOKENS = opt(int, default=256, nullable=False, help="A longer passage's prompt (crop: sentence) comes from "
                     "one section of M tokens; rows record where (--section-tokens; paper passages: 256).")
RUN_OPTIONS = {  # what every LLM stage takes besides its backend's settings
    "temperature": opt(float), "top_p": opt(float), "max_tokens": opt(int), "max_attempts": opt(int),
    "prompt": opt(str, help="Jinja2 prompt file (default: the task's)."),
    "prompt_format": opt(str, help="chat or completion (default: from the model)."),
    "cache_dir": opt(str, help="Request cache folder (default ~/.cache/drama)."),
}


def _setting_options() -> dict[str, Any]:
    """One recipe key per backend setting (derived from the settings classes: type, default, help)."""
    from drama_data.backends.registry import registry

    out: dict[str, Any] = {}
    for info in registry().infos():
        types = (info.type, int) if info.type is float else (info.type,)
        out[info.name] = opt(*types, default=info.default, nullable=info.nullable,
                             help=f"{', '.join(info.backends)}: {info.help}")
    return out


def backend_options() -> dict[str, Any]:
    """The recipe keys of an LLM stage: ``backend``, ``model``, every backend's settings, the run options and the
    deprecated ``engine_kwargs`` (read as ``engine_args``, with a warning)."""
    from drama_data.backends.registry import registry

    return {"backend": opt(str, default="vllm", nullable=False, help=" or ".join(registry().names()) + "."),
            "model": opt(str, help="HF id, local folder or .gguf; null: the embedded Gemma-3-270M."),
            **_setting_options(), **RUN_OPTIONS,
            "engine_kwargs": opt(dict, help="Deprecated: engine_args.")}


BACKEND_OPTIONS = backend_options()


def validate_backend(spec, where: str) -> None:
    """The stage's backend and its settings, checked as the CLI checks them (one line naming the key); the old
    ``engine_kwargs`` key becomes ``engine_args`` with a DeprecationWarning."""
    import warnings

    from drama_data.backends.registry import registry
    from drama_data.errors import ConfigError
    from drama_models.recipes.schema import RecipeError

    o = spec.options
    if "backend" not in o:
        return
    old = o.pop("engine_kwargs", None)
    if old is not None:
        warnings.warn(f"{where}.engine_kwargs is now engine_args", DeprecationWarning, stacklevel=2)
        o["engine_args"] = {**old, **(o.get("engine_args") or {})}
    try:
        registry().settings(o["backend"], o)
    except ConfigError as exc:
        raise RecipeError(f"{where}.backend: {exc}") from None


def backend_settings(o: dict):
    """The validated settings of the stage's backend."""
    from drama_data.backends.registry import registry

    return registry().settings(o["backend"], o)


def backend_kwargs(o: dict) -> dict[str, Any]:
    """Backend options as :meth:`drama_data.generate.config.GenerateConfig.from_options` takes them."""
    from drama_data.backends.registry import registry

    kw = {i.name: o[i.name] for i in registry().infos() if o.get(i.name) is not None}
    if o.get("cache_dir") is not None:
        kw["cache_dir"] = o["cache_dir"]
    kw["engine_args"] = dict(o.get("engine_args") or {})
    return kw


def backend_flags(o: dict) -> list[str]:
    """The ``drama-data generate`` flags of the stage's backend: ``--backend``, ``--model``, then each setting
    that differs from its default (derived from the settings classes), ``--cache-dir`` and ``--engine-arg``."""
    from drama_data.backends.registry import registry
    from drama_data.backends.settings import key_value_flags

    out = flags({"--backend": o["backend"], "--model": o.get("model")})
    infos = [i for i in registry().infos() if i.cli]
    for info in infos:
        value = o.get(info.name)
        if info.type is not dict and value is not None and value != info.default:
            out += flags({info.flag: value})
    out += flags({"--cache-dir": o.get("cache_dir")})
    for info in infos:
        if info.type is dict and o.get(info.name):
            out += key_value_flags(o[info.name], info.flag)
    return out


class GenerateStage(Stage):
    kind = "queries"
    task = "queries"
    OPTIONS = {**CORPUS_OPTIONS, **BACKEND_OPTIONS, "section_tokens": SECTION_TOKENS}
    PATH_OPTIONS = {"corpus": "data", "model": "model", "prompt": "data", "chunk_tokenizer": "model"}

    @classmethod
    def validate(cls, spec, where, base) -> None:
        from drama_models.recipes.schema import resolve_path

        validate_backend(spec, where)
        if spec.options.get("corpus"):
            spec.options["corpus"] = resolve_path(spec.options["corpus"], base)

    def corpus(self, ctx: RunContext) -> str | None:
        """The corpus this stage reads: its own ``corpus:`` option, else the run's collection."""
        return self.options.get("corpus") or ctx.corpus

    def inputs(self, ctx: RunContext) -> dict[str, Any]:
        return {"corpus": self.corpus(ctx)}

    def gpus(self) -> int:
        if self.task == "crop":
            return 0
        return backend_settings(self.options).gpus()

    def _kwargs(self, ctx: RunContext) -> dict[str, Any]:
        o = self.options
        kw: dict[str, Any] = {
            "limit": o["passages"], "chunk_tokens": o["chunk_tokens"], "chunk_tokenizer": o["chunk_tokenizer"],
            "split": o["split"], "id_field": o["id_field"], "title_field": o["title_field"],
            "text_field": o["text_field"], "queries_per_doc": o["queries_per_doc"], "seed": ctx.seed(self),
        }
        for key in ("pack_tokens", "section_tokens"):
            if o.get(key) is not None:
                kw[key] = o[key]
        for key in ("language", "target_languages"):
            if key in o:
                kw[key] = o[key]
        if self.task != "crop":
            kw.update(backend_kwargs(o))
            kw.update({k: o[k] for k in ("temperature", "top_p", "max_tokens", "max_attempts", "prompt_format")
                       if o.get(k) is not None})
            if o.get("prompt"):
                kw["prompt_path"] = o["prompt"]
        return kw

    def command(self, ctx: RunContext) -> str:
        o = self.options
        parts: list[Any] = ["drama-data", "generate", "--task", self.task, "--corpus", self.corpus(ctx) or "CORPUS",
                            "--output", ctx.stage_dir(self.name)]
        parts += flags({"--limit": o["passages"], "--seed": ctx.seed(self)})
        if o["queries_per_doc"] != 1:
            parts += flags({"--queries-per-doc": o["queries_per_doc"]})
        if o["chunk_tokens"] != 256:
            parts += flags({"--chunk-tokens": o["chunk_tokens"]})
        if o.get("pack_tokens"):
            parts += flags({"--pack-tokens": o["pack_tokens"]})
        if o.get("section_tokens") not in (None, 256):
            parts += flags({"--section-tokens": o["section_tokens"]})
        for key in ("chunk_tokenizer", "id_field", "title_field", "text_field", "language", "target_languages"):
            if o.get(key):
                parts += flags({"--" + key.replace("_", "-"): o[key]})
        if self.task != "crop":
            parts += backend_flags(o)
            for key in ("temperature", "top_p", "max_tokens", "max_attempts", "prompt", "prompt_format"):
                if o.get(key) is not None:
                    parts += flags({"--" + key.replace("_", "-"): o[key]})
        return join_command(parts)

    def estimate(self, ctx: RunContext) -> dict[str, Any]:
        from drama_models.recipes.plan import generate_estimate

        return generate_estimate(self, ctx)

    def config(self, ctx: RunContext):
        """The stage's :class:`~drama_data.generate.config.GenerateConfig` (what its command line would build)."""
        from drama_data.generate.config import GenerateConfig

        o = self.options
        return GenerateConfig.from_options(task_name=self.task, corpus=self.corpus(ctx) or ctx.require_corpus(self),
                                           output=str(ctx.stage_dir(self.name)), backend_name=o.get("backend", "vllm"),
                                           model=o.get("model"), progress=True, **self._kwargs(ctx)).validate()

    def run(self, ctx: RunContext) -> dict[str, Any]:
        from drama_data.api import run_generate

        summary = run_generate(self.config(ctx), echo=ctx.echo)
        ctx.echo(summary.render())
        d = summary.as_dict()  # run_generate already wrote the quality report (figures) into the card
        keys = ("passages", "rows", "failed_slots") + (() if self.task == "crop" else (
            "requests", "cached", "generated", "prompt_tokens", "completion_tokens", "model"))
        return {k: d[k] for k in keys if k in d}


class CropStage(GenerateStage):
    kind = "crop"
    task = "crop"
    PATH_OPTIONS = {"corpus": "data", "chunk_tokenizer": "model"}
    OPTIONS = {**CORPUS_OPTIONS, "section_tokens": SECTION_TOKENS,
               "language": opt(str, default="", nullable=False, help="Language code recorded on the rows.")}


class CrosslingualStage(GenerateStage):
    kind = "crosslingual"
    task = "crosslingual"
    OPTIONS = {**CORPUS_OPTIONS, **BACKEND_OPTIONS,
               "target_languages": opt(str, default="de,zh", nullable=False, help="Comma-separated codes.")}
