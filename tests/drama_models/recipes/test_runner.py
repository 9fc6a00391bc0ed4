"""The recipe runner's skip / resume / --from / --only logic, with fake stages that record their calls."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from drama_models.recipes.runner import StageFailed, run_recipe
from drama_models.recipes.schema import RecipeError, opt
from drama_models.recipes.stages.base import Stage

CALLS: list[str] = []
FAIL_AT: set[str] = set()


class Fake(Stage):
    """Reads the previous fake stage's output, writes ``out.txt``; interrupted when named in FAIL_AT."""

    kind = "fake"
    OPTIONS = {"value": opt(int, default=1, nullable=False), "seed": opt(int)}

    def upstream(self, ctx):
        return ctx.earlier(self, ("fake", "fakeresume"))[-1:]

    def run(self, ctx):
        CALLS.append(self.name)
        out = ctx.stage_dir(self.name)
        out.mkdir(parents=True, exist_ok=True)
        prev = self.upstream(ctx)
        text = (ctx.stage_dir(prev[0].name) / "out.txt").read_text() if prev else ""
        if self.name in FAIL_AT:
            (out / "partial.txt").write_text("half")
            raise KeyboardInterrupt
        (out / "out.txt").write_text(text + f"{self.name}={self.options['value']};")
        return {"value": self.options["value"]}


class FakeResume(Fake):
    """Continues in place after an interruption (as training does from its checkpoints)."""

    kind = "fakeresume"
    RESUMES_IN_PLACE = True

    def run(self, ctx):
        resumed = (ctx.stage_dir(self.name) / "partial.txt").is_file()
        counts = super().run(ctx)
        return {**counts, "resumed_from_partial": resumed}


TYPES = {"fake": Fake, "fakeresume": FakeResume}


def write_recipe(tmp_path: Path, b_value: int = 1, c_kind: str = "fake") -> Path:
    path = tmp_path / "flow.yaml"
    path.write_text(
        "name: flow\nstages:\n"
        "  a: {kind: fake}\n"
        f"  b: {{kind: fake, value: {b_value}}}\n"
        f"  c: {{kind: {c_kind}}}\n"
        "  d: {kind: fake, enabled: false}\n", encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _reset():
    CALLS.clear()
    FAIL_AT.clear()


def run(tmp_path, recipe, **kw):
    return run_recipe(recipe, output=str(tmp_path / "run"), stage_types=TYPES, echo=lambda m: None, **kw)


def statuses(manifest):
    return {s["name"]: s["status"] for s in manifest["stages"]}


def test_runs_in_order_then_skips_complete_stages(tmp_path):
    recipe = write_recipe(tmp_path)
    m = run(tmp_path, recipe)
    assert CALLS == ["a", "b", "c"]
    assert statuses(m) == {"a": "ran", "b": "ran", "c": "ran", "d": "disabled"}
    assert (tmp_path / "run" / "c" / "out.txt").read_text() == "a=1;b=1;c=1;"
    CALLS.clear()
    m = run(tmp_path, recipe)
    assert CALLS == []
    assert statuses(m)["c"] == "skipped"
    saved = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert saved["status"] == "complete" and saved["versions"]["python"]
    assert "| c | fake | skipped |" in (tmp_path / "run" / "summary.md").read_text()


def test_changed_option_reruns_that_stage_and_what_follows(tmp_path):
    run(tmp_path, write_recipe(tmp_path))
    CALLS.clear()
    run(tmp_path, write_recipe(tmp_path, b_value=2))
    assert CALLS == ["b", "c"]
    assert (tmp_path / "run" / "c" / "out.txt").read_text() == "a=1;b=2;c=1;"


def test_an_option_added_at_its_default_keeps_complete_stages(tmp_path, monkeypatch):
    """A newer toolkit with one more option (at its default) does not redo a finished run; setting it does."""
    run(tmp_path, write_recipe(tmp_path))
    CALLS.clear()
    monkeypatch.setattr(Fake, "OPTIONS", {**Fake.OPTIONS, "extra": opt(int, default=5, nullable=False)})
    run(tmp_path, write_recipe(tmp_path))
    assert CALLS == []
    recipe = write_recipe(tmp_path)
    recipe.write_text(recipe.read_text().replace("value: 1}", "value: 1, extra: 6}"), encoding="utf-8")
    run(tmp_path, recipe)
    assert CALLS == ["b", "c"]


def test_only_reruns_one_stage_and_later_runs_follow_it(tmp_path):
    recipe = write_recipe(tmp_path)
    run(tmp_path, recipe)
    CALLS.clear()
    m = run(tmp_path, recipe, only=["b"])
    assert CALLS == ["b"]
    assert statuses(m) == {"a": "not selected", "b": "ran", "c": "not selected", "d": "disabled"}
    CALLS.clear()
    run(tmp_path, recipe)
    assert CALLS == ["c"]  # b's new output invalidates c


def test_only_needs_complete_inputs(tmp_path):
    with pytest.raises(RecipeError, match="needs the output of 'b'"):
        run(tmp_path, write_recipe(tmp_path), only=["c"])


def test_from_reruns_the_stage_and_every_later_one(tmp_path):
    recipe = write_recipe(tmp_path)
    run(tmp_path, recipe)
    CALLS.clear()
    run(tmp_path, recipe, from_stage="b")
    assert CALLS == ["b", "c"]


def test_unknown_or_disabled_stage_names_are_errors(tmp_path):
    recipe = write_recipe(tmp_path)
    with pytest.raises(RecipeError, match="no stage named 'x'"):
        run(tmp_path, recipe, only=["x"])
    with pytest.raises(RecipeError, match="disabled"):
        run(tmp_path, recipe, from_stage="d")


def test_interrupted_run_resumes_without_redoing_complete_stages(tmp_path):
    recipe = write_recipe(tmp_path)
    FAIL_AT.add("b")
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, recipe)
    saved = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert saved["status"] == "interrupted" and statuses(saved)["b"] == "interrupted"
    assert json.loads((tmp_path / "run" / "state" / "b.json").read_text())["status"] == "running"
    FAIL_AT.clear()
    CALLS.clear()
    m = run(tmp_path, recipe)
    assert CALLS == ["b", "c"]
    assert statuses(m)["a"] == "skipped"
    assert not (tmp_path / "run" / "b" / "partial.txt").exists()  # a non-resumable stage restarts clean


def test_resumable_stage_continues_in_place(tmp_path):
    recipe = write_recipe(tmp_path, c_kind="fakeresume")
    FAIL_AT.add("c")
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, recipe)
    FAIL_AT.clear()
    m = run(tmp_path, recipe)
    entry = {s["name"]: s for s in m["stages"]}["c"]
    assert entry["resumed"] is True and entry["counts"]["resumed_from_partial"] is True


def test_dry_run_writes_nothing(tmp_path):
    plan = run(tmp_path, write_recipe(tmp_path), dry_run=True)
    assert [s["status"] for s in plan["stages"]] == ["run", "run", "run", "disabled"]
    assert not (tmp_path / "run").exists()
    run(tmp_path, write_recipe(tmp_path))
    plan = run(tmp_path, write_recipe(tmp_path, b_value=3), dry_run=True)
    assert [s["status"] for s in plan["stages"]] == ["complete: skip", "run", "run", "disabled"]


class Broken(Fake):
    """Raises an unexpected error half-way (a bug, a crashed library)."""

    kind = "broken"

    def run(self, ctx):
        CALLS.append(self.name)
        raise RuntimeError("CUDA error: out of\nmemory")


def test_a_failing_stage_gives_one_line_and_keeps_its_traceback(tmp_path):
    recipe = write_recipe(tmp_path, c_kind="broken")
    with pytest.raises(StageFailed) as err:
        run_recipe(recipe, output=str(tmp_path / "run"), stage_types={**TYPES, "broken": Broken},
                   echo=lambda m: None)
    message = str(err.value)
    log = tmp_path / "run" / "logs" / "c.error.txt"
    assert "\n" not in message
    assert message.startswith("stage 'c' failed after 0 s: RuntimeError: CUDA error: out of memory (traceback: ")
    assert str(log) in message and isinstance(err.value.__cause__, RuntimeError)
    assert "Traceback" in log.read_text() and "CUDA error" in log.read_text()
    saved = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert saved["status"] == "failed" and statuses(saved)["c"] == "failed"
    assert CALLS == ["a", "b", "c"]
    # mended, the same command resumes at the failed stage
    run_recipe(recipe, output=str(tmp_path / "run"), stage_types={**TYPES, "broken": Fake}, echo=lambda m: None)
    assert CALLS == ["a", "b", "c", "c"]


def test_the_cli_prints_a_failing_stage_as_one_line(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from drama_models.recipes import stage_registry
    from drama_models.recipes.cli import recipe_group

    monkeypatch.setattr(stage_registry, "STAGE_TYPES", {**TYPES, "broken": Broken})
    recipe = write_recipe(tmp_path, c_kind="broken")
    result = CliRunner().invoke(recipe_group, ["run", str(recipe), "--output", str(tmp_path / "run")])
    assert result.exit_code == 2, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("Error: stage 'c' failed after 0 s: RuntimeError: CUDA error: out of memory")
    assert "Traceback" not in result.output


def test_a_failing_stage_raises_its_own_error_under_debug_logging(tmp_path, caplog):
    caplog.set_level("DEBUG", logger="drama_models")  # what -vv sets
    with pytest.raises(RuntimeError, match="CUDA error"):
        run_recipe(write_recipe(tmp_path, c_kind="broken"), output=str(tmp_path / "run"),
                   stage_types={**TYPES, "broken": Broken}, echo=lambda m: None)
