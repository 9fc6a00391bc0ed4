"""The code passes ruff (configured in pyproject.toml: pyflakes, pycodestyle, import order, bugbear, pyupgrade)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_check_passes():
    exe = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    assert Path(exe).is_file(), "ruff is not installed: pip install -e '.[test]'"
    out = subprocess.run([exe, "check", "--no-cache", "--output-format", "concise", "."], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
