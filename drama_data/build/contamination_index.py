"""The contamination index: which evaluation queries and judged passages a text overlaps.

An evaluation collection is a BEIR folder (``corpus.jsonl[.gz]``, ``queries.jsonl``, ``qrels/<split>.tsv``);
only the queries of the split's qrels and the passages they judge count (``split`` defaults to ``test``).

- a query leaks when its normalised text equals an evaluation query's, or their character-trigram Jaccard
  similarity is at least ``query_threshold`` (0.8; MinHash LSH with exact verification, the same test as
  build's near-duplicate filter, :class:`drama_data.build.dedup.Deduplicator`);
- a passage leaks when at least ``passage_share`` (0.5) of its word ``passage_ngram``-grams (8; the n-gram
  overlap test of LLM contamination studies, shorter than GPT-3's 13 because passages are short) occur in one
  judged passage, or, for a passage shorter than n words, when its normalised text equals a judged passage's.

In: BEIR folders (:func:`load_index`). Out: a :class:`ContaminationIndex`, built once from the collections (its
memory grows with them, not with the dataset), that answers per query / per passage. Used by
``build --exclude-contaminated`` and by ``drama-data report --contamination``
(:mod:`drama_data.report.contamination` streams a dataset's rows through it).
"""
from __future__ import annotations

import collections
import csv
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from drama_data.beir import corpus_file
from drama_data.build.dedup import Deduplicator
from drama_data.build.filters import normalise_query, query_tokens
from drama_data.corpus import iter_jsonl
from drama_data.errors import InputError


@dataclass
class EvalCollection:
    """The queries of one split's qrels and the passages they judge: ``{id: text}`` each."""

    name: str
    folder: str
    split: str
    queries: dict[str, str] = field(default_factory=dict)
    judged: dict[str, str] = field(default_factory=dict)


def load_eval_collection(folder: str | Path, split: str = "test") -> EvalCollection:
    """Read the ``split`` queries and judged passages of a BEIR folder (errors name the file)."""
    from drama_data.sources import local_path

    folder = local_path(folder, "--contamination", kind="folder")
    qrels = folder / "qrels" / f"{split}.tsv"
    if not qrels.is_file():
        raise InputError(f"--contamination {folder}: no qrels/{split}.tsv (a BEIR folder is needed)")
    pairs: dict[str, set[str]] = collections.defaultdict(set)
    with open(qrels, encoding="utf-8") as fh:
        for n, row in enumerate(csv.reader(fh, delimiter="\t"), start=1):
            if not row or (n == 1 and row[0].lower() in ("query-id", "qid", "query_id")):
                continue
            if len(row) < 3:
                raise InputError(f"{qrels}:{n}: expected query-id, corpus-id, score")
            try:
                if float(row[2]) <= 0:
                    continue
            except ValueError:
                raise InputError(f"{qrels}:{n}: score {row[2]!r} is not a number") from None
            pairs[row[0]].add(row[1])
    coll = EvalCollection(name=folder.name, folder=str(folder), split=split)
    qfile = folder / "queries.jsonl"
    if not qfile.is_file():
        raise InputError(f"--contamination {folder}: no queries.jsonl")
    for _lineno, obj in iter_jsonl(qfile):
        qid = str(obj.get("_id", obj.get("id", "")))
        if qid in pairs:
            coll.queries[qid] = str(obj.get("text") or "")
    docs = {d for ds in pairs.values() for d in ds}
    cfile = corpus_file(folder)
    if cfile is None:
        raise InputError(f"--contamination {folder}: no corpus.jsonl[.gz]")
    for _lineno, obj in iter_jsonl(cfile):
        did = str(obj.get("_id", obj.get("id", "")))
        if did in docs:
            coll.judged[did] = " ".join(x for x in (obj.get("title") or "", obj.get("text") or "") if x)
    return coll


def _grams(text: str, n: int) -> list[int]:
    toks = query_tokens(text)
    return [zlib.crc32(" ".join(toks[i:i + n]).encode("utf-8")) for i in range(len(toks) - n + 1)]


class ContaminationIndex:
    """Answers ``query(text)`` and ``passage(text)`` against evaluation collections (see module doc)."""

    def __init__(self, collections_: list[EvalCollection], *, query_threshold: float = 0.8,
                 passage_ngram: int = 8, passage_share: float = 0.5):
        self.collections = collections_
        self.query_threshold = query_threshold
        self.passage_ngram = passage_ngram
        self.passage_share = passage_share
        self._queries = Deduplicator(exact=True, threshold=query_threshold, ngram=3)
        self._grams: dict[int, list[str]] = {}
        self._short: dict[str, str] = {}
        for c in collections_:
            for qid, text in c.queries.items():
                self._queries.check(f"{c.name}:{qid}", text)  # the first of equal evaluation queries names them
            for did, text in c.judged.items():
                key = f"{c.name}:{did}"
                self._short.setdefault(normalise_query(text), key)
                for g in set(_grams(text, passage_ngram)):
                    self._grams.setdefault(g, []).append(key)

    def describe(self) -> list[dict]:
        return [{"name": c.name, "folder": c.folder, "split": c.split, "queries": len(c.queries),
                 "judged_passages": len(c.judged)} for c in self.collections]

    def query(self, text: str) -> dict | None:
        """``{"eval_id": "<collection>:<query id>", "similarity"}`` of the evaluation query ``text`` matches."""
        hit = self._queries.find(text)
        return {"eval_id": hit[1], "similarity": hit[2]} if hit else None

    def passage(self, text: str) -> dict | None:
        """``{"eval_id": "<collection>:<doc id>", "overlap"}`` of the judged passage ``text`` overlaps."""
        grams = set(_grams(text, self.passage_ngram))
        if not grams:
            key = self._short.get(normalise_query(text))
            return {"eval_id": key, "overlap": 1.0} if key and normalise_query(text) else None
        hits = collections.Counter(k for g in grams for k in self._grams.get(g, ()))
        if not hits:
            return None
        key, n = min(hits.items(), key=lambda kv: (-kv[1], kv[0]))
        share = n / len(grams)
        return {"eval_id": key, "overlap": round(share, 4)} if share >= self.passage_share else None


def load_index(folders: list[str], split: str = "test") -> ContaminationIndex:
    """The index of the ``split`` queries and judged passages of the BEIR ``folders`` (errors name the folder)."""
    return ContaminationIndex([load_eval_collection(f, split) for f in folders])
