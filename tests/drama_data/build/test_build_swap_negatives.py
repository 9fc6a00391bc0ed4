"""``build --swap-negatives N`` (:mod:`drama_data.build.swap`): a long row (its query asked about one section of a
packed document) gets, first among its negatives, its own document with that section swapped for another
document's; rows without an answer span are untouched; the same seed gives the same rows."""
import random

import pyarrow as pa
import pytest
from click.testing import CliRunner

from drama_data.build import build
from drama_data.build.config import load_config
from drama_data.build.swap import SectionPool, swap_texts
from drama_data.datasets.folder import read_table, write_dataset
from drama_data.errors import ConfigError, InputError
from drama_data.mining.mine import CANDIDATES_SCHEMA, PASSAGES_SCHEMA

TOPICS = ["river", "castle", "planet", "violin", "glacier", "market"]


def section(doc: int, sec: int) -> str:
    t = TOPICS[(doc + sec) % len(TOPICS)]
    return (f"The {t} story number {doc} part {sec} begins here. Alpha{doc}x{sec} watched the {t} at dawn. "
            f"Nobody else saw the {t} that day in part {sec} of document {doc}.")


def make_inputs(tmp_path, n_docs=4, sections=3):
    """Packed documents d0..d3 (sections joined by a blank line), one query per document about section 1,
    plus ``plain`` (a short-row query of d0 without a span) and short passages s0..s5 as BM25 negatives."""
    docs, spans = {}, {}
    for d in range(n_docs):
        parts = [section(d, s) for s in range(sections)]
        text = "\n\n".join(parts)
        start = len(parts[0]) + 2
        docs[f"d{d}"] = text
        spans[f"d{d}/sent0"] = (f"d{d}", start, start + len(parts[1]))
    docs.update({f"s{i}": f"short passage {i} about nothing in particular" for i in range(6)})
    ids = sorted(docs)
    rows, queries = [], []
    for d in range(n_docs):
        qid, src = f"d{d}/sent0", f"d{d}"
        query = f"Alpha{d}x1 watched the {TOPICS[(d + 1) % len(TOPICS)]} at dawn."
        order = [src] + [x for x in ids if x != src]
        rows.append({"query_id": qid, "query": query, "source": "sent", "language": "en", "source_passage_id": src,
                     "source_rank": 1, "retriever": "t",
                     "candidates": [{"docid": x, "score": 50.0 - r, "rank": r + 1, "is_source": x == src}
                                    for r, x in enumerate(order)]})
        queries.append({"query_id": qid, "query": query, "source": "sent", "language": "en",
                        "source_passage_id": src, "answer_start": spans[qid][1], "answer_end": spans[qid][2],
                        "answer_depth": 0.3})
    order = ["d0"] + [x for x in ids if x != "d0"]
    rows.append({"query_id": "plain", "query": "The river story number 0 part 0 begins here.", "source": "sent",
                 "language": "en", "source_passage_id": "d0", "source_rank": 1, "retriever": "t",
                 "candidates": [{"docid": x, "score": 50.0 - r, "rank": r + 1, "is_source": x == "d0"}
                                for r, x in enumerate(order)]})
    queries.append({"query_id": "plain", "query": rows[-1]["query"], "source": "sent", "language": "en",
                    "source_passage_id": "d0", "answer_start": None, "answer_end": None, "answer_depth": None})
    passages = [{"id": x, "doc_id": x, "title": f"title {x}", "text": docs[x]} for x in ids]
    write_dataset(tmp_path / "c", {"candidates": pa.Table.from_pylist(rows, schema=CANDIDATES_SCHEMA),
                                   "passages": pa.Table.from_pylist(passages, schema=PASSAGES_SCHEMA)},
                  default="candidates", card_body="test", card_meta={"drama_mine": {"k": 50, "k_effective": 50}})
    write_dataset(tmp_path / "q", {"queries": pa.Table.from_pylist(queries)}, default="queries", card_body="test")
    return docs, spans


def run(tmp_path, out, n=1, seed=0, **kw):
    cfg = load_config(None, inputs=[{"candidates": str(tmp_path / "c"), "queries": str(tmp_path / "q")}],
                      output=str(tmp_path / out), swap_negatives=n, seed=seed, **kw)
    report = build(cfg, progress=False)
    return report, {r["query_id"]: r for r in read_table(tmp_path / out, "train").to_pylist()}


def test_swap_negative_equals_positive_outside_the_span(tmp_path):
    docs, spans = make_inputs(tmp_path)
    # positive_text: passage keeps the positive as the document is: the negative equals it outside the span
    report, train = run(tmp_path, "out", rules={"sent": {"positive_text": "passage"}})
    assert report.swap_rows == 4 and "swap negatives   4 rows" in report.render()
    for qid, (src, a, b) in spans.items():
        pos, neg = train[qid]["positive_passages"][0], train[qid]["negative_passages"][0]
        text = docs[src]
        assert pos["text"] == text and neg["docid"] == f"{src}#swap0" and neg["score"] is None
        assert neg["title"] == pos["title"]
        tail = len(text) - b
        assert neg["text"][:a] == text[:a] and neg["text"][len(neg["text"]) - tail:] == text[b:]
        other = neg["text"][a:len(neg["text"]) - tail]
        assert other != text[a:b] and train[qid]["query"] not in other
        assert other in {docs[f"d{d}"][spans[f"d{d}/sent0"][1]:spans[f"d{d}/sent0"][2]] for d in range(4)}
        assert f"story number {src[1:]} " not in other  # another document's section
        assert len(train[qid]["negative_passages"]) > 1  # the BM25 negatives follow
    assert [n["docid"] for n in train["plain"]["negative_passages"]][0] != "d0#swap0"  # no span: untouched
    assert not any("#swap" in n["docid"] for n in train["plain"]["negative_passages"])
    card = (tmp_path / "out" / "README.md").read_text(encoding="utf-8")
    assert "Swap negatives (`swap_negatives: 1`): 4 rows" in card


def test_swap_negative_with_query_cut_from_positive(tmp_path):
    """miner weak (positive_text: without_query): a long row's query is cut out of its section only, so the
    positive and its swap negative are the document as written outside the section."""
    docs, spans = make_inputs(tmp_path)
    _, train = run(tmp_path, "out")
    for qid, (src, a, b) in spans.items():
        text = docs[src]
        pos, neg = train[qid]["positive_passages"][0]["text"], train[qid]["negative_passages"][0]["text"]
        tail = len(text) - b
        for t in (pos, neg):
            assert t[:a] == text[:a] and t[len(t) - tail:] == text[b:]
        assert train[qid]["query"] not in pos and "part 1 begins here." in pos[a:len(pos) - tail]
        assert train[qid]["query"] not in neg and pos != neg
    # the short row (no span) has its query cut from the whole passage, as before
    assert "The river story number 0 part 0 begins here." not in train["plain"]["positive_passages"][0]["text"]


def test_a_query_that_is_the_whole_section_stays_in_the_positive(tmp_path):
    """NPL packs one-sentence passages: the cropped query is the whole section; cutting it would leave a positive
    without its answer, so the section stays (as without_span keeps a passage it would empty)."""
    docs, spans = make_inputs(tmp_path)
    q = read_table(tmp_path / "q", "queries").to_pylist()
    c = read_table(tmp_path / "c", "candidates").to_pylist()
    for rows in (q, c):
        r = rows[0]
        assert r["query_id"] == "d0/sent0"
        r["query"] = docs["d0"][spans["d0/sent0"][1]:spans["d0/sent0"][2]]
    write_dataset(tmp_path / "q", {"queries": pa.Table.from_pylist(q)}, default="queries", card_body="test",
                  overwrite=True)
    write_dataset(tmp_path / "c", {"candidates": pa.Table.from_pylist(c, schema=CANDIDATES_SCHEMA),
                                   "passages": read_table(tmp_path / "c", "passages")},
                  default="candidates", card_body="test", card_meta={"drama_mine": {"k": 50, "k_effective": 50}},
                  overwrite=True)
    _, train = run(tmp_path, "out")
    assert train["d0/sent0"]["positive_passages"][0]["text"] == docs["d0"]


def test_swap_negatives_are_deterministic_and_off_by_default(tmp_path):
    make_inputs(tmp_path)
    _, a = run(tmp_path, "a", n=2, seed=3)
    _, b = run(tmp_path, "b", n=2, seed=3)
    assert a == b
    for r in a.values():
        if r["query_id"] != "plain":
            assert [n["docid"] for n in r["negative_passages"][:2]] == [f"{r['source_passage_id']}#swap{k}"
                                                                         for k in range(2)]
            assert r["negative_passages"][0]["text"] != r["negative_passages"][1]["text"]
    report, off = run(tmp_path, "off", n=0)
    assert report.swap_rows is None and "swap negatives" not in report.render()
    assert not any("#swap" in n["docid"] for r in off.values() for n in r["negative_passages"])


def test_swap_keep_mined_caps_the_mined_negatives_of_swap_rows_only(tmp_path):
    make_inputs(tmp_path)
    _, all_ = run(tmp_path, "all")
    _, none = run(tmp_path, "none", swap_keep_mined=0)
    _, one = run(tmp_path, "one", swap_keep_mined=1)
    for qid in all_:
        if qid == "plain":  # no span: its mined negatives stay
            assert none[qid]["negative_passages"] == all_[qid]["negative_passages"]
            continue
        assert [n["docid"] for n in none[qid]["negative_passages"]] == [f"{qid[:2]}#swap0"]
        assert one[qid]["negative_passages"] == all_[qid]["negative_passages"][:2]


def test_pick_skips_own_document_and_sections_with_the_query():
    pool = SectionPool([(10, "d1", "0123456789"), (11, "d2", "the query x"), (12, "d3", "abcdefghijkl")])
    assert pool.pick(3, 10, "d1", "own", "THE  query", random.Random(0)) == ["abcdefghijkl"]
    text = "AAAA" + "own." + "BBBB"
    assert swap_texts(pool, 2, 0, "q", "the query", "d1", text, (4, 8)) == [("d1#swap0", "AAAAabcdefghijklBBBB")]


def test_bad_span_and_missing_queries_are_one_line_errors(tmp_path):
    make_inputs(tmp_path)
    q = read_table(tmp_path / "q", "queries").to_pylist()
    q[0]["answer_end"] = 10_000
    write_dataset(tmp_path / "q", {"queries": pa.Table.from_pylist(q)}, default="queries", card_body="test",
                  overwrite=True)
    with pytest.raises(InputError, match=r"query 'd0/sent0'.*answer_start/answer_end"):
        run(tmp_path, "bad")
    cfg = load_config(None, inputs=[{"candidates": str(tmp_path / "c")}], output=str(tmp_path / "x"),
                      swap_negatives=1)
    with pytest.raises(ConfigError, match="swap_negatives: 1, but no input has its queries dataset"):
        build(cfg, progress=False)
    with pytest.raises(ConfigError, match="swap_negatives: must be an integer >= 0"):
        load_config(None, inputs=[{"candidates": "c"}], swap_negatives=-1)


def test_cli_flag(tmp_path):
    from drama_data.cli import main

    make_inputs(tmp_path)
    res = CliRunner().invoke(main, ["build", "--candidates", str(tmp_path / "c"), "--queries", str(tmp_path / "q"),
                                    "--output", str(tmp_path / "cli"), "--swap-negatives", "1", "--no-report",
                                    "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "swap negatives   4 rows" in res.output
