"""Backends by name: the ``--backend`` values and the settings class each one declares.

A backend is one settings class (:class:`~drama_data.backends.settings.BackendSettings`: its name, its fields, its
``build``) plus one registration. The built-in ones (``vllm``, ``openai``; ``openai-batch`` is an alias of
``openai`` with ``batch`` set) are listed in :data:`BUILT_IN`; another package adds one by naming its settings
class in the ``drama_data.backends`` entry-point group (``pyproject.toml``:
``[project.entry-points."drama_data.backends"]``, ``toy = "my_package.toy:ToySettings"``), read once, on the first
lookup, as :mod:`drama_data.mining.encoders` reads its plug-ins; or :meth:`BackendRegistry.add` from Python. A
plug-in that fails to load is logged and kept in :attr:`BackendRegistry.failures`: asking for it by name gives one
line saying why.

Out: :func:`registry` (the process-wide registry), :meth:`BackendRegistry.settings_for` (``--backend`` value ->
settings class and the alias's preset), :meth:`BackendRegistry.infos` (every setting of every backend, merged by
name: what the CLI and the recipes derive their options from).
"""
from __future__ import annotations

import importlib
import logging
from dataclasses import replace
from importlib.metadata import entry_points

from drama_data.backends.settings import BackendSettings, SettingInfo
from drama_data.errors import ConfigError

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "drama_data.backends"
#: The built-in backends' settings classes, ``module:Class`` (in ``--backend`` order).
BUILT_IN = ("drama_data.backends.vllm_settings:VLLMSettings", "drama_data.backends.openai_settings:OpenAISettings")


def _load(ref: str) -> type[BackendSettings]:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


class BackendRegistry:
    """The registered backends (see the module docstring)."""

    def __init__(self) -> None:
        self.kinds: dict[str, type[BackendSettings]] = {}
        self.failures: dict[str, str] = {}  # entry-point name -> why it did not load
        self._loaded = False

    def add(self, settings: type[BackendSettings]) -> type[BackendSettings]:
        """Register ``settings`` (a :class:`BackendSettings` subclass) under its ``name`` and aliases; returns it
        (so it also works as a class decorator)."""
        if not (isinstance(settings, type) and issubclass(settings, BackendSettings)) or not settings.name:
            raise ValueError(f"{settings!r}: a backend registers a BackendSettings subclass with a name")
        for name in (settings.name, *settings.aliases):
            taken = self.kinds.get(name)
            if taken is not None and taken is not settings:
                raise ValueError(f"backend {name!r} is registered already ({taken.__module__}.{taken.__name__})")
        self.kinds[settings.name] = settings
        return settings

    def load(self) -> None:
        """Register the built-in backends, then each ``drama_data.backends`` entry point's class, once."""
        if self._loaded:
            return
        self._loaded = True
        for ref in BUILT_IN:
            self.add(_load(ref))
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            try:
                self.add(ep.load())
            except Exception as exc:  # noqa: BLE001 (a broken plug-in must not break the built-in backends)
                self.failures[ep.name] = f"{ep.value}: {type(exc).__name__}: {exc}"
                log.warning("backend plug-in %s (%s) did not load: %s", ep.name, ep.value, exc)

    def names(self) -> tuple[str, ...]:
        """Every ``--backend`` value: each backend's name followed by its aliases, in registration order."""
        self.load()
        return tuple(n for s in self.kinds.values() for n in (s.name, *s.aliases))

    def classes(self) -> list[type[BackendSettings]]:
        self.load()
        return list(self.kinds.values())

    def settings_for(self, name: str) -> tuple[type[BackendSettings], dict]:
        """``--backend`` value -> (its settings class, the settings its alias presets); unknown: one line."""
        self.load()
        for settings in self.kinds.values():
            if name == settings.name:
                return settings, {}
            if name in settings.aliases:
                return settings, dict(settings.aliases[name])
        if name in self.failures:
            raise ConfigError(f"--backend {name}: its plug-in did not load ({self.failures[name]})")
        raise ConfigError(f"--backend {name!r}: unknown (choose from {', '.join(self.names())})")

    def settings(self, name: str, options: dict) -> BackendSettings:
        """The validated settings of backend ``name`` from CLI-style or recipe ``options`` (other backends'
        keys are ignored)."""
        cls, preset = self.settings_for(name)
        return cls.from_options(options, preset)

    def infos(self) -> list[SettingInfo]:
        """Every setting of every backend, one per name (a name two backends declare must mean the same: same
        type and default; its ``backends`` lists both), in registration then declaration order."""
        merged: dict[str, SettingInfo] = {}
        for cls in self.classes():
            for info in cls.infos():
                seen = merged.get(info.name)
                if seen is None:
                    merged[info.name] = info
                elif (seen.type, seen.default, seen.flag) != (info.type, info.default, info.flag):
                    raise ValueError(f"backend setting {info.name!r}: {cls.name} declares it differently from "
                                     f"{', '.join(seen.backends)}")
                else:
                    merged[info.name] = replace(seen, backends=seen.backends + info.backends)
        return list(merged.values())

    def help(self) -> str:
        """The ``--backend`` help: each backend's name and summary, each alias and what it presets."""
        parts = []
        for s in self.classes():
            parts.append(f"{s.name}: {s.summary}")
            for alias, preset in s.aliases.items():
                shown = ", ".join(f"--{k.replace('_', '-')}" if v is True else f"--{k.replace('_', '-')} {v}"
                                  for k, v in preset.items())
                parts.append(f"{alias}: {s.name} with {shown}")
        return "; ".join(parts) + "."


_REGISTRY = BackendRegistry()


def registry() -> BackendRegistry:
    """The process-wide registry (built-ins and entry points are read on its first lookup)."""
    return _REGISTRY


def register_backend(settings: type[BackendSettings]) -> type[BackendSettings]:
    """Register a backend's settings class from Python (a class decorator); see the module docstring."""
    return registry().add(settings)
