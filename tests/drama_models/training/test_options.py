"""One reading of TrainConfig's fields for the `train` command's flags and the recipe train stage's keys (issue 27
item 3: before, drama_models/cli.py and recipes/stages/train.py each parsed the type hints their own way)."""
from __future__ import annotations

from dataclasses import fields

from drama_models.training.config import TrainConfig
from drama_models.training.options import train_options


def test_kinds_from_the_type_hints():
    kinds = {o.name: (o.kind, o.optional) for o in train_options()}
    assert [o.name for o in train_options()] == [f.name for f in fields(TrainConfig)]
    assert kinds["datasets"] == ("datasets", False)
    assert kinds["matryoshka_dims"] == ("list", True) and kinds["matryoshka_weights"] == ("list", True)
    assert kinds["normalize"] == ("bool", True) and kinds["fsdp"] == ("bool", False)
    assert kinds["batch_size"] == ("int", False) and kinds["gradcache_chunk_size"] == ("int", True)
    assert kinds["learning_rate"] == ("float", False) and kinds["max_grad_norm"] == ("float", True)
    assert kinds["pooling"] == ("str", True) and kinds["bf16"] == ("str", False)
    assert {o.name: o.default for o in train_options()}["max_steps"] == TrainConfig().max_steps
    assert "output_dir" not in {o.name for o in train_options(exclude=("output_dir",))}
    assert [o.name for o in train_options() if o.section == "Other options"] == []  # a new field needs a section


def test_the_train_command_and_the_recipe_stage_offer_the_same_options():
    from drama_models.cli import train_command
    from drama_models.recipes.stages.train import TrainStage

    flags = {p.name: p for p in train_command.params}
    for o in train_options():
        param = flags[o.name]
        if o.kind == "datasets":
            assert param.opts == ["--dataset"] and param.multiple
        elif o.name != "output_dir":  # (the one-command-line-language work may name it --output)
            assert param.opts[0] == o.flag, o.name
        if o.kind == "bool":
            assert param.secondary_opts == [f"--no-{o.flag[2:]}"]
        if o.kind in ("int", "float"):
            assert o.kind in param.type.name and (("none" in param.type.name) == o.optional), o.name
        if o.name != "output_dir":
            key = TrainStage.OPTIONS[o.name]
            assert key.help == o.help or o.kind == "datasets"
            if o.kind != "datasets":
                assert key.types == o.yaml_types, o.name
    assert set(TrainStage.OPTIONS) - {o.name for o in train_options()} == {"nproc_per_node", "nnodes"}
