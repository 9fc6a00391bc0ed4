"""The ``sentence-transformers`` config of a ``build`` output: the training rows in the layout that
sentence-transformers' ``SentenceTransformerTrainer`` and its losses take.

In: the ``train`` rows (:func:`drama_data.build.stage._train_rows`: Tevatron passages with their miner
``score``) and ``negatives`` (``n``, the number of negative columns). Out (:func:`st_table`): a table with the
columns ``anchor, positive, negative_1, ..., negative_n`` and, when every row carries teacher scores, ``scores``
(``list<float32>`` of ``n + 1``: the score of the positive, then of each negative), plus :class:`StStats`.

The layout is sentence-transformers 6.2's own "n-tuple" (``sentence_transformers.util.mine_hard_negatives``
with ``output_format="n-tuple", output_scores=True``): its trainer feeds every column but the label to the loss
in order (anchor, positive, negatives) and takes the label from the first of ``label, labels, score, scores``
it finds. ``MultipleNegativesRankingLoss`` / ``CachedMultipleNegativesRankingLoss`` use the texts and ignore
``scores``; ``MarginMSELoss`` takes ``scores`` of shape ``(batch, n + 1)`` and turns them into margins
(positive minus each negative); ``DistillKLDivLoss`` takes the same shape as the teacher's logits. The scores
are the miner's (BM25 scores or a dense encoder's similarities), not calibrated to the student's: pick the
distillation loss's temperature to their spread.

One row per training query, in the ``train`` config's order (row ``i`` here is row ``i`` there):

- ``anchor``: the query; ``positive``: the row's first positive (the best-ranked: the source passage under the
  weak-miner rules, the reranked top-1 under ``rerank``), as ``title text`` (a space between, the title left out
  when empty: Tevatron's and ``drama-models``' convention). Further positives stay in the ``train`` config and
  are counted (``extra_positives``): several rows of one query in a batch would be each other's in-batch negatives.
- ``negative_1..n``: the row's first ``n`` negatives (best-ranked first: the hardest, as ``mine_hard_negatives``'
  default ``sampling_strategy="top"``). A row with fewer negatives repeats its own in order to fill the columns
  (as ``drama-models train`` and Tevatron sample with replacement from a short list); such rows are counted
  (``padded_rows``). A row with no negative at all (a rule with ``min_negatives: 0``) cannot fill them and is
  left out of this config, counted (``rows_without_negatives``); it stays in ``train``.
- ``scores``: written when every row's positive and negatives have a miner score; otherwise the column is left
  out and the rows lacking one are counted (``rows_without_scores``), since a loss cannot take a null score. With
  ``require_scores`` (``--st-require-scores``, for distillation) those rows are left out of this config instead
  (counted the same way; they stay in ``train``) and the column is written. (Under the weak-miner rules a
  positive the miner did not rank, a source passage outside its top k, has no score.)
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import pyarrow as pa

from drama_data.beir import join_title

CONFIG = "sentence-transformers"
#: the default number of negative columns: the DRAMA paper's training group of 1 positive and 7 negatives
DEFAULT_NEGATIVES = 7
SCORES = "scores"


@dataclass
class StStats:
    """What :func:`st_table` made of the rows (the card, the summary and provenance.json show it)."""

    config: str = CONFIG
    rows: int = 0
    negatives: int = DEFAULT_NEGATIVES
    columns: list[str] | None = None
    scores: bool = False
    extra_positives: int = 0
    padded_rows: int = 0
    rows_without_negatives: int = 0
    rows_without_scores: int = 0
    require_scores: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


def passage_text(p: dict) -> str:
    """A passage struct as one string: ``title text`` (title left out when empty; Tevatron's convention,
    :func:`drama_data.beir.join_title`, which ``drama-models`` train and evaluate use too)."""
    return join_title(p.get("title") or "", p.get("text") or "")


def st_columns(negatives: int, scores: bool) -> list[str]:
    """The config's column names, in the order the trainer hands them to the loss."""
    return ["anchor", "positive", *(f"negative_{i}" for i in range(1, negatives + 1)), *([SCORES] if scores else [])]


def st_table(train_rows: list[dict], negatives: int = DEFAULT_NEGATIVES, require_scores: bool = False
             ) -> tuple[pa.Table, StStats]:
    """The ``sentence-transformers`` config of ``train_rows`` with ``negatives`` negative columns (see the module
    docstring; ``require_scores``: leave out the rows without a score for each passage); returns ``(table, stats)``."""
    if not isinstance(negatives, int) or isinstance(negatives, bool) or negatives < 0:
        raise ValueError(f"negatives must be an integer >= 0, got {negatives!r}")
    stats = StStats(negatives=negatives, require_scores=require_scores)
    rows: list[tuple[list[str], list[float | None]]] = []
    for r in train_rows:
        pos, neg = r["positive_passages"], r["negative_passages"]
        stats.extra_positives += max(0, len(pos) - 1)
        if negatives and not neg:
            stats.rows_without_negatives += 1
            continue
        if len(neg) < negatives:
            stats.padded_rows += 1
        chosen = [neg[i % len(neg)] for i in range(negatives)]
        passages = [pos[0], *chosen]
        rows.append(([r["query"] or "", *(passage_text(p) for p in passages)], [p.get("score") for p in passages]))
    stats.rows_without_scores = sum(any(s is None for s in scores) for _, scores in rows)
    if require_scores:
        rows = [(texts, scores) for texts, scores in rows if not any(s is None for s in scores)]
    stats.scores = bool(rows) and not any(s is None for _, scores in rows for s in scores)
    stats.columns = st_columns(negatives, stats.scores)
    stats.rows = len(rows)
    text_columns = stats.columns[: 2 + negatives]
    data = {name: [texts[j] for texts, _ in rows] for j, name in enumerate(text_columns)}
    fields = [(name, pa.string()) for name in text_columns]
    if stats.scores:
        data[SCORES] = [scores for _, scores in rows]
        fields.append((SCORES, pa.list_(pa.float32())))
    return pa.Table.from_pydict(data, schema=pa.schema(fields)), stats
