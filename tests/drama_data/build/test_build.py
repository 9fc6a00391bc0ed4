"""``build``: labelling rules on hand-made ranks, false-negative guard, filters, mixing, bad configs, output format."""
import json
import random
import re
from pathlib import Path

import pyarrow as pa
import pytest
import yaml
from click.testing import CliRunner

from drama_data.build import build
from drama_data.build.config import load_config, make_rules
from drama_data.build.dedup import Deduplicator
from drama_data.build.filters import copy_rate, normalise_query, query_tokens
from drama_data.build.labelling import label
from drama_data.build.mixing import allocate
from drama_data.datasets.folder import read_table, write_dataset
from drama_data.errors import ConfigError, InputError
from drama_data.mining.mine import CANDIDATES_SCHEMA, PASSAGES_SCHEMA

WORDS = [f"{a}{b}" for a in ("ka", "lo", "mi", "ne", "po", "ru", "si", "tu", "va", "ze") for b in
         ("bar", "cen", "dol", "fim", "gus", "hap", "jor", "kel", "mun", "nix", "pal", "qua", "rin", "sot")]


def D(i):
    return f"d{i}"


def cands(n, scores=None, source=None):
    """Candidates d1..dn, score 100 - rank unless given."""
    return [{"docid": D(r), "score": float(scores[r - 1] if scores else 100 - r), "rank": r,
             "is_source": D(r) == source} for r in range(1, n + 1)]


def row(qid, query, source="qgen", src_pid="", candidates=(), language="en"):
    ranks = {c["docid"]: c["rank"] for c in candidates}
    return {"query_id": qid, "query": query, "source": source, "language": language, "source_passage_id": src_pid,
            "source_rank": ranks.get(src_pid), "candidates": list(candidates), "retriever": "test"}


def make_candidates(folder, rows, k=50, extra_passages=(), texts=None):
    ids = {c["docid"] for r in rows for c in r["candidates"]} | {r["source_passage_id"] for r in rows
                                                                   if r["source_passage_id"]} | set(extra_passages)
    texts = texts or {}
    passages = [{"id": d, "doc_id": d, "title": f"title {d}", "text": texts.get(d, f"text of passage {d}")}
                for d in sorted(ids)]
    write_dataset(folder, {"candidates": pa.Table.from_pylist(rows, schema=CANDIDATES_SCHEMA),
                           "passages": pa.Table.from_pylist(passages, schema=PASSAGES_SCHEMA)},
                  default="candidates", card_body="test", card_meta={"drama_mine": {"k": k, "k_effective": k}})
    return str(folder)


def make_rerank(folder, rankings, agreements=None):
    rows = [{"query_id": q, "query": "", "source": "qgen", "language": "en", "initial": sorted(r), "ranking": r,
             "agreement": (agreements or {}).get(q), "repaired": 0} for q, r in rankings.items()]
    write_dataset(folder, {"rankings": pa.Table.from_pylist(rows)}, default="rankings", card_body="test")
    return str(folder)


def q(i, n=6, seed=0):
    rng = random.Random(seed * 100003 + i)
    return " ".join(rng.choice(WORDS) for _ in range(n))


def cfg(tmp_path, inputs, **over):
    """A config with the paper's rules (``miner: strong``) unless the test says otherwise."""
    over.setdefault("output", str(tmp_path / "out"))
    over.setdefault("miner", "strong")
    return load_config(None, inputs=inputs, **over)


def by_qid(folder):
    return {r["query_id"]: r for r in read_table(folder, "train").to_pylist()}


# ---------------------------------------------------------------- labelling rules on known ranks


def test_hand_made_example_gives_exactly_the_expected_labels(tmp_path):
    rows = [
        row("A", q(1), "sent", D(1), cands(50, source=D(1))),     # sent: ranks 1-10 / 30-50
        row("B", q(2), "qgen", D(35), cands(50, source=D(35))),   # qgen, source ranked 35: positive, guards
        row("C", q(3), "qgen", "dX", cands(50)),                  # qgen, source not retrieved: still positive
        row("D", q(4), "crosslingual", "dY", cands(50)),          # crosslingual: source only
    ]
    c = make_candidates(tmp_path / "c", rows, k=50)
    build(cfg(tmp_path, [{"candidates": c}]), progress=False)
    t = by_qid(tmp_path / "out")
    ids = lambda ps: [p["docid"] for p in ps]  # noqa: E731
    assert ids(t["A"]["positive_passages"]) == [D(r) for r in range(1, 11)]
    assert ids(t["A"]["negative_passages"]) == [D(r) for r in range(30, 51)]
    # B: source first; ref = its score 65 -> negatives scoring >= 65 - 0.05*65 = 61.75 (ranks 30-38) dropped
    assert ids(t["B"]["positive_passages"]) == [D(35)] + [D(r) for r in range(1, 11)]
    assert ids(t["B"]["negative_passages"]) == [D(r) for r in range(39, 51)]
    assert ids(t["C"]["positive_passages"]) == ["dX"] + [D(r) for r in range(1, 11)]
    assert ids(t["C"]["negative_passages"]) == [D(r) for r in range(30, 51)]
    assert ids(t["D"]["positive_passages"]) == ["dY"]
    assert ids(t["D"]["negative_passages"]) == [D(r) for r in range(30, 51)]
    # each passage carries the miner's score for this query (the teacher score distillation reads); null if
    # it was not a candidate (C's source passage dX)
    assert t["A"]["positive_passages"][0] == {"docid": "d1", "title": "title d1", "text": "text of passage d1",
                                              "score": 99.0}
    assert t["C"]["positive_passages"][0]["score"] is None
    assert {r["rule"] for r in t.values()} == {"sent", "qgen", "crosslingual"}


def test_options_change_the_labels(tmp_path):
    rows = [row("B", q(2), "qgen", D(35), cands(50, source=D(35)))]
    c = make_candidates(tmp_path / "c", rows)
    over = {"rules": {"qgen": {"source_positive": False, "positives": "1-5", "negatives": [20, 40],
                               "max_negatives": 7}}, "fn_margin": None}
    build(cfg(tmp_path, [{"candidates": c}], **over), progress=False)
    t = by_qid(tmp_path / "out")["B"]
    assert [p["docid"] for p in t["positive_passages"]] == [D(r) for r in range(1, 6)]
    # source (rank 35) is never a negative; best-ranked 7 kept; no guard
    assert [p["docid"] for p in t["negative_passages"]] == [D(r) for r in range(20, 27)]


def test_rerank_rule_uses_the_llm_order(tmp_path):
    rows = [row("R", q(5), "qgen", D(3), cands(20, source=D(3)))]
    c = make_candidates(tmp_path / "c", rows, k=20)
    rr = make_rerank(tmp_path / "r", {"R": [D(r) for r in range(20, 0, -1)]}, {"R": 0.4})
    build(cfg(tmp_path, [{"candidates": c, "rerank": rr}]), progress=False)
    t = by_qid(tmp_path / "out")["R"]
    assert [p["docid"] for p in t["positive_passages"]] == [D(20)]
    # reranked ranks 10-20 = d11 .. d1, minus the source passage d3
    assert [p["docid"] for p in t["negative_passages"]] == [D(r) for r in range(11, 0, -1) if r != 3]
    assert t["rule"] == "rerank" and t["agreement"] == pytest.approx(0.4)


def test_false_negative_guard_absolute_and_relative():
    rule = make_rules({"sent": {"fn_margin": 0.5}}, miner="strong")["sent"]
    scores = {D(r): 10.0 for r in range(1, 11)} | {D(r): 9.6 for r in range(30, 40)} | {D(r): 5.0 for r in range(40, 51)}
    ranking = [D(r) for r in range(1, 51)]
    rel = label(rule, ranking, scores, fn_mode="relative")  # threshold 10 - 5 = 5: drops everything
    assert rel.reason == "too_few_negatives" and len(rel.fn_dropped) == 21
    ab = label(rule, ranking, scores, fn_mode="absolute")  # threshold 9.5: drops the 9.6s only
    assert ab.negatives == [D(r) for r in range(40, 51)] and ab.fn_dropped == [D(r) for r in range(30, 40)]


def test_positives_never_among_negatives_property():
    rng = random.Random(7)
    for _ in range(300):
        n = rng.randint(0, 60)
        ranking = [D(rng.randint(1, 40)) for _ in range(n)]  # repeats on purpose
        lo = rng.randint(1, 10)
        rule = make_rules({"x": {"positives": [lo, lo + rng.randint(0, 5)], "negatives": [lo + 6, lo + 6 + rng.randint(0, 30)],
                                 "source_positive": rng.random() < 0.5, "fn_margin": rng.choice([None, 0.1])}})["x"]
        src = rng.choice(["", D(rng.randint(1, 40))])
        lab = label(rule, ranking, {d: rng.random() for d in ranking}, src)
        assert not set(lab.positives) & set(lab.negatives)
        assert src not in lab.negatives
        assert lab.reason or lab.positives


# ---------------------------------------------------------------- filters


def test_filters_remove_and_record(tmp_path):
    passage_text = "photosynthesis converts light energy into chemical energy in green plants every day"
    rows = [
        row("keep", "how do leaves turn sunlight into sugar", "qgen", "dS", cands(50, source=D(1))),
        row("copy", "photosynthesis converts light energy into chemical energy", "qgen", "dS", cands(50)),
        row("sentcopy", "converts light energy into chemical energy in green plants", "sent", "dS", cands(50)),
        row("short", "leaves?", "qgen", "dS", cands(50)),
        row("long", " ".join(["word"] * 200), "qgen", "dS", cands(50)),
        row("dup", "How do leaves turn sunlight into SUGAR?!", "qgen", "dS", cands(50)),
        row("near", "how do leaves turn sunlight into sugars", "qgen", "dS", cands(50)),
        row("nopos", "a query with no candidates at all", "sent", "", []),
        row("fewneg", "a query with a short candidate list", "sent", "", cands(12)),
    ]
    c = make_candidates(tmp_path / "c", rows, texts={"dS": passage_text})
    qfolder = tmp_path / "queries"
    write_dataset(qfolder, {"queries": pa.Table.from_pylist(
        [{"query_id": r["query_id"], "query": r["query"], "source": r["source"], "language": "en"} for r in rows]
        + [{"query_id": "lost", "query": "never mined", "source": "qgen", "language": "en"}])},
        default="queries", card_body="")
    report = build(cfg(tmp_path, [{"candidates": c, "queries": str(qfolder)}]), progress=False)
    assert set(by_qid(tmp_path / "out")) == {"keep", "sentcopy"}
    removed = {r["query_id"]: r for r in read_table(tmp_path / "out", "removed").to_pylist()}
    assert {q: r["reason"] for q, r in removed.items()} == {
        "copy": "copy_rate", "short": "too_short", "long": "too_long", "dup": "duplicate",
        "near": "near_duplicate", "nopos": "no_positive", "fewneg": "too_few_negatives", "lost": "not_mined"}
    assert "c/keep" in removed["dup"]["detail"] and "c/keep" in removed["near"]["detail"]  # input name/query id
    assert report.rows == 2 and sum(report.removed.values()) == 8
    card = (tmp_path / "out" / "README.md").read_text()
    for reason in ("copy_rate", "near_duplicate", "not_mined", "too_few_negatives"):
        assert f"| {reason} |" in card


def test_rerank_filters(tmp_path):
    rows = [row(f"q{i}", q(i), "qgen", "", cands(20)) for i in range(3)]
    c = make_candidates(tmp_path / "c", rows, k=20)
    rr = make_rerank(tmp_path / "r", {"q0": [D(r) for r in range(1, 21)], "q1": [D(r) for r in range(1, 21)]},
                     {"q0": 0.9, "q1": 0.1})
    build(cfg(tmp_path, [{"candidates": c, "rerank": rr}], filters={"min_agreement": 0.5, "rerank_fallback": False}),
          progress=False)
    assert set(by_qid(tmp_path / "out")) == {"q0"}
    removed = {r["query_id"]: r["reason"] for r in read_table(tmp_path / "out", "removed").to_pylist()}
    assert removed == {"q1": "low_agreement", "q2": "not_reranked"}
    # by default a failed or disagreeing rerank falls back to the miner's order and the row's own rule
    build(cfg(tmp_path, [{"candidates": c, "rerank": rr}], filters={"min_agreement": 0.5},
              rules={"qgen": {"negatives": "11-20"}}), progress=False)
    t = by_qid(tmp_path / "out")
    assert {q: (r["rule"], r["rerank_fallback"]) for q, r in t.items()} == {
        "q0": ("rerank", ""), "q1": ("qgen", "disagreed"), "q2": ("qgen", "failed")}


def test_weak_miner_rules_source_positive_roundtrip_and_inverse_cloze(tmp_path):
    """The default (``miner: weak``): the source passage is the only positive; an LLM query whose source the
    miner does not rank in its top 20 is removed (round trip); a cropped sentence is cut out of its positive."""
    text = "Alpha beta gamma delta. The crop sentence is here. Epsilon zeta eta."
    rows = [row("q-in", "which passage answers this query", "qgen", D(5), cands(50)),
            row("q-out", "another query whose source is far", "qgen", D(25), cands(50)),
            row("s1", "The crop sentence is here.", "sent", D(2), cands(50))]
    c = make_candidates(tmp_path / "c", rows, k=50, texts={D(2): text})
    build(cfg(tmp_path, [{"candidates": c}], miner="weak"), progress=False)
    t = by_qid(tmp_path / "out")
    assert set(t) == {"q-in", "s1"}
    assert [p["docid"] for p in t["q-in"]["positive_passages"]] == [D(5)]
    negs = [p["docid"] for p in t["q-in"]["negative_passages"]]
    assert negs == [D(r) for r in range(10, 31)]  # ranks 3-30, those within 5% of the source's score guarded
    assert t["s1"]["positive_passages"][0]["text"] == "Alpha beta gamma delta. Epsilon zeta eta."
    removed = {r["query_id"]: (r["reason"], r["detail"]) for r in read_table(tmp_path / "out", "removed").to_pylist()}
    assert removed["q-out"][0] == "roundtrip" and "rank 25" in removed["q-out"][1]


def test_text_helpers():
    assert query_tokens("What's 黑豹队 doing?") == ["what", "s", "黑", "豹", "队", "doing"]
    assert copy_rate("light energy into chemical energy", "converts light energy into chemical energy") == 1.0
    assert copy_rate("how do plants eat", "converts light energy") == 0.0
    assert copy_rate("", "x") == 0.0
    assert copy_rate("energy", "light energy") == 1.0  # n shrinks to the query length
    assert normalise_query("  Héllo,   WORLD!! ") == "héllo world"
    d = Deduplicator(threshold=0.8)
    assert d.check("a", "what causes type 2 diabetes in adults") is None
    assert d.check("b", "What causes type-2 diabetes in adults?")[0] == "duplicate"
    kind, kept, sim = d.check("c", "what causes type 2 diabetes in adult")
    assert kind == "near_duplicate" and kept == "a" and sim >= 0.8
    assert d.check("d", "how is type 2 diabetes treated") is None


def test_near_dedup_is_fast_and_exact_enough():
    import time

    d = Deduplicator(threshold=0.8)
    texts = [q(i, n=8) for i in range(20000)]
    t = time.perf_counter()
    dups = sum(d.check(str(i), s) is not None for i, s in enumerate(texts))
    assert time.perf_counter() - t < 20
    assert dups == len(texts) - len({normalise_query(s) for s in texts})  # random texts: only exact repeats


# ---------------------------------------------------------------- mixing


def test_allocate_holds_ratios_within_rounding():
    for avail, ratios in [({"a": 7, "b": 5, "c": 3}, {"a": 2, "b": 1, "c": 1}),
                          ({"a": 1000, "b": 999, "c": 10}, {"a": 2, "b": 1, "c": 1}),
                          ({"a": 33, "b": 71}, {"a": 0.3, "b": 0.7}),
                          ({"a": 5, "b": 5, "c": 5}, {"a": 3, "b": 2, "c": 2})]:
        counts = allocate(avail, ratios)
        total = sum(counts.values())
        for g, r in ratios.items():
            assert counts[g] <= avail[g]
            assert abs(counts[g] - total * r / sum(ratios.values())) < 1
        # total is as large as the scarcest group allows
        assert total >= min(avail[g] * sum(ratios.values()) / r for g, r in ratios.items()) - len(ratios)
    assert allocate({"a": 7, "b": 5, "c": 3}, {"a": 2, "b": 1, "c": 1}) == {"a": 6, "b": 3, "c": 3}
    assert allocate({"a": 100, "b": 100}, {"a": 1, "b": 1}, total=11) in ({"a": 6, "b": 5}, {"a": 5, "b": 6})
    with pytest.raises(InputError, match="mix.ratios.b"):
        allocate({"a": 3, "b": 0}, {"a": 1, "b": 1})


def test_mixing_two_one_one_with_seed(tmp_path):
    sizes = {"english_web": 203, "multilingual_wiki": 150, "multilingual_web": 77}
    inputs = []
    for gi, (group, n) in enumerate(sizes.items()):
        rows = [row(f"{group}-{i}", q(i, seed=gi + 1), "qgen", "", cands(50)) for i in range(n)]
        inputs.append({"candidates": make_candidates(tmp_path / group, rows), "group": group})
    ratios = {"english_web": 2, "multilingual_wiki": 1, "multilingual_web": 1}  # the paper's mix
    build(cfg(tmp_path, inputs, mix_ratios=ratios, seed=3), progress=False)
    train = read_table(tmp_path / "out", "train").to_pylist()
    counts = {g: sum(r["group"] == g for r in train) for g in sizes}
    total = sum(counts.values())
    assert counts == {"english_web": 154, "multilingual_wiki": 77, "multilingual_web": 77}  # 77*4 = 308
    for g, r in ratios.items():
        assert abs(counts[g] - total * r / 4) < 1
    removed = read_table(tmp_path / "out", "removed").to_pylist()
    assert len(removed) == sum(sizes.values()) - total and {r["reason"] for r in removed} == {"mixing"}
    first = [r["query_id"] for r in train]
    build(cfg(tmp_path, inputs, mix_ratios=ratios, seed=3, output=str(tmp_path / "again")), progress=False)
    assert [r["query_id"] for r in read_table(tmp_path / "again", "train").to_pylist()] == first
    build(cfg(tmp_path, inputs, mix_ratios=ratios, seed=4, output=str(tmp_path / "other")), progress=False)
    assert [r["query_id"] for r in read_table(tmp_path / "other", "train").to_pylist()] != first
    assert len({r["group"] for r in train[:40]}) > 1  # shuffled, not one group after another


# ---------------------------------------------------------------- bad configs and inputs


def test_bad_configs_name_the_option(tmp_path):
    c = make_candidates(tmp_path / "c", [row("a", q(1), "qgen", "", cands(20))], k=20)
    inp = [{"candidates": c}]
    cases = [
        (dict(rules={"qgen": {"positives": [1, 10], "negatives": [5, 20]}}), r"rules.qgen: positives \[1, 10\] and negatives \[5, 20\] overlap"),
        (dict(rules={"qgen": {"positives": [0, 10]}}), r"rules.qgen.positives"),
        (dict(rules={"qgen": {"negatives": "30-x"}}), r"rules.qgen.negatives"),
        (dict(rules={"qgen": {"positives": None, "source_positive": False}}), r"rules.qgen: no positives possible"),
        (dict(rules={"qgen": {"bogus": 1}}), r"rules.qgen.bogus: unknown option"),
        (dict(mix_ratios={"default": 0}), r"mix.ratios.default: ratio must be a number > 0"),
        (dict(mix_ratios={"default": -1}), r"mix.ratios.default"),
        (dict(mix_ratios={"default": 1, "wiki": 1}), r"mix.ratios.wiki: no input has group 'wiki'"),
        (dict(filters={"max_copy_rate": 1.5}), r"filters.max_copy_rate"),
        (dict(filters={"max_copy": 0.5}), r"filters.max_copy: unknown option"),
    ]
    for over, pattern in cases:
        with pytest.raises(ConfigError, match=pattern):
            cfg(tmp_path, inp, **over)
    # k is known from the candidates: the paper's 30-50 negatives cannot come from a top-20 list
    with pytest.raises(ConfigError, match=r"rules.qgen.negatives: rank 50 exceeds k=20"):
        build(cfg(tmp_path, inp), progress=False)
    assert not (tmp_path / "out").exists()


def test_unknown_source_and_bad_rerank(tmp_path):
    c = make_candidates(tmp_path / "c", [row("a", q(1), "web", "", cands(50)), row("b", q(2), "web", "", cands(50))])
    with pytest.raises(ConfigError, match=r"unknown source 'web' \(2 rows, e.g. query 'a'\).*source_rules"):
        build(cfg(tmp_path, [{"candidates": c}]), progress=False)
    c2 = make_candidates(tmp_path / "c2", [row("a", q(1), "qgen", "", cands(20))], k=20)
    write_dataset(tmp_path / "bad", {"rankings": pa.table({"query_id": ["a"], "order": ["1 > 2"]})},
                  default="rankings", card_body="")
    with pytest.raises(InputError, match=r"lacks column\(s\) ranking"):
        build(cfg(tmp_path, [{"candidates": c2, "rerank": str(tmp_path / "bad")}]), progress=False)
    rr = make_rerank(tmp_path / "r", {"a": [D(r) for r in range(1, 20)] + ["zz"]})
    with pytest.raises(InputError, match=r"query 'a': docid 'zz' is not one of this query's candidates"):
        build(cfg(tmp_path, [{"candidates": c2, "rerank": rr}]), progress=False)
    rr = make_rerank(tmp_path / "r2", {"other": [D(1)]})
    with pytest.raises(InputError, match=r"query_id 'other' is not in the candidates"):
        build(cfg(tmp_path, [{"candidates": c2, "rerank": rr}]), progress=False)
    with pytest.raises(ConfigError, match="rules.rerank.negatives: rank 20 exceeds the rerank lists"):
        build(cfg(tmp_path, [{"candidates": c2, "rerank": make_rerank(tmp_path / "r3", {"a": [D(r) for r in range(1, 16)]})}]),
              progress=False)


# ---------------------------------------------------------------- output format


def tevatron_group(example, n_neg=7):
    """What Tevatron's training dataset does with a row: query, one positive, sampled negatives (texts)."""
    fmt = lambda p: (p["title"] + " " + p["text"]).strip()  # noqa: E731
    assert isinstance(example["query"], str) and example["positive_passages"]
    pos = fmt(example["positive_passages"][0])
    negs = [fmt(p) for p in example["negative_passages"]][:n_neg]
    return example["query"], pos, negs


def test_load_dataset_reads_tevatron_rows(tmp_path):
    from datasets import load_dataset

    rows = [row(f"q{i}", q(i), "qgen" if i % 2 else "sent", D(1), cands(50, source=D(1)),
                language="de" if i % 3 == 0 else "en") for i in range(12)]
    rows.append(row("again", q(3).upper(), "qgen", D(1), cands(50, source=D(1))))
    build(cfg(tmp_path, [{"candidates": make_candidates(tmp_path / "c", rows)}]), progress=False)
    ds = load_dataset(str(tmp_path / "out"), split="train")
    assert len(ds) == 12
    assert set(ds.column_names) >= {"query_id", "query", "positive_passages", "negative_passages", "source",
                                    "language"}
    feats = ds.features["positive_passages"]
    inner = feats.feature if hasattr(feats, "feature") else feats[0]
    assert set(inner) == {"docid", "title", "text", "score"}  # Tevatron's fields + the teacher score
    for ex in ds:
        query, pos, negs = tevatron_group(ex)
        assert query and pos.startswith("title d") and len(negs) == 7
        assert not {p["docid"] for p in ex["positive_passages"]} & {p["docid"] for p in ex["negative_passages"]}
    removed = load_dataset(str(tmp_path / "out"), "removed", split="train")
    assert removed[0]["query_id"] == "again" and removed[0]["reason"] == "duplicate"
    card = (tmp_path / "out" / "README.md").read_text()
    assert "| de | 4 |" in card and "| en | 8 |" in card and "| sent | 6 |" in card
    prov = json.loads((tmp_path / "out" / "provenance.json").read_text())
    assert prov["rows"] == 12 and prov["labels"]["qgen"]["mean_positives"] == 10


def test_cli_with_yaml_config_and_overrides(tmp_path):
    from drama_data.cli import main

    a = make_candidates(tmp_path / "a", [row(f"a{i}", q(i, seed=1), "qgen", "", cands(50)) for i in range(20)])
    make_candidates(tmp_path / "b", [row(f"b{i}", q(i, seed=2), "sent", "", cands(50)) for i in range(20)])
    conf = {"inputs": [{"candidates": "a", "group": "web"}, {"candidates": "b", "group": "wiki"}],
            "output": "train", "seed": 1, "miner": "strong", "rules": {"qgen": {"negatives": [30, 40]}},
            "mix": {"ratios": {"web": 1, "wiki": 1}}}
    path = tmp_path / "build.yaml"
    path.write_text(yaml.safe_dump(conf))
    res = CliRunner().invoke(main, ["build", "--config", str(path), "--negatives", "sent=20-25", "--no-progress"])
    assert res.exit_code == 0, res.output
    t = read_table(tmp_path / "train", "train").to_pylist()
    assert len(t) == 40
    assert all(len(r["negative_passages"]) == (11 if r["rule"] == "qgen" else 6) for r in t)
    res = CliRunner().invoke(main, ["build", "--config", str(path), "--mix", "web=0"])
    assert res.exit_code == 2 and "mix.ratios.web" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(main, ["build", "--candidates", a, "--output", str(tmp_path / "o"), "--positives",
                                    "qgen=1-10", "--negatives", "qgen=8-12"])
    assert res.exit_code == 2 and "overlap" in res.output


def test_nothing_removed_and_everything_removed(tmp_path):
    from drama_data.datasets.folder import read_card

    ok = make_candidates(tmp_path / "ok", [row("a", q(1), "qgen", "", cands(50))])
    build(cfg(tmp_path, [{"candidates": ok}]), progress=False)
    meta, body = read_card(tmp_path / "out")
    assert [c["config_name"] for c in meta["configs"]] == ["train", "sentence-transformers", "removed"] and "nothing was removed" in body
    assert read_table(tmp_path / "out", "removed").num_rows == 0  # an empty config, as the card's snippet says
    bad = make_candidates(tmp_path / "bad", [row("a", "hi", "qgen", "", cands(50)), row("b", q(2), "qgen", "", [])])
    with pytest.raises(InputError, match="no training rows left"):
        build(cfg(tmp_path, [{"candidates": bad}], output=str(tmp_path / "empty")), progress=False)
    assert {r["reason"] for r in read_table(tmp_path / "empty", "removed").to_pylist()} == {"too_short", "no_positive"}


def test_shipped_config_template_is_valid():
    from pathlib import Path

    import drama_data
    from drama_data.build.config import DEFAULT_FILTERS, DEFAULT_RULES

    path = Path(drama_data.__file__).parent / "templates" / "build.yaml"
    c = load_config(path)
    assert [i.group for i in c.inputs] == ["english_web", "english_web", "multilingual_wiki", "multilingual_web"]
    assert c.inputs[2].rerank.endswith("runs/wiki-rerank") and c.mix_ratios == {"english_web": 2,
                                                                                "multilingual_wiki": 1,
                                                                                "multilingual_web": 1}
    # the template documents the defaults: loading it changes nothing
    assert c.filters == DEFAULT_FILTERS
    for name, values in DEFAULT_RULES.items():
        r = c.rules[name]
        assert (list(r.positives) if r.positives else None) == values["positives"]
        assert list(r.negatives) == values["negatives"] and r.source_positive == values["source_positive"]
        assert r.fn_margin == values["fn_margin"]


def test_default_input_names_are_unique(tmp_path):
    c = load_config(None, inputs=[{"candidates": "a/cands"}, {"candidates": "b/cands"}, {"candidates": "x", "name": "x"}],
                    output="o")
    assert [i.name for i in c.inputs] == ["cands", "cands-1", "x"]
    with pytest.raises(ConfigError, match=r"inputs\[1\].name: 'x' is used twice"):
        load_config(None, inputs=[{"candidates": "a", "name": "x"}, {"candidates": "b", "name": "x"}], output="o")


def test_cli_several_inputs_with_a_ratio_each(tmp_path):
    from drama_data.cli import main

    a = make_candidates(tmp_path / "qgen-cands", [row(f"a{i}", q(i, seed=1), "qgen", "", cands(50)) for i in range(20)])
    b = make_candidates(tmp_path / "crop-cands", [row(f"b{i}", q(i, seed=2), "sent", "", cands(50)) for i in range(20)])
    out = str(tmp_path / "train")
    res = CliRunner().invoke(main, ["build", "--input", f"candidates={a},ratio=2", "--input",
                                    f"candidates={b},ratio=1,name=crop", "--output", out, "--no-progress", "--miner", "strong"])
    assert res.exit_code == 0, res.output
    t = read_table(out, "train").to_pylist()
    assert {n: sum(r["input"] == n for r in t) for n in ("qgen-cands", "crop")} == {"qgen-cands": 20, "crop": 10}
    assert "drama-data build: done" in res.output and "rows written     30" in res.output
    assert "mixed by input" in res.output and "crop 10/20 (ratio 1)" in res.output and "{" not in res.output
    res = CliRunner().invoke(main, ["build", "--input", f"candidates={a}", "--input", f"candidates={b}",
                                    "--output", out, "--no-progress", "--json", "--miner", "strong"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["rows"] == 40 and json.loads(res.stdout)["inputs"] == {"qgen-cands": 20,
                                                                                       "crop-cands": 20}
    # the same from YAML
    path = tmp_path / "build.yaml"
    path.write_text(yaml.safe_dump({"inputs": [{"candidates": "qgen-cands", "ratio": 1},
                                               {"candidates": "crop-cands", "ratio": 3}], "output": "y",
                                    "miner": "strong"}))
    res = CliRunner().invoke(main, ["build", "--config", str(path), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert len(read_table(tmp_path / "y", "train")) == 26  # 20 crop rows hold 3/4: 6 + 20 (largest total)


@pytest.mark.parametrize("args, message", [
    (["--candidates", "A", "--candidates", "B"], "--candidates given 2 times; for several inputs use --input"),
    (["--candidates", "A", "--queries", "Q1", "--queries", "Q2"], "--queries given 2 times"),
    (["--candidates", "A", "--input", "candidates=B"], "--candidates/--queries/--rerank and --input both given"),
    (["--input", "queries=Q"], "candidates=DIR is missing"),
    (["--input", "candidates=A,ratio=two"], "ratio: 'two' is not a number"),
    (["--input", "candidates=A,colour=red"], "unknown key 'colour'"),
    (["--input", "candidates=A", "--group", "web"], "--group applies to --candidates"),
    (["--candidates", "A", "--negatives", "qgen=30-50", "--negatives", "qgen=20-25"], "--negatives qgen= given twice"),
    (["--input", "candidates=A,ratio=1", "--input", "candidates=B"], "inputs[1].ratio: missing"),
    (["--input", "candidates=A,ratio=1", "--input", "candidates=B,ratio=1", "--mix", "x=1"],
     "ratios are given both per input"),
])
def test_cli_refuses_ambiguous_inputs(tmp_path, args, message):
    from drama_data.cli import main

    res = CliRunner().invoke(main, ["build", *args, "--output", str(tmp_path / "o")])
    assert res.exit_code == 2 and message in res.output, res.output
    assert "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_cli_help_shows_both_forms():
    from drama_data.cli import main

    res = CliRunner().invoke(main, ["build", "--help"])
    assert "--input candidates=runs/qgen-cands,queries=runs/qgen,ratio=1" in res.output
    assert "inputs:" in res.output and "--show-template" in res.output
    res = CliRunner().invoke(main, ["build", "--show-template"])
    assert res.exit_code == 0 and load_config  # the template parses (test_shipped_config_template_is_valid)
    assert "inputs:" in res.output and "ratio" in res.output


# ---------------------------------------------------------------- the card (golden text)

GOLDEN = Path(__file__).parent / "golden"


def card_text(tmp_path):
    """The output's README.md with the volatile parts (temporary paths, dates) replaced."""
    text = (tmp_path / "out" / "README.md").read_text(encoding="utf-8").replace(str(tmp_path), "<TMP>")
    return re.sub(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00", "<DATE>", text)


def test_card_matches_the_golden_text_with_mixing_rerank_and_removed_rows(tmp_path):
    """Every section filled: two groups mixed, a rerank input, a cross-lingual way, filters that removed rows."""
    web = [row(f"w{i}", q(i, seed=1), "qgen" if i % 3 else "sent", D(2), cands(50, source=D(2))) for i in range(12)]
    web += [row("copy", "text of passage d2", "qgen", D(2), cands(50)), row("nopos", q(99), "sent", "", [])]
    wiki = [row(f"k{i}", q(i, seed=2), "qgen", "", cands(20)) for i in range(6)]
    wiki.append({**row("x1", q(7, seed=3), "crosslingual", D(3), cands(50, source=D(3)), language="zh"),
                 "mined_with": "source_query"})
    a = make_candidates(tmp_path / "web", web)
    b = make_candidates(tmp_path / "wiki", wiki, k=20)
    rr = make_rerank(tmp_path / "rr", {f"k{i}": [D(r) for r in range(20, 0, -1)] for i in range(4)},
                     {f"k{i}": 0.25 * i for i in range(4)})
    build(cfg(tmp_path, [{"candidates": a, "group": "web"}, {"candidates": b, "rerank": rr, "group": "wiki"}],
              mix_ratios={"web": 2, "wiki": 1}, seed=5), progress=False)
    assert card_text(tmp_path) == (GOLDEN / "build_card_full.md").read_text(encoding="utf-8")


def test_card_matches_the_golden_text_when_nothing_was_removed(tmp_path):
    ok = make_candidates(tmp_path / "ok", [row("a", q(1), "qgen", "", cands(50))])
    build(cfg(tmp_path, [{"candidates": ok}]), progress=False)
    assert card_text(tmp_path) == (GOLDEN / "build_card_empty.md").read_text(encoding="utf-8")
