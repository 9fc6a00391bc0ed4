import pytest

from drama_data.chunking import Passage
from drama_data.tasks import ParseFailure, get_task
from drama_data.tasks.queries import parse_task_query_language, read_answer


@pytest.mark.parametrize("text, query, lang", [
    ("Task: find\nQuery: how tall is everest\nLanguage: English", "how tall is everest", "en"),
    ("**Task:** x\n**Query:** \"Wie hoch ist die Zugspitze?\"\n**Language:** German", "Wie hoch ist die Zugspitze?", "de"),
    ("Sure, here it is.\nQuery： 长城是哪个朝代修建的\nLanguage: Chinese\nQuery: second", "长城是哪个朝代修建的", "zh"),
    ("Query: only a query", "only a query", ""),
])
def test_parse_variants(text, query, lang):
    row = parse_task_query_language(text)
    assert row["query"] == query and row["language"] == lang


@pytest.mark.parametrize("text, reason", [("", "no 'Query:' line"), ("Task: x\nLanguage: English", "no 'Query:' line"),
                                          ("Query:   \nLanguage: en", "empty query"),
                                          ("Query:\nPassage: the next example", "empty query")])
def test_parse_failures(text, reason):
    with pytest.raises(ParseFailure, match=reason):
        parse_task_query_language(text)


def test_requests_are_stable_and_seeds_differ_per_slot_and_attempt():
    t = get_task("queries", queries_per_doc=2, seed=3)
    t.use_form("completion")
    p = Passage("d1", "d1", 0, "T", "Some text.")
    a, b = (t.request(p, s, 0) for s in t.slots(p))
    assert a.prompt == b.prompt and a.sampling.seed != b.sampling.seed
    assert t.request(p, "d1/qgen0", 0) == a and t.request(p, "d1/qgen0", 1).sampling.seed != a.sampling.seed
    assert a.sampling.stop == ("\n\n", "\nPassage:") and a.sampling.temperature == 0.8


@pytest.mark.parametrize("text, query", [
    ("Language: English\nQuery:\nhow do MDSCs expand in bone marrow", "how do MDSCs expand in bone marrow"),
    ("Task: t\n**Query:**\n\"how do MDSCs expand\"\nLanguage: English", "how do MDSCs expand"),
    ("Query:\nAspirin: how does it prevent heart attacks?", "Aspirin: how does it prevent heart attacks?"),
])
def test_query_on_the_line_after_its_label(text, query):
    assert parse_task_query_language(text)["query"] == query


def test_query_was_last_tells_a_cut_off_query_from_a_finished_line():
    assert read_answer("Language: English\nQuery: how do MDSCs").query_was_last
    assert not read_answer("Language: English\nQuery: how do MDSCs\nLanguage: English").query_was_last
    assert read_answer("Query:\nhow do MDSCs").query_was_last


MDSC = Passage("d9", "d9", 0, "", "Myeloid-derived suppressor cells (MDSCs) expand in the bone marrow of "
               "tumour-bearing mice and suppress T cell responses in the spleen.")


def test_rows_record_the_detected_language_and_the_claimed_one():
    t = get_task("queries")
    t.use_form("completion")
    row = t.parse(MDSC, "d9/qgen0", "Language: German\nQuery: how long do MDSCs live in bone marrow")
    assert row["language"] == "en" and row["claimed_language"] == "de" and row["passage_language"] == "en"
    assert 0.5 < row["language_confidence"] <= 1 and row["task_description"] == ""
    row = t.parse(MDSC, "d9/qgen0", "Language: German\nQuery: Wie lange leben MDSC-Zellen im Knochenmark?")
    assert row["language"] == "de"  # a clear German sentence stays German on an English passage
    # a two-word query the detector alone reads as French: the passage's language decides
    row = t.parse(MDSC, "d9/qgen0", "Language: English\nQuery: MDSC expansion")
    assert row["language"] == "en"


@pytest.mark.parametrize("form, completion, reason", [
    ("completion", "Language: German\nQuery: Wie hoch ist die Zugspitze?", "query copies a few-shot example"),
    ("chat", "Task: t\nQuery: Wie hoch ist die Zugspitze und wie kommt man hinauf?\nLanguage: German",
     "query copies a few-shot example"),
    ("completion", "Language: English\nQuery: What is the result of the study?", "generic query"),
    ("completion", "Language: English\nQuery: How many seconds is it?", "shares no content word"),
    ("completion", "Language: English\nQuery: how do MDSCs suppress T cells in the", "cut off"),
])
def test_bad_queries_are_recorded_failures(form, completion, reason):
    t = get_task("queries")
    t.use_form(form)
    with pytest.raises(ParseFailure, match=reason):
        t.parse(MDSC, "d9/qgen0", completion)


def test_a_query_cut_by_max_tokens_is_a_failure_only_if_it_was_still_being_written():
    t = get_task("queries")
    t.use_form("chat")
    with pytest.raises(ParseFailure, match="max_tokens"):
        t.parse(MDSC, "d9/qgen0", "Task: t\nQuery: how do MDSCs suppress T cells", finish_reason="length")
    row = t.parse(MDSC, "d9/qgen0", "Task: t\nQuery: how do MDSCs suppress T cells\nLanguage: Engl",
                  finish_reason="length")
    assert row["query"] == "how do MDSCs suppress T cells" and row["task_description"] == "t"


def test_a_short_passage_the_detector_is_unsure_of_is_read_among_common_languages():
    from drama_data.languages import LanguageDetector

    assert LanguageDetector().passage("Tesla starb am 7. Januar 1943.") == "de"
    assert LanguageDetector().passage("") == ""


def test_crop_rows_carry_the_detected_language():
    t = get_task("crop", min_words=3)
    (slot, row), = t.direct(Passage("d4", "d4", 0, "", "Die Zugspitze ist der höchste Berg Deutschlands. "
                                    "Sie liegt an der Grenze zu Österreich."))
    assert row["language"] == row["passage_language"] == "de" and row["language_confidence"] > 0.5
    (slot, row), = get_task("crop", min_words=3, language="German").direct(MDSC)
    assert row["passage_language"] == "de" and row["language"] == "en"  # the user's corpus language is a prior
    (slot, row), = get_task("crop", min_words=3, language="xx-unknown").direct(MDSC)
    assert row["passage_language"] == "xx-unknown" and row["language"] == "en"  # a code langid lacks: no prior
