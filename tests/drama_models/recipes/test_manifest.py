"""``summary.md`` of a recipe run: byte-identical to a golden copy (captured from the f-string text before it moved
into ``cards/recipe_summary.md.j2``)."""
from __future__ import annotations

from pathlib import Path

from drama_models.recipes.manifest import render_summary

GOLDEN = Path(__file__).parent / "golden" / "summary.md"


def manifest_data(run_dir: str, finished: str | None = "2026-12-07T06:10:00Z") -> dict:
    return {
        "recipe": "cpu-demo", "recipe_file": "recipes/cpu-demo.yaml", "recipe_sha256": "0123456789abcdef" * 4,
        "corpus": "data/scifact", "run_dir": run_dir, "seed": 0, "command": ["drama-models", "recipe", "run"],
        "started": "2026-12-07T06:00:00Z", "finished": finished, "status": "complete" if finished else "running",
        "versions": {"python": "3.11.9", "drama-toolkit": "0.1.0", "torch": "2.13.0+cpu"},
        "stages": [
            {"name": "qgen", "kind": "generate", "status": "ran", "seconds": 12.6,
             "counts": {"rows": 100, "failures": {"parse": 2, "language": {"de": 1, "zh": 0}}, "results": [1, 2]},
             "command": "drama-data generate --task queries --corpus data/scifact --output runs/x/qgen"},
            {"name": "mine", "kind": "mine", "status": "skipped", "seconds": None,
             "counts": {"queries": 100, "k": 50, "ratio": 0.123456, "deep": {"a": {"b": {"c": 1}}}, "ids": [1, 2, 3]},
             "command": "drama-data mine runs/x/qgen --output runs/x/mine"},
            {"name": "build", "kind": "build", "status": "failed", "seconds": 3.2, "counts": {},
             "command": "drama-data build --output runs/x/build"},
            {"name": "train", "kind": "train", "status": "ran", "seconds": 61.4, "counts": {"loss": "1.2|0.9"},
             "command": None},
            {"name": "eval", "kind": "evaluate", "status": "not selected"},
        ],
    }


def test_summary_matches_the_golden_text(tmp_path):
    parts = ["===== without results\n" + render_summary(manifest_data(str(tmp_path))),
             "===== running, no run folder\n" + render_summary(manifest_data("", finished=None))]
    (tmp_path / "results.md").write_text("| dataset | system |\n|---|---|\n| scifact | x |\n\n", encoding="utf-8")
    parts.append("===== with results\n" + render_summary(manifest_data(str(tmp_path))))
    assert "".join(parts).replace(str(tmp_path), "<RUN>") == GOLDEN.read_text(encoding="utf-8")
