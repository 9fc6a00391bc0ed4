"""What a ``mine`` run did: :class:`MineReport` (counts, timings, the cross-lingual plan), written into the card
and ``provenance.json``; ``render()`` is the summary ``drama-data mine`` prints, ``as_dict()`` its ``--json``."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from drama_data.mining.config import DEFAULT_K
from drama_data.plurals import plural


@dataclass
class MineReport:
    """What a mine run did (also written into the card and provenance.json)."""

    output: str
    queries: int = 0
    passages: int = 0
    k: int = DEFAULT_K
    k_effective: int = DEFAULT_K
    retriever: dict = field(default_factory=dict)
    index_reused: bool = False
    chunks_reused: int = 0
    chunks_total: int = 0
    no_candidates: int = 0
    empty_queries: int = 0
    with_source: int = 0
    source_retrieved: int = 0
    source_rank_1: int = 0
    mean_candidates: float = 0.0
    cross_lingual: str = "auto"  # the --cross-lingual mode
    cross_lingual_rows: int = 0
    mined_with: dict = field(default_factory=dict)  # way -> rows ("query", "source_query", "passage")
    cross_lingual_line: str = ""
    seconds: dict = field(default_factory=dict)
    queries_from: str = ""  # the queries dataset folder that was mined

    def as_dict(self) -> dict:
        return asdict(self)

    def render(self) -> str:
        """The one-screen summary the CLI prints (``--json`` prints :meth:`as_dict`)."""
        def pct(n: int) -> str:
            return f"{100 * n / self.with_source:.1f}%" if self.with_source else "-"

        sec = self.seconds or {}
        lines = [
            f"drama-data mine: done in {sec.get('total', 0.0):.1f} s",
            f"  retriever        {self.retriever.get('describe') or self.retriever.get('name', '-')}",
            f"  queries          {self.queries} ({self.empty_queries} with an empty text)",
            (f"  passages         {self.passages} (index {'reused' if self.index_reused else 'built'}; "
             f"{self.chunks_reused} of {plural(self.chunks_total, 'chunk')} reused)"),
            (f"  candidates       top {self.k_effective} (asked {self.k}), {self.mean_candidates:g} per query; "
             f"{plural(self.no_candidates, 'query', 'queries')} with none"),
            (f"  source passage   retrieved for {self.source_retrieved} of "
             f"{plural(self.with_source, 'query', 'queries')} ({pct(self.source_retrieved)}), at rank 1 for "
             f"{self.source_rank_1} ({pct(self.source_rank_1)})"
             + (f" (not counting {self.mined_with['passage']} searched with their passage's text)" if
                self.mined_with.get("passage") else "")),
            f"  cross-lingual    {self.cross_lingual_line or '-'}",
            f"  output           {self.output}",
            (f"  next             drama-data build --candidates {self.output} --queries {self.queries_from or 'QUERIES'} "
             "--output DIR"),
        ]
        return "\n".join(lines)
