"""The mine stage's README.md card: byte-identical to a golden copy (dates, timings and temporary paths
normalised), so moving the card's text into ``cards/mine_card.md.j2`` changes nothing a user sees."""
import re
from pathlib import Path

from mining_helpers import write_queries  # noqa: E402

from drama_data.chunking import load_passages
from drama_data.mining.mine import mine

GOLDEN = Path(__file__).parent / "golden" / "mine_card.md"


def normalise(text: str, tmp_path: Path, sample_dir: Path) -> str:
    """The card with the volatile parts replaced: temporary and sample paths, dates, timings."""
    text = text.replace(str(tmp_path), "<TMP>").replace(str(sample_dir), "<SAMPLE>")
    text = re.sub(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+00:00", "<DATE>", text)
    return re.sub(r"Timings \(s\): \{.*?\}\.", "Timings (s): <TIMINGS>.", text)


def test_mine_card_matches_the_golden_text(tmp_path, sample_dir, sample_queries, sample_qrels):
    passages, _ = load_passages(str(sample_dir))
    first_chunk = {}
    for p in passages:
        first_chunk.setdefault(p.doc_id, p.id)
    rows = [{"query_id": qid, "query": text if i != 3 else " ", "passage_id": first_chunk[sample_qrels[qid][0]],
             "source": "qgen" if i % 2 else "sent", "language": "en"} for i, (qid, text) in enumerate(sample_queries)]
    queries = write_queries(tmp_path / "queries", rows)
    mine(queries, str(sample_dir), tmp_path / "out", k=7, work_dir=tmp_path / "work", progress=False)
    card = normalise((tmp_path / "out" / "README.md").read_text(encoding="utf-8"), tmp_path, sample_dir)
    assert card == GOLDEN.read_text(encoding="utf-8")
