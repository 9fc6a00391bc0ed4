"""The report's card section and side-by-side comparison: byte-identical to golden copies (captured from the
f-string text before it moved into ``cards/quality_report.md.j2`` and ``cards/compare.md.j2``)."""
from __future__ import annotations

import copy
from pathlib import Path

from drama_data.report.render import compare_page, compare_text, section

GOLDEN = Path(__file__).parent / "golden"


def base_stats() -> dict:
    return {
        "rows": 1234,
        "kind": "queries",
        "query_length": {"mean": 9.5, "median": 9, "p5": 4, "p95": 17, "min": 2, "max": 31},
        "languages": {"column": "language", "declared": {"en": 900, "de": 200, "zh": 100, "fr": 20, "es": 10,
                                                         "it": 3, "pt": 1},
                      "detected": {"en": 880, "de": 210, "zh": 100}, "mismatch": 23},
        "copy_rate": {"mean": 0.4123, "median": 0.4, "n": 1234, "threshold": 0.8, "at_or_above": 12,
                      "share_at_or_above": 0.0097},
        "duplicates": {"exact": 3, "exact_rate": 0.0024, "near": 7, "near_rate": 0.0057, "threshold": 0.9,
                       "judged_rows": 1234},
        "failures": {"attempts_by_reason": {"parse": 5, "language": 2}, "failed_slots": 4, "rate": 0.0032},
        "sample": {"complete": True, "rows": 1234, "of": 1234, "seed": 0},
    }


def variants() -> dict[str, dict]:
    """name -> stats."""
    out = {"generate": base_stats()}
    s = base_stats()
    s["languages"] = {"column": None, "declared": {}, "detected": {"en": 10}, "mismatch": 0}
    s["copy_rate"] = {"mean": 0.0, "median": 0, "n": 0, "threshold": 0.8, "at_or_above": 0, "share_at_or_above": 0}
    s["failures"] = {"removed_by_reason": {"no_positive": 3}, "removed": 3, "rate": 0.25}
    s["labels"] = {"positives_per_query": {"mean": 1.5, "min": 1, "max": 3},
                   "negatives_per_query": {"mean": 7.0, "min": 2, "max": 7},
                   "positive_ranks": {"histogram": {str(i): 10 - i for i in range(1, 11)}}}
    s["sample"] = {"complete": False, "rows": 50000, "of": 2000000, "seed": 13}
    s["duplicates"].update({"estimated_exact": 1200, "estimated_near": 3400, "judged_rows": 50000})
    out["build_sampled"] = s
    s = copy.deepcopy(base_stats())
    s["failures"] = {"queries_with_repaired_windows": 2, "rate": 0.1}
    s["failures_empty"] = True
    s["contamination"] = {
        "query_leaks": 60, "passage_leaks": 1,
        "collections": [{"name": "scifact", "split": "test", "queries": 300, "judged_passages": 339},
                        {"name": "nfcorpus", "split": "test", "queries": 323, "judged_passages": 12334}],
        "rules": {"query_threshold": 0.6, "passage_share": 0.5, "passage_ngram": 8},
        "queries": [{"id": f"q{i}", "eval_id": f"e{i}", "similarity": round(0.6 + i / 1000, 3)} for i in range(60)],
        "passages": [{"id": "p1", "eval_id": "d9", "overlap": 0.75}],
    }
    out["rerank_contaminated"] = s
    s = base_stats()
    s["failures"] = {"attempts_by_reason": {}, "failed_slots": 0, "rate": 0.0}
    s["contamination"] = {"query_leaks": 0, "passage_leaks": 0,
                          "collections": [{"name": "scifact", "split": "dev", "queries": 5, "judged_passages": 5}],
                          "rules": {"query_threshold": 0.6, "passage_share": 0.5, "passage_ngram": 8},
                          "queries": [], "passages": []}
    out["clean"] = s
    return out


FIGURES = [("Query length", "query_length.png"), ("Languages", "languages.png")]


def test_quality_section_and_comparison_match_the_golden_text():
    vs = variants()
    parts = [f"===== section {name}\n" + section(s, FIGURES if name != "clean" else []) for name, s in vs.items()]
    parts.append("===== compare\n" + compare_text(vs))
    text = "".join(p if p.endswith("\n") else p + "\n" for p in parts)
    assert text == (GOLDEN / "quality_report.md").read_text(encoding="utf-8")



def test_compare_page_matches_the_golden_text():
    page = compare_page(compare_text(variants()), [("Query length", "query_length.png"), ("Languages", "languages.png")])
    assert page == (GOLDEN / "compare.md").read_text(encoding="utf-8")
