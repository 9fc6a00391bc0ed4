"""Time to the error line when a hosted API refuses the key: ``drama-data generate --backend openai`` on 1,000
passages against a server answering every request HTTP 401 (OpenAI's ``invalid_api_key`` body), with the key
variable unset, as a user would run it.

The server is the test suite's stub (tests/fake_openai_server.py, ``api_key=...``) on 127.0.0.1; the command runs
as its own process (imports included in the time), its stderr read line by line. The corpus is the first 1,000
SciFact passages (``../shared/data/scifact``), or 1,000 synthetic passages when that folder is not there.

Printed: the command's exit code, its stderr lines as a terminal shows them (progress bars redraw themselves with
carriage returns and are cleared when the run stops), its ``Error:`` lines, the completion requests the server
received and whether an output folder (or its work folder) was left; last line
``openai_401_seconds: X (goal: < 10 s, one line, exit != 0)``, where X is the seconds from the command's start to
its ``Error:`` line (or to its exit when there is none).

    python bench/openai_auth_failure.py [--passages 1000] [--corpus DIR_OR_FILE]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))


def visible(line: str) -> str:
    """What a terminal keeps of one ``\\n``-ended line of output: the text after its last carriage return (progress
    bars redraw themselves with ``\\r``), ANSI escapes removed, blank when only spaces are left."""
    return re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", line.rstrip("\n").split("\r")[-1]).strip()


def synthetic_corpus(path: Path, n: int) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            text = (f"Passage {i} reports a measured effect of compound {i % 97} on cell line {i % 13}, "
                    f"with a sample of {10 + i % 50} patients and a follow-up of {i % 24} months.")
            fh.write(json.dumps({"_id": f"d{i}", "title": f"Study {i}", "text": text}) + "\n")
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--passages", type=int, default=1000)
    ap.add_argument("--corpus", default=None, help="default: ../shared/data/scifact, else synthetic passages")
    a = ap.parse_args()

    from fake_openai_server import FakeOpenAIServer

    with tempfile.TemporaryDirectory(prefix="drama-401-") as tmp:
        tmp = Path(tmp)
        corpus = a.corpus or (str(REPO.parent / "shared" / "data" / "scifact")
                              if (REPO.parent / "shared" / "data" / "scifact").is_dir() else None)
        if corpus is None:
            corpus = str(synthetic_corpus(tmp / "corpus.jsonl", a.passages))
        out = tmp / "out"
        env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
        env["DRAMA_CACHE"] = str(tmp / "cache")
        with FakeOpenAIServer(api_key="sk-the-real-key-nobody-here-has-0000", max_lifetime=300,
                              max_requests=10 ** 6) as srv:
            cmd = [sys.executable, "-m", "drama_data.cli.__main__", "generate", "--task", "queries",
                   "--backend", "openai", "--model", "gpt-4o-mini", "--base-url", srv.base_url,
                   "--corpus", corpus, "--limit", str(a.passages), "--output", str(out)]
            t0 = time.monotonic()
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
            lines, error_at = [], None
            for raw in proc.stderr:  # bytes, split on \n only: what a terminal leaves on screen (see visible())
                line = visible(raw.decode("utf-8", "replace"))
                if line:
                    lines.append(line)
                if line.startswith("Error:") and error_at is None:
                    error_at = time.monotonic() - t0
            stdout = proc.stdout.read().decode("utf-8", "replace")
            rc = proc.wait()
            seconds = error_at if error_at is not None else time.monotonic() - t0
            requests = len(srv.completion_records())
        errors = [line for line in lines if line.startswith("Error:")]
        left = [p.name for p in (out, out.parent / f".{out.name}.partial") if p.exists()]
    print(f"command: drama-data generate --task queries --backend openai ({a.passages} passages of {corpus}), "
          f"OPENAI_API_KEY unset, every request answered HTTP 401")
    warnings = sum(line.startswith("WARNING") for line in lines)
    print(f"exit code {rc}; {len(lines)} stderr lines, {len(errors)} 'Error:' lines, {warnings} WARNING lines; "
          f"{requests} completion requests "
          f"received; output left behind: {', '.join(left) or 'none'}; stdout {len(stdout.splitlines())} lines")
    for line in lines[-12:]:
        print(f"  stderr: {line[:400]}")
    print(f"openai_401_seconds: {seconds:.2f} (goal: < 10 s, one line, exit != 0)")


if __name__ == "__main__":
    main()
