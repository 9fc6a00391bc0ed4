"""Backends by name: ``vllm`` (in-process engine), ``openai`` (any OpenAI-compatible server; with ``batch``, or
as ``openai-batch``, the same server's Batch API: half price, answers within 24 h), and any backend another
package registers (:mod:`drama_data.backends.registry`; each declares its settings once:
:mod:`drama_data.backends.settings`).

``make_backend(name, model, **options)`` builds one (``build_backend`` from CLI-style options, using
the settings that backend declares; with ``ray`` set, the backend runs on a pool of Ray actors:
:mod:`drama_data.backends.ray_pool`; vllm with ``data_parallel_size`` above 1 without Ray, on replica processes:
:mod:`drama_data.backends.replicas`); ``resolve_model(model)`` turns the embedded default
(``None``) or a GGUF file into a folder vLLM can load, preparing it once in the user cache.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from drama_data.backends.base import Backend, Completion, Request, Sampling
from drama_data.backends.registry import register_backend, registry
from drama_data.backends.settings import BackendSettings, setting
from drama_data.errors import ConfigError


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
    """Build backend ``name`` (a ``--backend`` value, see :mod:`drama_data.backends.registry`) for ``model``.

    ``options``: the backend's settings (its settings class's fields) and any other argument of its constructor
    (unknown ones raise); ``prompt_format`` and ``cache_dir`` are handed to its ``build``. For ``vllm``,
    ``data_parallel_size=N`` above 1 gives N engine replicas, one per process, each with ``tensor_parallel_size``
    GPUs of its own (:class:`~drama_data.backends.replicas.ReplicaPoolBackend`)."""
    import dataclasses

    cls, preset = registry().settings_for(name)
    own = {f.name for f in dataclasses.fields(cls)}
    settings = cls.from_options({k: v for k, v in options.items() if k in own}, preset)
    extra = {k: v for k, v in options.items() if k not in own}
    backend = settings.build(model, echo=echo, **extra)
    backend.settings = settings
    return backend


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
    """A backend from CLI-style options ``o`` (the run's options: only the settings that backend declares are
    used; ``prompt_format`` and ``cache_dir`` are the run's).

    ``ray`` (``"local"`` or a cluster address) puts it on ``ray_workers`` Ray actors with ``ray_gpus_per_worker``
    GPUs each (:class:`~drama_data.backends.ray_pool.RayPoolBackend`); there ``data_parallel_size`` N above 1 is
    the number of actors (one engine each), as it is the number of replica processes without Ray."""
    if "engine_kwargs" in o:  # the old name of engine_args (Python callers)
        import warnings

        warnings.warn("build_backend(engine_kwargs=...) is now engine_args=", DeprecationWarning, stacklevel=2)
        o = {**o, "engine_args": {**(o.pop("engine_kwargs") or {}), **(o.get("engine_args") or {})}}
    if o.get("ray"):
        from drama_data.backends.ray_pool import (
            BackendSpec,
            RayPoolBackend,
            check_reachable,
            require_ray,
        )

        require_ray()
        address = None if o["ray"] == "local" else o["ray"]
        if address:
            check_reachable(address)  # before a model is prepared; Ray itself retries for minutes
        if not registry().settings(backend_name, o).supports_ray():
            raise ConfigError(f"--ray does not go with --backend {backend_name} (the provider runs the batch)")
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
    settings = registry().settings(backend_name, o)
    backend = settings.build(model, echo=echo, prompt_format=o.get("prompt_format"), cache_dir=o.get("cache_dir"))
    backend.settings = settings  # what it was built with (the dry-run plan shows those that differ from defaults)
    return backend


def __getattr__(name: str):
    if name == "BACKENDS":  # the old constant: every --backend value
        return registry().names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def backend_names() -> tuple[str, ...]:
    """Every ``--backend`` value (built-in and registered), aliases included."""
    return registry().names()


__all__ = [
    "BACKENDS",
    "Backend",
    "BackendSettings",
    "Completion",
    "Request",
    "Sampling",
    "backend_names",
    "build_backend",
    "make_backend",
    "register_backend",
    "registry",
    "resolve_model",
    "setting",
]
