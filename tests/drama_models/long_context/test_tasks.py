"""LongEmbed-style Passkey and Needle tasks: deterministic per seed, answers where they are said to be."""
import re

import pytest
from tiny_models import tiny_tokenizer

from drama_models.long_context.evaluate import DEFAULT_HAYSTACK
from drama_models.long_context.tasks import DEFAULT_DEPTHS, PASSKEY_FILLER, TokenCounter, build_task, read_haystack


@pytest.fixture(scope="module")
def hay():
    return read_haystack(DEFAULT_HAYSTACK)


@pytest.fixture(scope="module", params=["words", "bpe"])
def counter(request):
    if request.param == "words":
        return TokenCounter()
    tok = tiny_tokenizer()
    return TokenCounter(tok)


def _build(name, length, counter, hay, seed=0, **kw):
    return build_task(name, length, counter, seed=seed, haystack=hay if name == "needle" else None, **kw)


@pytest.mark.parametrize("name", ["passkey", "needle"])
def test_deterministic_per_seed(name, hay, counter):
    a = _build(name, 512, counter, hay, num_queries=6)
    b = _build(name, 512, counter, hay, num_queries=6)
    c = _build(name, 512, counter, hay, seed=1, num_queries=6)
    assert a.corpus == b.corpus and a.queries == b.queries and a.qrels == b.qrels and a.planted == b.planted
    assert a.corpus != c.corpus and a.queries != c.queries
    assert len(a.corpus) == 12 and len(a.queries) == 6  # LongEmbed's 1 : 2


@pytest.mark.parametrize("name", ["passkey", "needle"])
@pytest.mark.parametrize("length", [256, 1024])
def test_answer_positions_and_lengths(name, length, hay, counter):
    task = _build(name, length, counter, hay, num_queries=11)
    budget = length - counter.reserve
    for j, (doc_id, text) in enumerate(task.corpus.items()):
        p = task.planted[doc_id]
        assert text[p.char_start:p.char_start + len(p.sentence)] == p.sentence  # the answer is where it is said
        assert text.count(p.sentence) == 1
        n = counter.count(text)
        assert n == p.tokens and budget - 3 <= n <= budget  # the stated length, never more
        assert p.target_depth == DEFAULT_DEPTHS[j % len(DEFAULT_DEPTHS)]
        assert abs(p.token_start - p.target_depth * (n - p.sentence_tokens)) <= 2 + 0.01 * n  # at the stated depth
        assert abs(p.depth - p.target_depth) <= 0.02 + 2 / n
        before = counter.count(text[:p.char_start])
        assert abs(before - p.token_start) <= 1
    for qid, rel in task.qrels.items():  # each query asks for the fact planted in its one relevant document
        (doc_id,) = rel
        sentence, query = task.planted[doc_id].sentence, task.queries[qid]
        if name == "passkey":
            person = re.fullmatch(r"what is the pass key for (.+)\?", query).group(1)
            assert sentence.startswith(f"{person}'s pass key is ")
            others = [task.planted[d].sentence for d in task.corpus if d != doc_id]
            assert not any(s.startswith(f"{person}'s ") for s in others)  # unique name
        else:
            assert len(set(task.queries.values())) == len(task.queries)
    if name == "passkey":
        assert PASSKEY_FILLER.split(".")[0] in next(iter(task.corpus.values()))
    else:
        assert "AMPK" in " ".join(task.corpus.values()) or len(hay) > 0


def test_bad_input_is_named(hay):
    with pytest.raises(ValueError, match="unknown task 'pass'"):
        build_task("pass", 512)
    with pytest.raises(ValueError, match="lengths"):
        build_task("passkey", 10)
    with pytest.raises(ValueError, match="haystack"):
        build_task("needle", 512)
    with pytest.raises(ValueError, match="depths"):
        build_task("passkey", 512, depths=[1.5])
    with pytest.raises(ValueError, match="cannot hold the planted sentence"):
        build_task("needle", 64, TokenCounter(tiny_tokenizer()), haystack=hay)


def test_collection_view_for_bm25(hay):
    task = build_task("needle", 256, haystack=hay, num_queries=3)
    coll = task.as_collection()
    assert coll.name == "needle-256" and set(coll.corpus) == set(task.corpus) and coll.qrels == task.qrels
