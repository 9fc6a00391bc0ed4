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
    "chunk_tokenizer": opt(str, help="HF tokenizer counting chunk tokens (default: words)."),
    "split": opt(str, default="train", nullable=False, help="Split of an HF dataset corpus."),
    "id_field": opt(str), "title_field": opt(str), "text_field": opt(str),
    "queries_per_doc": opt(int, default=1, nullable=False),
    "seed": opt(int, help="Default: the recipe's seed."),
}
BACKEND_OPTIONS = {
    "backend": opt(str, default="vllm", nullable=False, help="vllm or openai."),
    "model": opt(str, help="HF id, local folder or .gguf; null: the embedded Gemma-3-270M."),
    "tensor_parallel_size": opt(int, default=1, nullable=False, help="vllm: GPUs per replica (paper: 4)."),
    "data_parallel_size": opt(int, default=1, nullable=False, help="vllm: replicas."),
    "max_model_len": opt(int), "dtype": opt(str), "gpu_memory_utilization": opt(float),
    "engine_args": opt(dict, default={}, nullable=False, help="vllm: any other vllm.LLM argument."),
    "trust_remote_code": opt(bool, default=False, nullable=False),
    "base_url": opt(str), "api_key_env": opt(str, default="OPENAI_API_KEY", nullable=False),
    "concurrency": opt(int, default=16, nullable=False), "timeout": opt(float, default=120.0, nullable=False),
    "max_retries": opt(int, default=6, nullable=False),
    "temperature": opt(float), "top_p": opt(float), "max_tokens": opt(int), "max_attempts": opt(int),
    "prompt": opt(str, help="Jinja2 prompt file (default: the task's)."),
    "prompt_format": opt(str, help="chat or completion (default: from the model)."),
    "cache_dir": opt(str, help="Request cache folder (default ~/.cache/drama)."),
}
BACKEND_ONLY = ("backend", "model", "tensor_parallel_size", "data_parallel_size", "max_model_len", "dtype",
                "gpu_memory_utilization", "trust_remote_code", "base_url", "api_key_env", "concurrency", "timeout",
                "max_retries", "cache_dir")


def backend_kwargs(o: dict) -> dict[str, Any]:
    """Backend options as :func:`drama_data.api.run_generate` takes them."""
    kw = {k: o[k] for k in BACKEND_ONLY if k in o and o[k] is not None and k not in ("backend", "model")}
    kw["engine_kwargs"] = dict(o.get("engine_args") or {})
    return kw


def backend_flags(o: dict) -> list[str]:
    out = flags({"--backend": o["backend"], "--model": o.get("model")})
    defaults = {"tensor_parallel_size": 1, "data_parallel_size": 1, "api_key_env": "OPENAI_API_KEY",
                "concurrency": 16, "timeout": 120.0, "max_retries": 6, "trust_remote_code": False}
    for key in BACKEND_ONLY[2:]:
        if key in o and o[key] is not None and o[key] != defaults.get(key):
            out += flags({"--" + key.replace("_", "-"): o[key]})
    for key, value in (o.get("engine_args") or {}).items():
        import json

        out += ["--engine-arg", f"{key}={json.dumps(value)}"]
    return out


class GenerateStage(Stage):
    kind = "queries"
    task = "queries"
    OPTIONS = {**CORPUS_OPTIONS, **BACKEND_OPTIONS}
    PATH_OPTIONS = {"corpus": "data", "model": "model", "prompt": "data", "chunk_tokenizer": "model"}

    @classmethod
    def validate(cls, spec, where, base) -> None:
        from drama_models.recipes.schema import resolve_path

        if spec.options.get("corpus"):
            spec.options["corpus"] = resolve_path(spec.options["corpus"], base)

    def corpus(self, ctx: RunContext) -> str | None:
        """The corpus this stage reads: its own ``corpus:`` option, else the run's collection."""
        return self.options.get("corpus") or ctx.corpus

    def inputs(self, ctx: RunContext) -> dict[str, Any]:
        return {"corpus": self.corpus(ctx)}

    def gpus(self) -> int:
        if self.task == "crop" or self.options.get("backend") != "vllm":
            return 0
        return self.options["tensor_parallel_size"] * self.options["data_parallel_size"]

    def _kwargs(self, ctx: RunContext) -> dict[str, Any]:
        o = self.options
        kw: dict[str, Any] = {
            "limit": o["passages"], "chunk_tokens": o["chunk_tokens"], "chunk_tokenizer": o["chunk_tokenizer"],
            "split": o["split"], "id_field": o["id_field"], "title_field": o["title_field"],
            "text_field": o["text_field"], "queries_per_doc": o["queries_per_doc"], "seed": ctx.seed(self),
        }
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

    def run(self, ctx: RunContext) -> dict[str, Any]:
        from drama_data.api import run_generate

        corpus = self.corpus(ctx) or ctx.require_corpus(self)
        o = self.options
        summary = run_generate(task_name=self.task, corpus=corpus, output=str(ctx.stage_dir(self.name)),
                               backend_name=o.get("backend", "vllm"), model=o.get("model"), echo=ctx.echo,
                               progress=True, **self._kwargs(ctx))
        ctx.echo(summary.render())
        d = summary.as_dict()  # run_generate already wrote the quality report (figures) into the card
        keys = ("passages", "rows", "failed_slots") + (() if self.task == "crop" else (
            "requests", "cached", "generated", "prompt_tokens", "completion_tokens", "model"))
        return {k: d[k] for k in keys if k in d}


class CropStage(GenerateStage):
    kind = "crop"
    task = "crop"
    PATH_OPTIONS = {"corpus": "data", "chunk_tokenizer": "model"}
    OPTIONS = {**CORPUS_OPTIONS, "language": opt(str, default="", nullable=False,
                                                 help="Language code recorded on the rows.")}


class CrosslingualStage(GenerateStage):
    kind = "crosslingual"
    task = "crosslingual"
    OPTIONS = {**CORPUS_OPTIONS, **BACKEND_OPTIONS,
               "target_languages": opt(str, default="de,zh", nullable=False, help="Comma-separated codes.")}
