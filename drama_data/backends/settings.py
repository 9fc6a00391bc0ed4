"""A backend's settings, declared once: a dataclass per backend whose fields carry their help, group, choices,
command-line flag and whether they name a secret. The ``drama-data generate`` flags, the recipe keys, their
validation, the defaults shown in ``--help`` and the dry-run plan are all derived from these classes.

In: a subclass of `BackendSettings` (fields made with `setting`). Out: `SettingInfo` per
field (`BackendSettings.infos`), settings built from CLI-style or recipe options
(`BackendSettings.from_options`), validated in one place (`BackendSettings.validate`), and the
backend (`BackendSettings.build`). The built-in backends' classes are in
`drama_data.backends.vllm_settings` and `drama_data.backends.openai_settings`; the registry of names is
`drama_data.backends.registry` (with an example of adding a backend).
"""
from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from drama_data.errors import ConfigError

_MISSING = dataclasses.MISSING


def setting(default: Any = None, *, help: str = "", group: str = "Model/backend", choices: tuple | None = None,
            flag: str | None = None, secret: bool = False, metavar: str | None = None,
            minimum: float | None = None, positive: bool = False, cli: bool = True) -> Any:
    """Declare one field of a backend's settings class, with what the CLI and the recipes need to know of it.

    Args:
        default: The default; a dict or list default is copied per instance.
        help: The ``--help`` line.
        group: The ``--help`` section (``drama_data.cli.options.GROUP_ORDER`` names them).
        choices: The allowed values, if limited.
        flag: The command-line flag, when it is not ``--NAME`` (underscores as dashes).
        secret: The value names where a secret is kept (e.g. an environment variable); the secret itself never
            reaches disk or logs.
        metavar: The value's name in ``--help``.
        minimum: The lowest allowed value (checked by `BackendSettings.validate`).
        positive: The value must be above 0.
        cli: ``False``: a Python and recipe setting only, with no flag.

    Returns:
        A ``dataclasses.field`` carrying these as metadata.
    """
    metadata = {"help": help, "group": group, "choices": choices, "flag": flag, "secret": secret,
                "metavar": metavar, "minimum": minimum, "positive": positive, "cli": cli}
    if isinstance(default, (dict, list)):
        return dataclasses.field(default_factory=lambda d=default: type(d)(d), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class SettingInfo:
    """One setting as the command line and the recipes see it."""

    name: str
    type: type  # int, float, str, bool or dict (``X | None`` -> X)
    default: Any
    help: str
    group: str
    choices: tuple | None
    flag: str
    secret: bool
    metavar: str | None
    minimum: float | None
    positive: bool
    cli: bool
    backends: tuple[str, ...] = ()

    @property
    def nullable(self) -> bool:
        return self.default is None


def _base_type(hint: Any) -> type:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    origin = typing.get_origin(hint)
    if args and origin is not dict:
        return _base_type(args[0])
    return dict if origin is dict else hint


@dataclass
class BackendSettings:
    """Base class of a backend's settings: subclass it (a dataclass) to add a backend.

    The fields, made with [`setting`][drama_data.backends.settings.setting], become the ``drama-data generate``
    flags and recipe keys; see [`drama_data.backends.registry`][drama_data.backends.registry] for an example and
    the registration.

    Attributes:
        name: The ``--backend`` value (class attribute; required).
        summary: One phrase for ``--help`` (class attribute).
        aliases: Another ``--backend`` value -> the settings it presets, e.g. ``{"openai-batch": {"batch": True}}``
            (class attribute).
        needs_model: Whether the backend needs ``--model`` (class attribute).
    """

    name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    aliases: ClassVar[dict[str, dict]] = {}
    needs_model: ClassVar[bool] = True

    @classmethod
    def infos(cls) -> list[SettingInfo]:
        """Every field as a `SettingInfo`, in declaration order."""
        hints = typing.get_type_hints(cls)
        out = []
        for f in dataclasses.fields(cls):
            m = f.metadata
            default = f.default if f.default is not _MISSING else f.default_factory()  # type: ignore[misc]
            out.append(SettingInfo(
                name=f.name, type=_base_type(hints[f.name]), default=default, help=m.get("help", ""),
                group=m.get("group", "Model/backend"), choices=m.get("choices"),
                flag=m.get("flag") or "--" + f.name.replace("_", "-"), secret=m.get("secret", False),
                metavar=m.get("metavar"), minimum=m.get("minimum"), positive=m.get("positive", False),
                cli=m.get("cli", True), backends=(cls.name,)))
        return out

    @classmethod
    def from_options(cls, options: dict[str, Any], preset: dict | None = None) -> BackendSettings:
        """Settings from CLI-style or recipe options, validated.

        Args:
            options: Option -> value; this backend's own keys are read (``None`` means the default), other keys
                are left to other backends.
            preset: What an alias sets, applied over ``options``.

        Returns:
            The settings.

        Raises:
            ConfigError: A bad value, naming the flag.
        """
        own = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in options.items() if k in own and v is not None}
        values.update({k: v for k, v in (preset or {}).items() if k in own})  # an alias means its preset
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Check every value against its field (type, choices, bounds).

        Subclasses add their cross-field checks after calling this.

        Raises:
            ConfigError: A bad value, one line naming the flag.
        """
        for info in self.infos():
            value = getattr(self, info.name)
            if value is None:
                continue
            flag = info.flag
            if info.type is bool:
                ok = isinstance(value, bool)
            elif info.type is float:
                ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            else:
                ok = isinstance(value, info.type) and not (isinstance(value, bool) and info.type is not bool)
            if not ok:
                raise ConfigError(f"{flag}: expected {info.type.__name__}, got {value!r}")
            if info.choices and value not in info.choices:
                raise ConfigError(f"{flag} {value}: choose from {', '.join(map(str, info.choices))}")
            if info.positive and not value > 0:
                raise ConfigError(f"{flag} must be positive, got {value}")
            if info.minimum is not None and value < info.minimum:
                raise ConfigError(f"{flag} must be at least {info.minimum:g}, got {value}")

    def changed(self) -> dict[str, Any]:
        """The settings that differ from their defaults (for command lines and plans)."""
        return {i.name: getattr(self, i.name) for i in self.infos() if getattr(self, i.name) != i.default}

    def supports_ray(self) -> bool:
        """Whether ``--ray`` may run this backend on Ray actors."""
        return True

    def gpus(self) -> int:
        """GPUs one run of this backend takes on this machine (recipe plans); 0 for a hosted API."""
        return 0

    def build(self, model: str | None, *, echo: Callable[[str], None] | None = print,
              prompt_format: str | None = None, cache_dir: str | None = None, **extra: Any):
        """Build the backend; every subclass implements this.

        Args:
            model: The model (HF id, folder, server-side name); ``None`` for the backend's default.
            echo: Where progress lines go; ``None`` for silence.
            prompt_format: The run's ``chat`` or ``completion`` (``None``: chat where the model has a template).
            cache_dir: The run's request cache folder.
            **extra: Constructor arguments no setting declares (Python callers only).

        Returns:
            (Backend): A `drama_data.backends.base.Backend`: a list of requests in, one completion per request
                out.
        """
        raise NotImplementedError


def parse_key_values(pairs, flag: str = "--engine-arg") -> dict:
    """``("KEY=VALUE", ...)`` -> ``{KEY: VALUE}``, VALUE read as JSON where it is JSON, else kept as text."""
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"{flag} {pair!r}: expected KEY=VALUE")
        key, value = pair.split("=", 1)
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def key_value_flags(values: dict, flag: str = "--engine-arg") -> list[str]:
    """The inverse of `parse_key_values`: ``[flag, "KEY=JSON", ...]``."""
    out: list[str] = []
    for key, value in values.items():
        out += [flag, f"{key}={json.dumps(value)}"]
    return out
