"""``mine`` over a ``generate --pack-tokens`` output reads the same packed documents (the option recorded in
provenance.json), so candidates and sources are packed ids."""
import json

from fake_backend import FakeBackend

from drama_data.datasets.folder import read_table
from drama_data.generate.runner import CorpusOptions, generate
from drama_data.mining.mine import mine
from drama_data.tasks import get_task


def test_mine_finds_the_packed_documents_generate_used(tmp_path, sample_dir):
    corpus = CorpusOptions(str(sample_dir), pack_tokens=1000)
    summary = generate(get_task("queries"), corpus, tmp_path / "q", backend=FakeBackend(), cache=None,
                       progress=False, echo=None, limit=4)
    assert summary.rows == 4
    queries = read_table(tmp_path / "q", "queries").to_pylist()
    assert all(r["passage_id"].startswith("pack-") and r["answer_start"] is not None for r in queries)
    report = mine(tmp_path / "q", str(sample_dir), tmp_path / "m", k=5, work_dir=tmp_path / "w", progress=False)
    assert report.with_source == 4
    passages = read_table(tmp_path / "m", "passages").column("id").to_pylist()
    assert passages and all(pid.startswith("pack-") for pid in passages)
    mined = read_table(tmp_path / "m", "candidates").to_pylist()
    assert {r["source_passage_id"] for r in mined} == {r["passage_id"] for r in queries}
    recorded = json.loads((tmp_path / "m" / "provenance.json").read_text())
    assert recorded["chunking"]["pack_tokens"] == 1000  # the mined corpus says it was packed
