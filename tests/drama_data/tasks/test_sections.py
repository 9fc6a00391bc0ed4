"""``--section-tokens``: a long passage's prompt holds one section; the row is for the whole document and records
where the answer lies (answer_start/answer_end/answer_depth)."""
import json
import string

import pyarrow.parquet as pq
from fake_backend import default_answer

from drama_data.chunking import Passage, word_spans
from drama_data.generate.runner import CorpusOptions, generate
from drama_data.packing import pack_passages
from drama_data.tasks import get_task
from drama_data.tasks.sections import choose_section


def _word(n: int) -> str:
    out = ""
    for _ in range(5):
        out, n = out + string.ascii_lowercase[n % 26], n // 26
    return out


def _long_text(doc: int, sentences: int = 40) -> str:
    return " ".join(f"{_word(doc * 1000 + s).capitalize()} describes {_word(doc * 1000 + s + 500)} in a long "
                    f"report on retrieval." for s in range(sentences))


def _corpus(tmp_path, docs=3):
    path = tmp_path / "long.jsonl"
    path.write_text("".join(json.dumps({"_id": f"d{i}", "title": f"Doc {i}", "text": _long_text(i)}) + "\n"
                            for i in range(docs)))
    return path


def test_section_is_deterministic_and_covers_depths():
    p = Passage(id="d0", doc_id="d0", chunk=0, title="T", text=_long_text(0, 60))
    picks = {choose_section(p, k, 0, 50, word_spans) for k in range(20)}
    assert choose_section(p, 0, 0, 50, word_spans) == choose_section(p, 0, 0, 50, word_spans)
    assert all(s.text == p.text[s.start:s.end] and len(word_spans(s.text)) <= 50 for s in picks)
    depths = sorted(s.start / len(p.text) for s in picks)
    assert depths[0] == 0.0 and depths[-1] > 0.8  # the slots walk over the whole document
    assert choose_section(p, 0, 0, 10_000, word_spans) is None  # fits: the whole passage


def test_packed_document_section_is_one_of_its_parts():
    parts = [Passage(id=f"p{i}", doc_id=f"p{i}", chunk=0, title="", text=_long_text(i, 3)) for i in range(6)]
    doc = next(pack_passages(parts, 10_000, word_spans))
    s = choose_section(doc, 0, 7, 60, word_spans)
    assert (s.start, s.end) in {(a, b) for _, a, b in doc.parts} and s.title == ""


def test_rows_are_for_the_whole_document_and_the_span_is_what_the_prompt_held(tmp_path):
    prompts = {}

    def answer(request):
        prompts[request.id] = request.content()
        return default_answer(request)

    from fake_backend import FakeBackend

    task = get_task("queries", queries_per_doc=2, section_tokens=60)
    summary = generate(task, CorpusOptions(str(_corpus(tmp_path)), max_tokens=5000), tmp_path / "out",
                       backend=FakeBackend(answer=answer), cache=None, progress=False, echo=None)
    assert summary.rows == 6
    rows = pq.read_table(next((tmp_path / "out").rglob("queries*/*.parquet"))).to_pylist()
    for r in rows:
        doc = _long_text(int(r["passage_id"][1:]))
        assert r["text"] == doc and r["passage_id"] == r["doc_id"]  # positive: the whole document
        held = doc[r["answer_start"]:r["answer_end"]]
        assert 0 < len(word_spans(held)) <= 60 and abs(r["answer_depth"] - r["answer_start"] / len(doc)) < 1e-6
        prompt = prompts[f"{r['query_id']}@{r['attempt']}"]
        assert json.dumps(held)[1:-1] in prompt and json.dumps(doc)[1:-1] not in prompt
        first_word = next(w for w in held.split() if len(w) >= 4 and w.isalpha())
        assert first_word in r["query"]  # the fake LLM names the first word of the text it was shown


def test_short_passages_keep_null_answer_columns(small_corpus, tmp_path):
    from fake_backend import FakeBackend

    generate(get_task("queries"), CorpusOptions(str(small_corpus)), tmp_path / "out", backend=FakeBackend(),
             cache=None, progress=False, echo=None)
    table = pq.read_table(next((tmp_path / "out").rglob("queries*/*.parquet")))
    assert {"answer_start", "answer_end", "answer_depth"} <= set(table.column_names)
    assert table.column("answer_start").null_count == table.num_rows


def test_crop_takes_its_sentence_from_the_section_and_records_it():
    task = get_task("crop", queries_per_doc=3, section_tokens=60)
    p = Passage(id="d0", doc_id="d0", chunk=0, title="Doc 0", text=_long_text(0, 60))
    rows = task.direct(p)
    assert rows == task.direct(p) and len(rows) == 3
    for _slot, row in rows:
        held = p.text[row["answer_start"]:row["answer_end"]]
        assert row["query"] in held and len(word_spans(held)) <= 60
    short = Passage(id="s", doc_id="s", chunk=0, title="", text=_long_text(1, 3))
    assert all(r["answer_start"] is None for _, r in task.direct(short))
