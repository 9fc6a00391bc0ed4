"""Adding a backend is one file plus one registration (issue 27): a toy backend written as one module and named
in the ``drama_data.backends`` entry-point group shows up in ``drama-data generate --help`` with its own option,
is accepted by recipe validation (its option checked there too) and runs a generate; and the registry's rules."""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import drama_data
from drama_data.backends.registry import BackendRegistry, registry
from drama_data.backends.settings import BackendSettings, setting
from drama_data.errors import ConfigError

SAMPLE = Path(drama_data.__file__).parent / "samples" / "scifact-sample"

#: The whole toy backend: its settings (one option of its own) and the backend, in one file.
TOY = r'''
import re
from dataclasses import dataclass

from drama_data.backends import Backend, BackendSettings, Completion, setting


@dataclass
class ToySettings(BackendSettings):
    name = "toy"
    summary = "answers every prompt with a fixed query"

    greeting: str = setting("hello", help="the word every query starts with.")
    repeat: int = setting(1, minimum=1, help="times the passage's first word is repeated.")

    def build(self, model, *, echo=print, prompt_format=None, cache_dir=None, **extra):
        return ToyBackend(self, model or "toy-model")


class ToyBackend(Backend):
    name = "toy"

    def __init__(self, settings, model):
        self.settings, self.model = settings, model

    def generate(self, requests):
        for i, r in enumerate(requests):
            tail = r.content().rsplit("Passage:", 1)[-1].replace("\n", " ")
            word = [w for w in re.findall(r"[^\W\d_]{4,}", tail) if w != "Language"][0].lower()
            query = " ".join([self.settings.greeting] + [word] * self.settings.repeat)
            yield i, Completion(text=f"Task: t\nQuery: {query} facts\nLanguage: English", finish_reason="stop",
                                prompt_tokens=3, completion_tokens=5)
'''

#: What the subprocess checks: help, recipe validation, a generate run.
SCRIPT = '''
import json, sys
from click.testing import CliRunner
from drama_data.cli import main
from drama_models.recipes.schema import RecipeError, load_recipe

out = {}
r = CliRunner().invoke(main, ["generate", "--help"], terminal_width=200)
out["help"] = r.output
recipe = load_recipe(sys.argv[1])
out["recipe_options"] = {k: recipe.stage("queries").options[k] for k in ("backend", "greeting", "repeat")}
try:
    load_recipe(sys.argv[2])
except RecipeError as exc:
    out["bad_recipe"] = str(exc)
r = CliRunner().invoke(main, ["generate", "--backend", "toy", "--greeting", "which", "--repeat", "2", "--corpus",
                              sys.argv[3], "--output", sys.argv[4], "--limit", "3", "--no-progress", "--no-report",
                              "--no-cache", "--json"])
out["run"] = (r.exit_code, r.stdout)
print("RESULT" + json.dumps(out))
'''


def _recipe(path: Path, **queries) -> Path:
    stage = "\n".join(f"    {k}: {v}" for k, v in queries.items())
    path.write_text(f"name: toy\ncorpus: {SAMPLE}\noutput: runs/toy\nseed: 0\nstages:\n  queries:\n{stage}\n")
    return path


def test_a_toy_backend_is_one_file_and_one_registration(tmp_path):
    plugin = tmp_path / "plugin"
    (plugin / "toy_backend-0.1.dist-info").mkdir(parents=True)
    (plugin / "toy_backend.py").write_text(TOY)  # the one file
    (plugin / "toy_backend-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-backend\n"
                                                                   "Version: 0.1\n")
    (plugin / "toy_backend-0.1.dist-info" / "entry_points.txt").write_text(  # the one registration
        '[drama_data.backends]\ntoy = "toy_backend:ToySettings"\n'.replace('"', ""))
    good = _recipe(tmp_path / "good.yaml", backend="toy", greeting="which", repeat=2)
    bad = _recipe(tmp_path / "bad.yaml", backend="toy", repeat=0)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(plugin), os.environ.get("PYTHONPATH", "")]),
               DRAMA_CACHE=str(tmp_path / "cache"))
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(good), str(bad), str(SAMPLE), str(tmp_path / "out")],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.split("RESULT", 1)[1])
    help_text = " ".join(out["help"].split())
    assert "--backend [vllm|openai|openai-batch|toy]" in help_text
    assert "toy: answers every prompt with a fixed query" in help_text
    assert "--greeting TEXT toy: the word every query starts with. [default: hello]" in help_text
    assert out["recipe_options"] == {"backend": "toy", "greeting": "which", "repeat": 2}
    assert out["bad_recipe"].endswith("stages.queries.backend: --repeat must be at least 1, got 0")
    code, stdout = out["run"]
    assert code == 0, stdout
    summary = json.loads(stdout)
    assert summary["rows"] == 3 and summary["generated"] == 3 and summary["model"] == "toy-model"
    from drama_data.datasets.folder import read_table

    queries = read_table(tmp_path / "out", "queries").to_pylist()
    assert {r["backend"] for r in queries} == {"toy"}
    assert all(r["query"].startswith("which ") and r["query"].split()[1] == r["query"].split()[2] for r in queries)


def test_built_in_names_and_aliases():
    assert registry().names()[:3] == ("vllm", "openai", "openai-batch")
    cls, preset = registry().settings_for("openai-batch")
    assert cls.name == "openai" and preset == {"batch": True}
    with pytest.raises(ConfigError, match=r"--backend 'nope': unknown \(choose from vllm, openai, openai-batch"):
        registry().settings_for("nope")


def test_a_setting_two_backends_declare_differently_is_refused():
    from dataclasses import dataclass

    @dataclass
    class A(BackendSettings):
        name = "a"
        timeout: float = setting(1.0)

    @dataclass
    class B(BackendSettings):
        name = "b"
        timeout: float = setting(2.0)

    reg = BackendRegistry()
    reg._loaded = True  # no built-ins, no entry points
    reg.add(A)
    reg.add(B)
    with pytest.raises(ValueError, match="'timeout': b declares it differently from a"):
        reg.infos()
    with pytest.raises(ValueError, match="registered already"):
        reg.add(type("A2", (A,), {"name": "a"}))


def test_no_module_imports_a_private_name_of_another():
    """Shared pieces are public in a module named after them (openai_batch used openai's _Redactor, _Run)."""
    root = Path(drama_data.__file__).parent
    found = []
    paths = [p for sub in ("backends", "generate", "tasks", "rerank") for p in (root / sub).rglob("*.py")]
    for path in paths + [root / "cli" / "generate.py"]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("drama_data"):
                found += [f"{path.relative_to(root)}: {a.name}" for a in node.names
                          if a.name.startswith("_") and not a.name.startswith("__")]
    assert found == []


def test_the_defaults_are_written_once():
    """The OpenAI defaults (16 / 120 / 6 / OPENAI_API_KEY) and the backend names are not repeated where the CLI,
    the recipes and the backend factory read them: they come from the settings classes."""
    import re

    root = Path(drama_data.__file__).resolve().parents[1]
    for rel in ("drama_data/cli/generate.py", "drama_data/backends/__init__.py",
                "drama_models/recipes/stages/generate.py", "drama_models/recipes/stages/rerank.py"):
        text = (root / rel).read_text(encoding="utf-8")
        assert "OPENAI_API_KEY" not in text and "120.0" not in text and not re.search(r"(default|concurrency)\W{1,3}16\b", text), rel
        assert '"openai-batch"' not in text, rel


def test_toy_source_is_one_module():
    tree = ast.parse(textwrap.dedent(TOY))
    assert [n.name for n in tree.body if isinstance(n, ast.ClassDef)] == ["ToySettings", "ToyBackend"]
