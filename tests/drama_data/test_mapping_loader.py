"""The generic mapping -> dataclass loader: unknown and missing keys, nested sections, lists and dicts of
dataclasses, null sections, the given keys."""
from dataclasses import dataclass, field
from typing import Any

import pytest

from drama_data.errors import ConfigError
from drama_data.mapping_loader import from_mapping, given


@dataclass
class Inner:
    a: int = 1
    b: Any = None


@dataclass
class Outer:
    name: str
    inner: Inner = field(default_factory=Inner)
    items: list[Inner] = field(default_factory=list)
    by_key: dict[str, Inner] = field(default_factory=dict)
    note: str | None = "x"


def test_reads_nested_sections_and_records_given_keys():
    o = from_mapping(Outer, {"name": "n", "inner": {"b": 2}, "items": [{"a": 3}], "by_key": {"k": None},
                             "note": None})
    assert o.inner == Inner(1, 2) and given(o.inner) == ("b",) and o.items == [Inner(3)]
    assert o.by_key == {"k": Inner()} and o.note is None and given(o) == ("name", "inner", "items", "by_key", "note")
    assert from_mapping(Outer, {"name": "n", "inner": None}).inner == Inner()  # null section: its defaults


@pytest.mark.parametrize("data, message", [
    ({"name": "n", "nme": 1}, "f.yaml: nme: unknown option (allowed: by_key, inner, items, name, note)"),
    ({}, "f.yaml: name: missing"),
    ({"name": "n", "items": [{"c": 1}]}, "f.yaml: items[0].c: unknown option (allowed: a, b)"),
    ({"name": "n", "by_key": {"k": {"z": 0}}}, "f.yaml: by_key.k.z: unknown option"),
    ({"name": "n", "items": {"a": 1}}, "f.yaml: items: expected a list"),
    ({"name": "n", "inner": 3}, "f.yaml: inner: expected a mapping"),
    ([1], "f.yaml: the top level: expected a mapping"),
])
def test_errors_name_the_source_and_the_key(data, message):
    with pytest.raises(ConfigError) as err:
        from_mapping(Outer, data, source="f.yaml")
    assert str(err.value).startswith(message)
