"""Backends by name: the ``--backend`` values and the settings class each one declares.

A backend is one settings class ([`BackendSettings`][drama_data.backends.settings.BackendSettings]: its name, its
fields made with [`setting`][drama_data.backends.settings.setting], its ``build``) plus one registration. The
``drama-data generate`` flags, the recipe keys, their validation and ``--help`` are derived from the registered
classes, so a new backend needs no change here. The built-in ones (``vllm``, ``openai``; ``openai-batch`` is an
alias of ``openai`` with ``batch`` set) are listed in ``BUILT_IN``.

How to add a backend, from another package:

```python
from dataclasses import dataclass

from drama_data.backends.settings import BackendSettings, setting


@dataclass
class ToySettings(BackendSettings):
    name = "toy"  # the --backend value
    summary = "a toy server"  # its phrase in --help
    toy_url: str | None = setting(None, help="toy: server URL.")  # becomes --toy-url and the recipe key toy_url

    def build(self, model, *, echo=print, prompt_format=None, cache_dir=None, **extra):
        return ToyBackend(self.toy_url, model)  # a drama_data.backends.base.Backend
```

then name the class in the ``drama_data.backends`` entry-point group of the package's ``pyproject.toml``:

```toml
[project.entry-points."drama_data.backends"]
toy = "my_package.toy:ToySettings"
```

Entry points are read once, on the first lookup; or register from Python with
[`register_backend`][drama_data.backends.registry.register_backend] (a class decorator). A plug-in that fails to
load is logged and kept in `BackendRegistry.failures`: asking for it by name gives one line saying why.
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
    """The registered backends, by ``--backend`` value (see the module docstring for adding one).

    Use the process-wide one, [`registry()`][drama_data.backends.registry.registry].

    Attributes:
        kinds: Settings class by backend name, in registration order (built-ins first).
        failures: Entry-point name -> why it did not load.
    """

    def __init__(self) -> None:
        self.kinds: dict[str, type[BackendSettings]] = {}
        self.failures: dict[str, str] = {}  # entry-point name -> why it did not load
        self._loaded = False

    def add(self, settings: type[BackendSettings]) -> type[BackendSettings]:
        """Register a backend's settings class under its ``name`` and aliases.

        Args:
            settings: A [`BackendSettings`][drama_data.backends.settings.BackendSettings] subclass with a ``name``.

        Returns:
            ``settings`` itself, so that this works as a class decorator.

        Raises:
            ValueError: Not a named ``BackendSettings`` subclass, or a name or alias another class holds.
        """
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
        """Every ``--backend`` value.

        Returns:
            Each backend's name followed by its aliases, in registration order.
        """
        self.load()
        return tuple(n for s in self.kinds.values() for n in (s.name, *s.aliases))

    def classes(self) -> list[type[BackendSettings]]:
        self.load()
        return list(self.kinds.values())

    def settings_for(self, name: str) -> tuple[type[BackendSettings], dict]:
        """Look up a ``--backend`` value.

        Args:
            name: A backend name or alias.

        Returns:
            Its settings class, and the settings its alias presets (empty for a name).

        Raises:
            ConfigError: An unknown name, or a plug-in that did not load (one line saying why).
        """
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
        """The validated settings of one backend.

        Args:
            name: A ``--backend`` value.
            options: CLI-style or recipe options; other backends' keys are ignored.

        Returns:
            The backend's settings object.

        Raises:
            ConfigError: An unknown backend, or a bad value (naming the flag).
        """
        cls, preset = self.settings_for(name)
        return cls.from_options(options, preset)

    def infos(self) -> list[SettingInfo]:
        """Every setting of every backend, one per name: what the CLI and the recipes derive their options from.

        Returns:
            One `SettingInfo` per name, in registration then declaration order; a name two backends declare lists
                both in its ``backends``.

        Raises:
            ValueError: Two backends declare one name with different types, defaults or flags.
        """
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
        """The ``--backend`` help text: each backend's name and summary, each alias and what it presets."""
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
    """The process-wide [`BackendRegistry`][drama_data.backends.registry.BackendRegistry].

    Returns:
        The registry; the built-ins and the entry points are read on its first lookup.
    """
    return _REGISTRY


def register_backend(settings: type[BackendSettings]) -> type[BackendSettings]:
    """Register a backend's settings class from Python; usable as a class decorator.

    Args:
        settings: A [`BackendSettings`][drama_data.backends.settings.BackendSettings] subclass with a ``name``.

    Returns:
        ``settings`` itself.

    Raises:
        ValueError: Not a named ``BackendSettings`` subclass, or a name another class holds.
    """
    return registry().add(settings)
