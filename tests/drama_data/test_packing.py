"""Packing consecutive passages into long documents (``--pack-tokens``): deterministic, ids, parts' offsets."""
import pytest

from drama_data.chunking import Passage, load_passages, word_spans
from drama_data.errors import ConfigError
from drama_data.packing import PackedPassage, pack_passages, part_block


def _passages(n=7):
    return [Passage(id=f"p{i}", doc_id=f"p{i}", chunk=0, title=f"Title {i}" if i % 2 else "",
                    text=" ".join(f"w{i}x{j}" for j in range(10 + i))) for i in range(n)]


def test_packing_is_deterministic_and_offsets_point_at_the_parts():
    src = _passages()
    a, b = list(pack_passages(src, 40, word_spans)), list(pack_passages(src, 40, word_spans))
    assert a == b and all(isinstance(d, PackedPassage) for d in a)
    by_id = {p.id: p for p in src}
    seen = []
    for d in a:
        assert d.id == d.doc_id == f"pack-{d.parts[0][0]}-{len(d.parts)}" and d.title == ""
        assert len(word_spans(d.text)) <= 40 or len(d.parts) == 1
        for pid, start, end in d.parts:
            assert d.text[start:end] == part_block(by_id[pid])  # the title line kept in the part's block
            seen.append(pid)
        assert d.text == "\n\n".join(d.text[s:e] for _, s, e in d.parts)
    assert seen == [p.id for p in src]  # every passage once, in corpus order


def test_a_passage_longer_than_the_budget_stays_alone_and_bad_budget_is_an_error():
    src = _passages(3)
    docs = list(pack_passages(src, 5, word_spans))
    assert [d.id for d in docs] == ["pack-p0-1", "pack-p1-1", "pack-p2-1"]
    with pytest.raises(ConfigError, match="--pack-tokens"):
        list(pack_passages(src, 0, word_spans))


def test_load_passages_packs_after_chunking_and_limit_counts_packed_documents(small_corpus):
    plain, _ = load_passages(str(small_corpus))
    packed, _ = load_passages(str(small_corpus), pack_tokens=10_000)
    assert len(packed) == 1 and [pid for pid, _, _ in packed[0].parts] == [p.id for p in plain]
    two, _ = load_passages(str(small_corpus), pack_tokens=30, limit=2)
    assert len(two) == 2 and all(d.id.startswith("pack-") for d in two)
