"""The stage registry: the schema finds stage kinds there, without importing the stages (issue 27 item 1)."""
import subprocess
import sys

import pytest

from drama_models.recipes import stage_registry
from drama_models.recipes.schema import KINDS
from drama_models.recipes.stage_registry import register_stage


def test_the_built_in_stages_are_registered_in_flow_order():
    from drama_models.recipes.stages import STAGE_TYPES

    assert list(stage_registry.stage_types()) == list(KINDS)
    assert STAGE_TYPES is stage_registry.STAGE_TYPES  # the old name is the registry


def test_importing_only_the_schema_loads_a_recipe(tmp_path):
    """The schema no longer imports the stages; the package's import registers them, so this still works."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text("stages:\n  crop: {passages: 5}\n  mine: {k: 10}\n")
    code = ("from drama_models.recipes.schema import load_recipe; "
            f"print([s.kind for s in load_recipe({str(recipe)!r}).stages])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['crop', 'mine']"


def test_register_stage_adds_a_kind(monkeypatch):
    monkeypatch.setattr(stage_registry, "STAGE_TYPES", dict(stage_registry.STAGE_TYPES))

    @register_stage
    class Toy:
        kind = "toy"
        OPTIONS = {}

    assert stage_registry.stage_types()["toy"] is Toy
    with pytest.raises(TypeError, match="needs a `kind`"):
        register_stage(type("NoKind", (), {}))
