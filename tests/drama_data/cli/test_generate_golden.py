"""Golden outputs of ``drama-data generate`` on the bundled SciFact sample against the stub OpenAI server
(tests/fake_openai_server.py), one per task and backend: the files written must stay byte-identical through the
backend refactor of issue 27 (the digests of every output file are stored in ``golden/generate.json``).

Paths that differ from run to run (the server's port, the temporary folder, the checkout) and the run's date are
replaced before hashing; everything else (parquet parts, card, provenance) is compared byte for byte.
Regenerate (only when a change of output is intended): ``DRAMA_GOLDEN_UPDATE=1 pytest this file``.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from fake_backend import fake_query
from fake_openai_server import FakeOpenAIServer
from mining_helpers import write_candidates

import drama_data
from drama_data.cli import main

SAMPLE = Path(drama_data.__file__).parent / "samples" / "scifact-sample"
GOLDEN = Path(__file__).parent / "golden" / "generate.json"
REPO = Path(drama_data.__file__).resolve().parents[1]


def respond(prompt: str) -> str:
    """A deterministic answer for each task's prompt."""
    h = hashlib.sha256(prompt.encode()).hexdigest()[:8]
    if "Search Query:" in prompt:  # rerank: a fixed permutation head (the rest is repaired)
        n = int(h, 16) % 3
        return " > ".join(f"[{i}]" for i in ([2, 1, 3], [1, 3, 2], [3, 2])[n])
    tail = prompt.rsplit("Passage:", 1)[0]
    if "Write the query in German" in tail:
        return f"Task: Fakten finden\nQuery: Welche Wirkung hat das Protein {h} auf die Zellen im Körper?\nLanguage: German"
    if "Write the query in Chinese" in tail:
        return "Task: 查找事实\nQuery: 这种蛋白质对细胞有什么影响" + h[:2] + "\nLanguage: Chinese"
    if int(h, 16) % 5 == 0:
        return "I am not sure."  # a parse failure (recorded, retried)
    return f"Task: find facts\nQuery: {fake_query(prompt, h)}\nLanguage: English"


def _normalised(path: Path, replacements: dict[str, str]) -> bytes:
    data = path.read_bytes()
    if path.suffix in (".md", ".json", ".jsonl", ".yaml"):
        text = data.decode("utf-8")
        for old, new in replacements.items():
            text = text.replace(old, new)
        text = re.sub(r'"date": "[^"]*"', '"date": "DATE"', text)
        text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)?", "DATE", text)
        text = re.sub(r'"seconds": [0-9.]+', '"seconds": 0', text)
        data = text.encode("utf-8")
    return data


def digests(folder: Path, replacements: dict[str, str]) -> dict[str, str]:
    """``{relative path: sha256}`` of every file of a dataset folder, normalised (see the module doc)."""
    return {str(p.relative_to(folder)): hashlib.sha256(_normalised(p, replacements)).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


CASES = {
    "queries-openai": ["--task", "queries", "--limit", "8", "--max-attempts", "2"],
    "queries-openai-batch": ["--task", "queries", "--limit", "6", "--backend", "openai-batch"],
    "crosslingual-openai": ["--task", "crosslingual", "--limit", "4", "--target-languages", "de,zh"],
    "crop": ["--task", "crop", "--limit", "10"],
    "rerank-openai": ["--task", "rerank", "--window", "10", "--stride", "5", "--depth", "20", "--passes", "2"],
}


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """Every case run once against one stub server; ``{case: digests}``."""
    tmp = tmp_path_factory.mktemp("golden")
    mine = write_candidates(tmp / "mine", n_queries=3, n_cands=20)
    env = {"DRAMA_CACHE": str(tmp / "cache"), "GOLDEN_KEY": "sk-golden-0123456789abcdef", "OPENAI_API_KEY": ""}
    result = {}
    with FakeOpenAIServer(responder=respond, max_lifetime=110) as srv:
        srv.set_batch_behaviour("completed", seconds=0.05)
        for case, extra in CASES.items():
            out = tmp / case
            corpus = str(mine) if case.startswith("rerank") else str(SAMPLE)
            args = ["generate", "--corpus", corpus, "--output", str(out), "--no-progress", "--no-report",
                    "--cache-dir", str(tmp / f"cache-{case}"), "--seed", "3", *extra]
            if case != "crop":
                args += ["--model", "fake-model", "--base-url", srv.base_url, "--api-key-env", "GOLDEN_KEY"]
                if "--backend" not in extra:
                    args += ["--backend", "openai", "--concurrency", "2"]
            run = CliRunner().invoke(main, args, env=env, catch_exceptions=False)
            assert run.exit_code == 0, run.output
            result[case] = digests(out, {srv.base_url: "BASE_URL", str(tmp): "TMP", str(REPO): "REPO",
                                         str(Path(srv.base_url).parent): "BASE"})
    return result


def test_generate_outputs_match_the_golden_digests(outputs):
    if os.environ.get("DRAMA_GOLDEN_UPDATE"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(outputs, indent=1, sort_keys=True) + "\n")
    expected = json.loads(GOLDEN.read_text())
    for case in CASES:
        assert outputs[case] == expected[case], f"{case}: the output files changed"
