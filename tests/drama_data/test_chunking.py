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
