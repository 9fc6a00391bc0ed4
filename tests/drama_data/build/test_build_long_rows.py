"""``build`` keeps long passages whole (no cut, no drop by passage length: issue 30 part 3, long-context rows) and
reads a queries dataset whose rows carry ``generate``'s answer position columns (``answer_start``,
``answer_end``, ``answer_depth``) without failing."""
import pyarrow as pa

from drama_data.build import build
from drama_data.build.config import load_config
from drama_data.datasets.folder import read_table, write_dataset
from drama_data.mining.mine import CANDIDATES_SCHEMA, PASSAGES_SCHEMA


def test_long_passages_stay_whole_and_answer_columns_are_accepted(tmp_path):
    long_text = " ".join(f"word{i}" for i in range(40_000))  # ~300k characters, tens of thousands of tokens
    cands = [{"docid": f"d{r}", "score": float(100 - r), "rank": r, "is_source": r == 1} for r in range(1, 51)]
    rows = [{"query_id": f"q{i}", "query": ["where do the counted words begin", "how long is this very long text",
                                             "what number follows after word nineteen"][i], "source": "qgen",
             "language": "en", "source_passage_id": "d1", "source_rank": 1, "candidates": cands, "retriever": "t"}
            for i in range(3)]
    passages = [{"id": f"d{r}", "doc_id": f"d{r}", "title": "", "text": long_text if r == 1 else f"text {r}"}
                for r in range(1, 51)]
    write_dataset(tmp_path / "c", {"candidates": pa.Table.from_pylist(rows, schema=CANDIDATES_SCHEMA),
                                   "passages": pa.Table.from_pylist(passages, schema=PASSAGES_SCHEMA)},
                  default="candidates", card_body="test", card_meta={"drama_mine": {"k": 50, "k_effective": 50}})
    queries = [{"query_id": f"q{i}", "query": rows[i]["query"] if i < 3 else "a query mined nowhere here",
                "source": "qgen", "language": "en", "source_passage_id": "d1", "answer_start": 10 * i,
                "answer_end": 10 * i + 5, "answer_depth": i / 4} for i in range(4)]
    write_dataset(tmp_path / "q", {"queries": pa.Table.from_pylist(queries)}, default="queries", card_body="test")
    cfg = load_config(None, inputs=[{"candidates": str(tmp_path / "c"), "queries": str(tmp_path / "q")}],
                      output=str(tmp_path / "out"), miner="strong")
    build(cfg, progress=False)
    train = {r["query_id"]: r for r in read_table(tmp_path / "out", "train").to_pylist()}
    removed = read_table(tmp_path / "out", "removed").to_pylist()
    assert set(train) == {"q0", "q1", "q2"}, removed
    for r in train.values():
        first = r["positive_passages"][0]
        assert first["docid"] == "d1" and first["text"] == long_text  # end to end
