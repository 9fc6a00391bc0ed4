"""A backend's settings class: its fields as command-line/recipe settings (type, default, flag, help), checked in
one place, and ``--engine-arg KEY=VALUE`` pairs read both ways."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from drama_data.backends.settings import (
    BackendSettings,
    key_value_flags,
    parse_key_values,
    setting,
)
from drama_data.backends.vllm_settings import VLLMSettings
from drama_data.errors import ConfigError


@dataclass
class Demo(BackendSettings):
    name = "demo"

    size: int | None = setting(help="a size.", positive=True)
    mode: str = setting("fast", choices=("fast", "slow"), help="how.")
    extra: dict = setting({}, flag="--extra-arg")  # noqa: RUF009
    rate: float = setting(1.0, minimum=0)


def test_infos_describe_each_field():
    infos = {i.name: i for i in Demo.infos()}
    assert (infos["size"].type, infos["size"].default, infos["size"].nullable, infos["size"].flag) == \
        (int, None, True, "--size")
    assert infos["mode"].choices == ("fast", "slow") and infos["extra"].flag == "--extra-arg"
    assert infos["extra"].type is dict and Demo().extra is not Demo().extra  # a fresh dict per instance
    assert infos["rate"].type is float and infos["mode"].group == "Model/backend"


@pytest.mark.parametrize("values, message", [
    ({"size": 0}, "--size must be positive, got 0"),
    ({"mode": "medium"}, "--mode medium: choose from fast, slow"),
    ({"rate": -1.0}, "--rate must be at least 0, got -1.0"),
    ({"rate": "x"}, "--rate: expected float, got 'x'"),
    ({"size": True}, "--size: expected int, got True"),
])
def test_validate_names_the_flag(values, message):
    with pytest.raises(ConfigError) as err:
        Demo.from_options(values)
    assert str(err.value) == message


def test_from_options_ignores_other_backends_keys_and_none():
    d = Demo.from_options({"size": 3, "concurrency": 9, "mode": None, "rate": 2})
    assert (d.size, d.mode, d.rate) == (3, "fast", 2) and d.changed() == {"size": 3, "rate": 2}


def test_engine_args_read_and_written_as_key_value_pairs():
    values = parse_key_values(("max_num_seqs=8", "enforce_eager=true", "name=abc", "json={\"a\": [1]}"))
    assert values == {"max_num_seqs": 8, "enforce_eager": True, "name": "abc", "json": {"a": [1]}}
    assert parse_key_values(key_value_flags(values)[1::2]) == values
    with pytest.raises(ConfigError, match="--engine-arg 'oops': expected KEY=VALUE"):
        parse_key_values(("oops",))


def test_vllm_settings_count_gpus_and_check_replicas():
    assert VLLMSettings(tensor_parallel_size=4, data_parallel_size=2).gpus() == 8
    with pytest.raises(ConfigError, match="--data-parallel-size must be at least 1, got 0"):
        VLLMSettings.from_options({"data_parallel_size": 0})
