"""Read a mapping (a parsed YAML or JSON config) into a dataclass, driven by the dataclass's fields.

:func:`from_mapping` takes ``cls`` (a dataclass) and ``data`` (a mapping or ``None``). Each key must be a field
(else ``ConfigError``: ``"<source>: <where><key>: unknown option (allowed: ...)"``); a field without a default must
be given (``"<where><field>: missing"``); a field whose type is a dataclass, ``list[dataclass]`` or
``dict[str, dataclass]`` is read the same way, one level down (``rules.qgen.``, ``inputs[0].``); a
``dict``/``list`` field must hold a mapping/list. Other values are kept as written: their ranges and kinds are the
dataclass's own ``validate``'s business. ``None`` for a nested section means "not given" (its defaults).
Out: an instance of ``cls``; the keys given are in :func:`given`.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any

from drama_data.errors import ConfigError

_GIVEN = "__given_keys__"


def given(obj: Any) -> tuple[str, ...]:
    """The keys the mapping that built ``obj`` had (in its order)."""
    return getattr(obj, _GIVEN, ())


def given_values(obj: Any) -> dict[str, Any]:
    """The keys the mapping that built ``obj`` had, with their values."""
    return {k: getattr(obj, k) for k in given(obj)}


def _fail(source: str, message: str) -> ConfigError:
    return ConfigError(f"{source}: {message}" if source else message)


def _kind(tp: Any) -> tuple[str, Any]:
    """``("dataclass", cls)``, ``("list", item type)``, ``("dict", value type)`` or ``("value", None)``."""
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return _kind(args[0]) if len(args) == 1 else ("value", None)
    if dataclasses.is_dataclass(tp):
        return "dataclass", tp
    if origin is list or tp is list:
        return "list", args[0] if args else Any
    if origin is dict or tp is dict:
        return "dict", args[1] if len(args) == 2 else Any
    return "value", None


def _read(tp: Any, value: Any, where: str, source: str) -> Any:
    kind, inner = _kind(tp)
    if kind == "dataclass":
        return value if isinstance(value, inner) else from_mapping(inner, value, where=where + ".", source=source)
    if kind == "list":
        if not isinstance(value, list):
            raise _fail(source, f"{where}: expected a list")
        return [_read(inner, v, f"{where}[{i}]", source) for i, v in enumerate(value)]
    if kind == "dict":
        if not isinstance(value, Mapping):
            raise _fail(source, f"{where}: expected a mapping")
        return {k: _read(inner, v, f"{where}.{k}", source) for k, v in value.items()}
    return value


def from_mapping(cls: type, data: Mapping[str, Any] | None, *, where: str = "", source: str = "") -> Any:
    """An instance of dataclass ``cls`` from ``data`` (see the module docstring). ``where``: the key path so far
    (``"rules.qgen."``), ``source``: the file (or flag) named first in every error."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise _fail(source, f"{where.rstrip('.') or 'the top level'}: expected a mapping")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in data if k not in fields]
    if unknown:
        raise _fail(source, f"{where}{unknown[0]}: unknown option (allowed: {', '.join(sorted(fields))})")
    values = {}
    for name, f in fields.items():
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise _fail(source, f"{where}{name}: missing")
        elif data[name] is None:
            if _kind(hints[name])[0] == "value":  # null for a nested section: not given (its defaults)
                values[name] = None
        else:
            values[name] = _read(hints[name], data[name], where + name, source)
    obj = cls(**values)
    object.__setattr__(obj, _GIVEN, tuple(k for k in data))
    return obj
