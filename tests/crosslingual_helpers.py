"""Helpers of the cross-lingual mining and build tests: three queries over the shipped XQuAD-R Chinese sample
(a German translation of a Chinese query, a direct German query, an in-language Chinese query)."""
import re
from pathlib import Path

import pyarrow as pa
import pytest

import drama_data
from drama_data.chunking import load_passages
from drama_data.datasets.folder import write_dataset
from drama_data.mining.mine import mine

ZH = Path(drama_data.__file__).parent / "samples" / "xquad-r-zh-sample"
HAN = re.compile(r"[\u4e00-\u9fff]")


def _row(qid, query, pid, language, source="crosslingual", method="translate", source_query="",
         source_language="", passage_language="zh"):
    return {"query_id": qid, "query": query, "passage_id": pid, "source": source, "language": language,
            "passage_language": passage_language, "method": method, "source_query_id": "", "source_query": source_query,
            "source_language": source_language}


@pytest.fixture()
def queries(tmp_path):
    ids = {p.id for p in load_passages(str(ZH))[0]}
    assert {"p0s0", "p0s1", "p0s2"} <= ids
    rows = [
        # translate: a German translation of a Chinese query about p0s0
        _row("t1", "Wie viele Punkte gab die Verteidigung der Panthers ab?", "p0s0", "de",
             source_query="黑豹队的防守丢了多少分", source_language="zh"),
        # direct: a German query written for p0s1, no source query
        _row("d1", "Wer führte das Team der Panthers mit Sacks an?", "p0s1", "de", method="direct"),
        # in-language Chinese query: mined with itself
        _row("z1", "马里奥·爱迪生贡献了几次擒杀", "p0s2", "zh", source="qgen", method=""),
    ]
    folder = tmp_path / "queries"
    write_dataset(folder, {"queries": pa.Table.from_pylist(rows)}, default="queries", card_body="test")
    return folder


def mine_zh(queries, tmp_path, name="cands", **kw):
    return mine(queries, str(ZH), tmp_path / name, k=21, retriever_options={"language": "zh"},
                work_dir=tmp_path / "work", progress=False, **kw)


