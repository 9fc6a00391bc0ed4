"""The ``vllm`` backend's settings (``--backend vllm``): an in-process vLLM engine, or N engine replicas.

In: the settings below (from ``drama-data generate`` flags, a recipe stage or Python). Out:
:meth:`VLLMSettings.build` -> a :class:`~drama_data.backends.vllm.VLLMBackend`, or a
:class:`~drama_data.backends.replicas.ReplicaPoolBackend` of ``data_parallel_size`` engines. Importing this
module loads no engine (vLLM is imported when the backend starts).
"""
from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from drama_data.backends.settings import BackendSettings, setting


@dataclass
class VLLMSettings(BackendSettings):
    """Settings of ``--backend vllm`` (see the field help)."""

    name = "vllm"
    summary = "in-process engine"
    needs_model = False  # default: the embedded Gemma-3-270M

    tensor_parallel_size: int = setting(1, help="GPUs per engine (model replica).", group="Scale", minimum=1)
    data_parallel_size: int = setting(
        1, group="Scale", minimum=1,
        help="engine replicas, each in its own process with --tensor-parallel-size GPUs of its own "
             "(CUDA_VISIBLE_DEVICES; N x TP must not exceed the visible GPUs; on CPU each gets its share of "
             "the cores and memory); a window's requests are split over them. With --ray: Ray workers.")
    max_model_len: int | None = setting(help="context length.", positive=True)
    dtype: str | None = setting(help="auto, bfloat16, float16, float32 (default: auto on CUDA; on CPU bfloat16 "
                                     "where the CPU has native bf16, else float32).")
    gpu_memory_utilization: float | None = setting(help="memory fraction for weights + KV cache.", positive=True)
    engine_args: dict = setting({}, flag="--engine-arg", metavar="KEY=VALUE",  # noqa: RUF009 (copied per instance)
                                help="any other vllm.LLM argument, KEY=VALUE (VALUE as JSON).")
    trust_remote_code: bool = setting(False, help="allow model repositories' own code (opt-in).")

    def gpus(self) -> int:
        return self.tensor_parallel_size * self.data_parallel_size

    def build(self, model: str | None, *, echo: Callable[[str], None] | None = print,
              prompt_format: str | None = None, cache_dir: str | None = None, **extra: Any):
        """One engine, or ``data_parallel_size`` replica processes (one engine each). ``extra``: other
        :class:`~drama_data.backends.vllm.VLLMBackend` arguments (``model_revision``, ``enforce_eager``, ...)."""
        from drama_data.backends import resolve_model
        from drama_data.backends.vllm import VLLMBackend
        from drama_data.embedded import converted_format

        path, label = resolve_model(model, echo=echo)
        converted = converted_format(path)
        if converted is not None:  # a GGUF converted here: conversions of an older format differ
            extra.setdefault("model_revision", f"format-{converted}")
        engine_args = dict(self.engine_args)
        if "engine_kwargs" in extra:  # the old name
            warnings.warn("engine_kwargs is now engine_args", DeprecationWarning, stacklevel=3)
            engine_args = {**(extra.pop("engine_kwargs") or {}), **engine_args}
        options = {"tensor_parallel_size": self.tensor_parallel_size, "trust_remote_code": self.trust_remote_code,
                   **{k: getattr(self, k) for k in ("max_model_len", "dtype", "gpu_memory_utilization")
                      if getattr(self, k) is not None},
                   **({"engine_args": engine_args} if engine_args else {}), **extra}
        local = VLLMBackend(path, model_label=label, **options)
        if self.data_parallel_size == 1:
            return local
        from drama_data.backends.ray_pool import BackendSpec
        from drama_data.backends.replicas import ReplicaPoolBackend

        return ReplicaPoolBackend(BackendSpec(VLLMBackend, (path,), {"model_label": label, **options}),
                                  self.data_parallel_size, devices_per_replica=self.tensor_parallel_size,
                                  local=local)
