"""Backends by name: ``vllm`` (in-process engine), ``openai`` (any OpenAI-compatible server) and
``openai-batch`` (the same server's Batch API: half price, answers within 24 h).

``make_backend(name, model, **options)`` builds one (``build_backend`` from CLI-style options, passing on
those the backend understands; with ``ray`` set, the backend runs on a pool of Ray actors:
:mod:`drama_data.backends.ray_pool`; vllm with ``data_parallel_size`` above 1 without Ray, on replica processes:
:mod:`drama_data.backends.replicas`); ``resolve_model(model)`` turns the embedded default
(``None``) or a GGUF file into a folder vLLM can load, preparing it once in the user cache.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from drama_data.backends.base import Backend, Completion, Request, Sampling
from drama_data.errors import ConfigError

BACKENDS = ("vllm", "openai", "openai-batch")


def resolve_model(model: str | None, echo=print) -> tuple[str, str]:
    """Return ``(path_or_id_to_load, label_for_provenance)`` for ``--model``.

    ``None``/``"embedded:gemma-3-270m"`` -> the embedded Gemma-3-270M folder (prepared once); a ``.gguf`` file
    -> a converted bf16 folder in the cache; anything else (HF id, local folder) is passed through.
    """
    from drama_data.embedded import EMBEDDED_MODEL, is_embedded, prepare_embedded_model

    if is_embedded(model):
        return str(prepare_embedded_model(echo=echo)), EMBEDDED_MODEL
    path = Path(str(model)).expanduser()
    if path.suffix.lower() == ".gguf":
        if not path.is_file():
            raise ConfigError(f"--model {model}: no such GGUF file")
        from drama_data.embedded import FORMAT, convert_gguf_to_hf, converted_format
        from drama_data.paths import cache_dir

        st = path.stat()
        tag = hashlib.sha256(f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:16]
        target = cache_dir() / "models" / f"gguf-{path.stem}-{tag}"
        if converted_format(target) != FORMAT:
            if echo:
                echo(f"Converting {path.name} once to an HF folder at {target} (vLLM cannot read GGUF) ...")
            convert_gguf_to_hf(path, target)
        return str(target), f"gguf:{path.name}"
    return str(model), str(model)


def make_backend(name: str, model: str | None = None, *, echo=print, **options: Any) -> Backend:
    """Build backend ``name`` for ``model`` with backend-specific ``options`` (unknown ones raise).

    For ``vllm``, ``data_parallel_size=N`` above 1 gives N engine replicas, one per process, each with
    ``tensor_parallel_size`` GPUs of its own (:class:`~drama_data.backends.replicas.ReplicaPoolBackend`)."""
    if name == "vllm":
        from drama_data.backends.vllm import VLLMBackend

        from drama_data.embedded import converted_format

        replicas = options.pop("data_parallel_size", None) or 1
        if replicas < 1:
            raise ConfigError(f"--data-parallel-size must be at least 1, got {replicas}")
        path, label = resolve_model(model, echo=echo)
        converted = converted_format(path)
        if converted is not None:  # a GGUF converted here: conversions of an older format differ
            options.setdefault("model_revision", f"format-{converted}")
        local = VLLMBackend(path, model_label=label, **options)
        if replicas == 1:
            return local
        from drama_data.backends.ray_pool import BackendSpec
        from drama_data.backends.replicas import ReplicaPoolBackend

        return ReplicaPoolBackend(BackendSpec(VLLMBackend, (path,), {"model_label": label, **options}), replicas,
                                  devices_per_replica=options.get("tensor_parallel_size") or 1, local=local)
    if name == "openai":
        from drama_data.backends.openai import OpenAIBackend

        if not model:
            raise ConfigError("--backend openai needs --model (the model name the server serves)")
        return OpenAIBackend(model, **options)
    if name == "openai-batch":
        from drama_data.backends.openai_batch import OpenAIBatchBackend

        if not model:
            raise ConfigError("--backend openai-batch needs --model (the model name the server serves)")
        return OpenAIBatchBackend(model, echo=echo, **options)
    raise ConfigError(f"--backend {name!r}: unknown (choose from {', '.join(BACKENDS)})")


RAY_OPTIONS = ("ray", "ray_workers", "ray_gpus_per_worker", "ray_cpus_per_worker")
DEFAULT_RAY_WORKERS = 2


def ray_workers(workers: int | None, data_parallel_size: int | None) -> int:
    """Ray actors for ``--ray``: ``--ray-workers``, else ``--data-parallel-size`` when above 1, else 2; the two
    given with different numbers is a ConfigError (both mean engines)."""
    dp = data_parallel_size or 1
    if workers and dp > 1 and workers != dp:
        raise ConfigError(f"--ray-workers {workers} and --data-parallel-size {dp} disagree: with --ray both are the "
                          f"number of engines (Ray workers); give one of them")
    return workers or (dp if dp > 1 else DEFAULT_RAY_WORKERS)


def build_backend(backend_name: str, model: str | None, *, echo=print, **o: Any):
    """A backend from CLI-style options (only the options that backend understands are passed on).

    ``ray`` (``"local"`` or a cluster address) puts it on ``ray_workers`` Ray actors with ``ray_gpus_per_worker``
    GPUs each (:class:`~drama_data.backends.ray_pool.RayPoolBackend`); there ``data_parallel_size`` N above 1 is
    the number of actors (one engine each), as it is the number of replica processes without Ray."""
    if o.get("ray"):
        from drama_data.backends.ray_pool import BackendSpec, RayPoolBackend, check_reachable, require_ray

        require_ray()
        address = None if o["ray"] == "local" else o["ray"]
        if address:
            check_reachable(address)  # before a model is prepared; Ray itself retries for minutes
        if backend_name == "openai-batch":
            raise ConfigError("--ray does not go with --backend openai-batch (the provider runs the batch)")
        workers = ray_workers(o.get("ray_workers"), o.get("data_parallel_size"))
        rest = {k: v for k, v in o.items() if k not in RAY_OPTIONS and k != "data_parallel_size"}
        local = build_backend(backend_name, model, echo=echo, **rest)  # prepares the model here first
        remote = dict(rest)
        for budget in ("rpm", "tpm"):  # each worker has its own bucket: together they keep the budget
            if remote.get(budget):
                remote[budget] = remote[budget] / workers
        return RayPoolBackend(BackendSpec.for_backend(backend_name, model, **remote), local=local, address=address,
                              workers=workers, gpus_per_worker=o.get("ray_gpus_per_worker"),
                              cpus_per_worker=o.get("ray_cpus_per_worker") or 1.0)
    if backend_name == "vllm":
        opts = {k: o[k] for k in ("tensor_parallel_size", "data_parallel_size", "max_model_len", "dtype",
                                  "gpu_memory_utilization", "engine_kwargs", "trust_remote_code") if k in o}
        return make_backend("vllm", model, echo=echo, **opts)
    if backend_name == "openai-batch":
        opts = {k: o[k] for k in ("base_url", "api_key_env", "timeout", "max_retries", "poll_interval",
                                  "completion_window", "state_dir") if o.get(k) is not None}
        if "state_dir" not in opts and o.get("cache_dir"):  # batch ids live next to the request cache
            opts["state_dir"] = str(Path(o["cache_dir"]) / "batches")
    else:
        opts = {k: o[k] for k in ("base_url", "api_key_env", "concurrency", "timeout", "max_retries", "rpm", "tpm")
                if k in o}
    if o.get("prompt_format"):
        opts["prompt_format"] = o["prompt_format"]
    return make_backend(backend_name, model, echo=echo, **opts)


__all__ = ["Backend", "Completion", "Request", "Sampling", "build_backend", "make_backend", "resolve_model",
           "BACKENDS"]
