"""Golden outputs of ``drama-data build`` on the bundled SciFact sample (mined with BM25 and a fake dense encoder):
every file of the output folder and the printed summary are what they were before ``build`` and its config loader
were refactored (dates, timings and temporary paths aside)."""
import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from mining_helpers import HashEncoder, write_queries
from output_digest import check_golden, folder_digests, normalise

import drama_data
from drama_data.chunking import load_passages

GOLDEN = Path(__file__).parent / "golden"
SAMPLE = Path(drama_data.__file__).parent / "samples" / "scifact-sample"


@pytest.fixture(scope="module")
def mined(tmp_path_factory):
    """The sample's claims as queries (sent/qgen alternating, one German), mined with bm25s (k 50) and dense (k 30)."""
    from drama_data.mining.dense import DenseRetriever
    from drama_data.mining.mine import mine

    tmp = tmp_path_factory.mktemp("mined")
    passages, _ = load_passages(str(SAMPLE))
    first_chunk = {}
    for p in passages:
        first_chunk.setdefault(p.doc_id, p.id)
    qrels = {}
    for line in (SAMPLE / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        qid, doc, _ = line.split("\t")
        qrels.setdefault(qid, doc)
    queries = [json.loads(x) for x in (SAMPLE / "queries.jsonl").read_text().splitlines()]
    rows = [{"query_id": q["_id"], "query": q["text"] if i != 5 else "too short",
             "passage_id": first_chunk[qrels[q["_id"]]], "source": "qgen" if i % 2 else "sent",
             "language": "de" if i == 4 else "en"} for i, q in enumerate(queries)]
    qdir = write_queries(tmp / "queries", rows)
    mine(qdir, str(SAMPLE), tmp / "bm25", k=50, work_dir=tmp / "w", progress=False)
    mine(qdir, str(SAMPLE), tmp / "dense", retriever=DenseRetriever(encoder=HashEncoder(), progress=False), k=30,
         work_dir=tmp / "w", progress=False)
    return tmp


def run(args, tmp_path, mined):
    from drama_data.cli import main

    res = CliRunner().invoke(main, ["build", *args, "--no-progress", "--no-report"])
    assert res.exit_code == 0, res.output
    replace = {str(tmp_path): "<TMP>", str(mined): "<MINED>", str(SAMPLE): "<SAMPLE>"}
    return {"files": folder_digests(tmp_path / "out", replace), "summary": normalise(res.output, replace).splitlines()}


def test_cli_single_input_weak_miner_is_unchanged(tmp_path, mined):
    actual = run(["--candidates", str(mined / "bm25"), "--queries", str(mined / "queries"), "--output",
                  str(tmp_path / "out")], tmp_path, mined)
    check_golden(GOLDEN / "build_single_cli.json", actual)


def test_yaml_config_two_inputs_strong_miner_mix_is_unchanged(tmp_path, mined):
    conf = {"inputs": [{"candidates": str(mined / "bm25"), "group": "lexical", "queries": str(mined / "queries")},
                       {"candidates": str(mined / "dense"), "group": "dense", "name": "hash"}],
            "output": "out", "seed": 3, "miner": "strong",
            "rules": {"qgen": {"negatives": [20, 30], "max_negatives": 5}, "sent": {"positives": "1-3"}},
            "false_negatives": {"mode": "absolute"},
            "filters": {"min_query_tokens": 4, "max_copy_rate": 0.5, "near_dup_threshold": 0.9},
            "mix": {"ratios": {"lexical": 2, "dense": 1}, "shuffle": True}}
    (tmp_path / "build.yaml").write_text(yaml.safe_dump(conf))
    actual = run(["--config", str(tmp_path / "build.yaml"), "--fn-margin", "0.1", "--negatives", "sent=10-20"],
                 tmp_path, mined)
    check_golden(GOLDEN / "build_yaml_mix.json", actual)


def test_cli_inputs_with_ratios_are_unchanged(tmp_path, mined):
    actual = run(["--input", f"candidates={mined / 'bm25'},ratio=1,name=lex,group=g", "--output",
                  str(tmp_path / "out"), "--seed", "2", "--mix-total", "10", "--max-query-tokens", "20",
                  "--miner", "strong", "--positives", "qgen=1-2", "--source-positive", "qgen=false", "--json"],
                 tmp_path, mined)
    summary = json.loads("\n".join(actual["summary"]))
    summary["seconds"] = "<S>"
    actual["summary"] = summary
    check_golden(GOLDEN / "build_inputs_cli.json", actual)
