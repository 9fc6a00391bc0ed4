"""The ``openai`` backend's settings (``--backend openai``): any OpenAI-compatible server, online or through its
Batch API (``batch``; ``--backend openai-batch`` is the same backend with ``batch`` set).

In: the settings below (``drama-data generate`` flags, a recipe stage or Python). Out: :meth:`OpenAISettings.build`
-> an :class:`~drama_data.backends.openai.OpenAIBackend` (online: concurrent requests, retries, rate budgets) or an
:class:`~drama_data.backends.openai_batch.OpenAIBatchBackend` (``batch``: half price at the large providers,
answers within the completion window). Both share one request cache: a completion fetched one way is reused by
the other for the same model, prompt and sampling. The key is read from the environment variable named by
``api_key_env`` when a run starts; it never reaches disk or logs.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from drama_data.backends.settings import BackendSettings, setting
from drama_data.errors import ConfigError


@dataclass
class OpenAISettings(BackendSettings):
    """Settings of ``--backend openai`` (see the field help)."""

    name = "openai"
    summary = "an OpenAI-compatible server"
    aliases: ClassVar[dict[str, dict]] = {"openai-batch": {"batch": True}}

    base_url: str | None = setting(help="server URL, e.g. http://127.0.0.1:8000/v1.")
    api_key_env: str = setting("OPENAI_API_KEY", secret=True, help="env variable holding the key.")
    concurrency: int = setting(16, minimum=1, group="Scale", help="requests in flight.")
    timeout: float = setting(120.0, positive=True, help="seconds per request.")
    max_retries: int = setting(6, minimum=0, help="retries per request.")
    rpm: float | None = setting(positive=True, group="Scale", help="requests per minute at most (the server's "
                                                                  "x-ratelimit-* headers also apply).")
    tpm: float | None = setting(positive=True, group="Scale", help="tokens per minute at most (prompt + completion).")
    batch: bool = setting(False, help="send the requests through the server's Batch API (half price at the large "
                                      "providers, answers within 24 h; a rerun resumes the same batches; same as "
                                      "--backend openai-batch). The request cache is shared with online runs.")
    poll_interval: float = setting(30.0, positive=True, help="--batch: seconds between status checks at most.")
    completion_window: str = setting("24h", help="--batch: the batches' completion window.")
    state_dir: str | None = setting(cli=False, help="--batch: where batch ids are kept (default: "
                                                    "<cache>/batches).")

    def validate(self) -> None:
        super().validate()
        if not self.api_key_env or "=" in self.api_key_env:
            raise ConfigError(f"--api-key-env must be the name of an environment variable, got {self.api_key_env!r}")

    def supports_ray(self) -> bool:
        return not self.batch

    def build(self, model: str | None, *, echo: Callable[[str], None] | None = print,
              prompt_format: str | None = None, cache_dir: str | None = None, **extra: Any):
        """The online backend, or with ``batch`` the Batch API one (batch ids kept next to the request cache).
        ``extra``: other constructor arguments (``extra_body``, ``backoff``, ``max_batch_requests``, ...)."""
        label = "openai-batch" if self.batch else "openai"
        if not model:
            raise ConfigError(f"--backend {label} needs --model (the model name the server serves)")
        if prompt_format:
            extra["prompt_format"] = prompt_format
        common = {"base_url": self.base_url, "api_key_env": self.api_key_env, "timeout": self.timeout,
                  "max_retries": self.max_retries}
        if self.batch:
            from drama_data.backends.openai_batch import OpenAIBatchBackend

            state_dir = self.state_dir or (str(Path(cache_dir) / "batches") if cache_dir else None)
            return OpenAIBatchBackend(model, echo=echo, poll_interval=self.poll_interval,
                                      completion_window=self.completion_window, state_dir=state_dir,
                                      **common, **extra)
        from drama_data.backends.openai import OpenAIBackend

        return OpenAIBackend(model, concurrency=self.concurrency, rpm=self.rpm, tpm=self.tpm, **common, **extra)
