from drama_data.chunking import chunk_documents, hf_token_spans, load_passages, word_spans
from drama_data.corpus import Document


def test_short_document_keeps_its_id():
    [p] = chunk_documents([Document("d1", "T", "One short sentence.")], max_tokens=256)
    assert (p.id, p.doc_id, p.chunk, p.text) == ("d1", "d1", 0, "One short sentence.")


def test_long_document_chunks_respect_limit_and_sentences():
    text = " ".join(f"Sentence number {i} has exactly seven words." for i in range(40))
    ps = list(chunk_documents([Document("d", "", text)], max_tokens=50))
    assert [p.id for p in ps] == [f"d#{k}" for k in range(len(ps))]
    assert all(len(word_spans(p.text)) <= 50 for p in ps)
    assert all(p.text.endswith(".") for p in ps)  # cut at sentence ends
    assert " ".join(p.text for p in ps) == text
    # stable: same input, same chunks
    assert ps == list(chunk_documents([Document("d", "", text)], max_tokens=50))


def test_overlong_sentence_is_split_at_tokens():
    text = " ".join(["word"] * 120)
    ps = list(chunk_documents([Document("d", "", text)], max_tokens=50))
    assert [len(word_spans(p.text)) for p in ps] == [50, 50, 20]


def test_cjk_counts_characters():
    text = "长城是中国古代的军事防御工程。" * 10
    ps = list(chunk_documents([Document("z", "", text)], max_tokens=40))
    assert len(ps) > 1 and all(len(word_spans(p.text)) <= 40 for p in ps)


def test_hf_tokenizer_spans(tmp_path):
    from tiny_models import tiny_tokenizer

    spans = hf_token_spans(tiny_tokenizer())
    text = "Dense retrieval maps queries and passages. " * 30
    ps = list(chunk_documents([Document("d", "", text)], max_tokens=32, spans=spans))
    assert all(len(spans(p.text)) <= 32 for p in ps)


def test_load_passages(small_corpus):
    ps, report = load_passages(str(small_corpus), max_tokens=8)
    assert len({p.id for p in ps}) == len(ps) > 6
    assert report.documents == 6


def test_load_passages_with_a_limit_reads_only_what_it_needs(tmp_path):
    import json

    import pytest

    from drama_data.chunking import load_passages
    from drama_data.errors import InputError

    long_text = " ".join(f"w{i}" for i in range(600))  # several chunks
    docs = [{"_id": f"d{i}", "title": f"T{i}", "text": long_text if i % 2 else f"short text {i}"} for i in range(6)]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(d) + "\n" for d in docs) + "{not json\n")
    with pytest.raises(InputError):  # the whole file is read without a limit: the bad last line is found
        load_passages(str(corpus), max_tokens=128)
    good = tmp_path / "good.jsonl"
    good.write_text("".join(json.dumps(d) + "\n" for d in docs))
    full, _ = load_passages(str(good), max_tokens=128)
    for n in (1, 3, 7, len(full)):
        limited, report = load_passages(str(corpus), max_tokens=128, limit=n)  # never reaches the bad line
        assert limited == full[:n]
        assert report.documents == len({p.doc_id for p in limited})
    with pytest.raises(InputError, match=":7: malformed JSON"):  # a limit beyond the good part reads on
        load_passages(str(corpus), max_tokens=128, limit=len(full) + 1)


def test_section_ids_of_documents_never_clash_with_chunk_ids(tmp_path):
    """A Markdown file's sections are documents ``<file>#<anchor>``; an anchor is never only digits, so a long
    lead text's chunks (``notes.md#1``) and a section headed ``1`` stay apart."""
    from drama_data.chunking import load_passages

    lead = " ".join(f"Sentence number {i} is here." for i in range(12))
    (tmp_path / "notes.md").write_text(f"{lead}\n\n## 1\n\nThe first point.\n\n## 1\n\nThe same heading again.\n"
                                       f"\n## Two words\n\n{lead}\n", encoding="utf-8")
    passages, _ = load_passages(str(tmp_path), max_tokens=20)
    ids = [p.id for p in passages]
    assert len(ids) == len(set(ids))
    assert ids[:2] == ["notes.md#0", "notes.md#1"]
    assert "notes.md#section-1" in ids and "notes.md#section-1-2" in ids and "notes.md#two-words#0" in ids
    assert {p.title for p in passages if p.doc_id == "notes.md#two-words"} == {"notes > Two words"}
