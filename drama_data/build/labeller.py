"""Labelling and filtering the candidate rows of ``build``, one at a time (:class:`Labeller`): the first reason
that applies removes a row (recorded with :func:`removed_row`), else its rule's positives and negatives keep it.
See :mod:`drama_data.build.stage` for the order of the reasons.
"""
from __future__ import annotations

import collections

from drama_data.build.config import BuildConfig, Rule
from drama_data.build.dedup import Deduplicator
from drama_data.build.filters import copy_rate, query_tokens
from drama_data.build.inputs import LoadedInput, rule_of
from drama_data.build.labelling import label
from drama_data.errors import InputError


def removed_row(row: dict, inp: LoadedInput, rule: str, reason: str, detail: str) -> dict:
    return {"query_id": row["query_id"], "query": row.get("query") or "", "source": row.get("source") or "",
            "language": row.get("language") or "", "input": inp.spec.name, "group": inp.spec.group,
            "rule": rule or "", "reason": reason, "detail": detail, "mined_with": row.get("mined_with") or ""}


class Labeller:
    """Labels candidate rows one at a time, in input order: ``label(inp, row)`` appends the row to ``kept`` (with
    its positives and negatives) or to ``removed`` (with the first reason that applies, see the module doc)."""

    def __init__(self, cfg: BuildConfig) -> None:
        self.cfg, f = cfg, cfg.filters
        self.f = f
        self.dedup = Deduplicator(exact=bool(f["dedup_exact"]), threshold=f["near_dup_threshold"],
                                  ngram=f["near_dup_ngram"])
        self.leaks = None
        if f.get("exclude_contaminated"):
            from drama_data.build.contamination_index import load_index

            self.leaks = load_index(list(f["exclude_contaminated"]), f.get("contamination_split") or "test")
        self.passage_leak: dict[tuple[str, str], dict | None] = {}
        self.kept: list[dict] = []
        self.removed: list[dict] = []
        self.fn_dropped: collections.Counter = collections.Counter()
        self.fallbacks: collections.Counter = collections.Counter()

    def _drop(self, row: dict, inp: LoadedInput, rule: str | None, reason: str, detail: str) -> None:
        self.removed.append(removed_row(row, inp, rule, reason, detail))

    def label(self, inp: LoadedInput, row: dict) -> None:
        cfg = self.cfg
        rule_name = rule_of(row["source"], inp, cfg)
        query = row["query"] or ""
        source_id = row["source_passage_id"] or ""
        trusted = self._ranking(inp, row, rule_name)
        if trusted is None:
            return
        rr, fallback, agreement = trusted
        if fallback:  # the miner's order and the row's own rule instead of an untrusted ranking
            rule_name = cfg.source_rules.get(row["source"] or "", rule_name)
            self.fallbacks[fallback] += 1
        rule: Rule = cfg.rules[rule_name]
        reason = self._filter(inp, row, query, source_id)
        if reason:
            self._drop(row, inp, rule_name, *reason)
            return
        cands = row["candidates"] or []
        scores = {c["docid"]: float(c["score"]) for c in cands if c.get("score") is not None}
        if rr is not None:
            known = {c["docid"] for c in cands}
            stray = [d for d in rr["ranking"] if d not in known]
            if stray:
                raise InputError(f"{inp.spec.name}: rerank output {inp.spec.rerank} row {rr['row']}, query "
                                 f"{row['query_id']!r}: docid {stray[0]!r} is not one of this query's candidates")
        ranking = rr["ranking"] if rule.ranking == "rerank" else [c["docid"] for c in cands]
        if rule.roundtrip_top and source_id and source_id not in ranking[:rule.roundtrip_top]:
            where = ranking.index(source_id) + 1 if source_id in ranking else None
            self._drop(row, inp, rule_name, "roundtrip", f"source passage {source_id!r} at rank "
                       f"{where or f'> {len(ranking)}'}, not in the top {rule.roundtrip_top}")
            return
        lab = label(rule, ranking, scores, source_id, cfg.fn_mode)
        if lab.reason:
            self._drop(row, inp, rule_name, lab.reason, lab.detail)
            return
        what = self._contamination(inp, query, [source_id] if source_id else [], lab)
        if what:
            self._drop(row, inp, rule_name, "contaminated", what)
            return
        dup = self.dedup.check(f"{inp.spec.name}/{row['query_id']}", query)
        if dup is not None:
            kind, kept_key, sim = dup
            self._drop(row, inp, rule_name, kind, f"of {kept_key} (similarity {sim})")
            return
        self.fn_dropped[rule_name] += len(lab.fn_dropped)
        self.kept.append({"row": row, "inp": inp, "rule": rule_name, "pos": lab.positives, "neg": lab.negatives,
                          "agreement": agreement, "fallback": fallback, "scores": scores})

    def _ranking(self, inp: LoadedInput, row: dict, rule_name: str | None):
        """The row's LLM ranking, if trusted: ``(ranking or None, fallback, agreement)``; ``None`` when the row
        is removed (``not_reranked``, ``low_agreement`` without ``rerank_fallback``)."""
        f = self.f
        rr = inp.rerank.get(row["query_id"]) if inp.rerank is not None else None
        fallback = ""
        if inp.rerank is not None and (rr is None or not rr["ranking"]):
            if not f["rerank_fallback"]:
                self._drop(row, inp, rule_name, "not_reranked", "no ranking for this query in the rerank output")
                return None
            rr, fallback = None, "failed"
        agreement = rr.get("agreement") if rr else None
        if rr is not None and f["min_agreement"] is not None and agreement is not None \
                and agreement < f["min_agreement"]:
            if not f["rerank_fallback"]:
                self._drop(row, inp, rule_name, "low_agreement", f"Kendall tau {agreement:.3f} < {f['min_agreement']}")
                return None
            rr, fallback = None, "disagreed"
        return rr, fallback, agreement

    def _filter(self, inp: LoadedInput, row: dict, query: str, source_id: str) -> tuple[str, str] | None:
        """``(reason, detail)`` when the query's length or its copy rate from its source passage removes it."""
        f = self.f
        n_tok = len(query_tokens(query))
        if f["min_query_tokens"] is not None and n_tok < f["min_query_tokens"]:
            return "too_short", f"{n_tok} tokens < {f['min_query_tokens']}"
        if f["max_query_tokens"] is not None and n_tok > f["max_query_tokens"]:
            return "too_long", f"{n_tok} tokens > {f['max_query_tokens']}"
        if f["max_copy_rate"] is not None and source_id and (row["source"] or "") in f["copy_rate_sources"]:
            p = inp.passages.get(source_id)
            if p is not None:
                rate = copy_rate(query, p[1], f["copy_ngram"])
                if rate > f["max_copy_rate"]:
                    return "copy_rate", f"{rate:.3f} > {f['max_copy_rate']} ({f['copy_ngram']}-grams of {source_id!r})"
        return None

    def _contamination(self, inp: LoadedInput, query: str, source: list[str], lab) -> str:
        """What of the row overlaps an evaluation collection (``""``: nothing, or no collection given)."""
        if self.leaks is None:
            return ""
        hit = self.leaks.query(query)
        what = f"query ~ {hit['eval_id']} (similarity {hit['similarity']})" if hit else ""
        for d in source + list(lab.positives) + list(lab.negatives):
            if what:
                break
            key = (inp.spec.name, d)
            if key not in self.passage_leak:
                text = inp.passages.get(d, ("", ""))[1]
                self.passage_leak[key] = self.leaks.passage(text) if text else None
            if self.passage_leak[key]:
                what = f"passage {d!r} ~ {self.passage_leak[key]['eval_id']} (overlap {self.passage_leak[key]['overlap']})"
        return what
