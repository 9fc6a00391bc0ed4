"""The documentation site builds and covers the command line.

``mkdocs build --strict`` passes (no broken link or anchor, every nav page exists; mkdocs.yml sets the
validation levels), every command and every visible option of ``drama-data`` and ``drama-models`` appears in
the generated reference, every page under docs/ is in the nav, and the README stays short, keeps the two
Quickstart commands that ``.ci/run`` relies on, and links only to pages that exist.
"""
from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART_1 = ("bash scripts/setup.sh && .venv/bin/drama-data generate --backend vllm --corpus "
                "drama_data/samples/scifact-sample --output runs/quickstart --limit 16")
QUICKSTART_2 = "bash scripts/setup.sh && .venv/bin/python -m pytest -q"


def _mkdocs() -> str:
    exe = shutil.which("mkdocs") or str(Path(sys.executable).parent / "mkdocs")
    if not Path(exe).is_file():
        if os.environ.get("CI"):
            pytest.fail("mkdocs is not installed: the `docs` extra (in `all`) must be, so the site is checked in CI")
        pytest.skip("mkdocs is not installed (pip install -e '.[docs]')")
    return exe


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    run = subprocess.run([_mkdocs(), "build", "--strict", "--site-dir", str(out)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    return out


def _commands(group: click.Group, prog: str):
    """(full name, command) for every command under ``group``, sub-groups included."""
    ctx = click.Context(group, info_name=prog)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None or getattr(command, "hidden", False):
            continue
        yield f"{prog} {name}", command
        if isinstance(command, click.Group):
            yield from _commands(command, f"{prog} {name}")


def _mains():
    from drama_data.cli import main as data_main
    from drama_models.cli import main as models_main

    return (("drama-data", data_main), ("drama-models", models_main))


def _reference_text(site: Path) -> str:
    page = (site / "reference" / "cli" / "index.html").read_text(encoding="utf-8")
    return html.unescape(re.sub(r"<[^>]+>", "", page))


@pytest.mark.slow
def test_site_builds_strict(site):
    for page in ("index.html", "getting-started/index.html", "reference/cli/index.html",
                 "reference/python-api/index.html", "reference/recipe-schema/index.html", "results/index.html"):
        assert (site / page).is_file(), page


@pytest.mark.slow
def test_every_command_and_option_is_in_the_reference(site):
    text = _reference_text(site)
    missing = []
    n_commands = n_options = 0
    for prog, group in _mains():
        for full, command in _commands(group, prog):
            n_commands += 1
            if full not in text:
                missing.append(full)
            for param in command.params:
                if isinstance(param, click.Option) and not param.hidden:
                    n_options += 1
                    if not any(o in text for o in param.opts):
                        missing.append(f"{full} {param.opts[0]}")
    assert not missing, f"not in docs/reference/cli.md's page: {missing}"
    assert n_commands >= 12 and n_options >= 100, (n_commands, n_options)


@pytest.mark.slow
def test_recipe_schema_page_lists_every_stage_option(site):
    from drama_models.recipes.stages import STAGE_TYPES

    text = html.unescape(re.sub(r"<[^>]+>", "", (site / "reference/recipe-schema/index.html").read_text("utf-8")))
    for kind, stage_type in STAGE_TYPES.items():
        for key in stage_type.OPTIONS:
            assert key in text, f"{kind}.{key}"


def _nav_files(nav) -> list[str]:
    files = []
    for item in nav:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        files += _nav_files(value) if isinstance(value, list) else [value]
    return files


def test_every_docs_page_is_in_the_nav():
    config = yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=yaml.BaseLoader)
    nav = set(_nav_files(config["nav"]))
    pages = {p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md")}
    assert pages == nav, {"not in the nav": sorted(pages - nav), "no such page": sorted(nav - pages)}


def test_readme_is_short_and_keeps_the_quickstart():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 150
    blocks = re.findall(r"```bash\n(.*?)\n```", readme, flags=re.DOTALL)
    assert QUICKSTART_1 in blocks and QUICKSTART_2 in blocks, "the two Quickstart commands changed"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert QUICKSTART_2 in ci, ".ci/run must run the README's second Quickstart command"


def test_readme_links_point_at_files_that_exist():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = [t for t in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme) if "://" not in t]
    assert links, "the README links into the docs"
    missing = [t for t in links if not (ROOT / t).exists()]
    assert not missing, missing


def _shell_blocks(text: str):
    """The contents of the ```bash fences of a markdown text (other fences skipped), continuation lines joined."""
    block, lang = None, None
    for line in text.splitlines():
        fence = re.match(r"^\s*```(\w*)", line)
        if fence and block is None:
            block, lang = [], fence.group(1)
        elif fence:
            if lang in ("bash", "sh", "shell"):
                yield re.sub(r"\\\n\s*", " ", "\n".join(block))
            block = None
        elif block is not None:
            block.append(line)


def _documented_commands():
    """(file, program, argument string) for every drama-data / drama-models command in README.md and docs/."""
    pattern = re.compile(r"(?:^|&& |\.venv/bin/|-m )(drama-data|drama-models|drama_models\.cli)\s+(.*)")
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        for block in _shell_blocks(path.read_text(encoding="utf-8")):
            for line in block.splitlines():
                found = pattern.search(line.split(" # ")[0].strip())
                if found:
                    prog = "drama-models" if found.group(1) == "drama_models.cli" else found.group(1)
                    yield path.relative_to(ROOT).as_posix(), prog, found.group(2)


def test_documented_commands_use_real_commands_and_flags():
    """Every command line in the README and the docs names a real command and only flags its --help shows."""
    import shlex

    mains = dict(_mains())
    wrong, checked = [], 0
    for where, prog, rest in _documented_commands():
        words = shlex.split(re.sub(r"[\[\]|]", " ", rest))
        command, path = mains[prog], [prog]
        while isinstance(command, click.Group) and words and not words[0].startswith("-"):
            sub = command.commands.get(words[0])
            if sub is None:
                wrong.append(f"{where}: {' '.join(path)} has no command {words[0]!r}")
                break
            command, path = sub, [*path, words.pop(0)]
        # hidden options are old spellings kept as aliases: the docs use the spelling --help shows
        flags = {o for p in command.params if not getattr(p, "hidden", False)
                 for o in (*p.opts, *p.secondary_opts)} | {"-h", "--help"}
        for word in words:
            if word.startswith("-") and not re.match(r"^-\d", word):
                checked += 1
                flag = word.split("=")[0]
                if flag not in flags:
                    wrong.append(f"{where}: {' '.join(path)} takes no {word.split('=')[0]}")
    assert checked >= 100, checked
    assert not wrong, "\n".join(wrong)
