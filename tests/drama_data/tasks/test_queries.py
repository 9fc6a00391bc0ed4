import pytest

from drama_data.chunking import Passage
from drama_data.tasks import ParseFailure, get_task
from drama_data.tasks.queries import parse_task_query_language


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
                                          ("Query:   \nLanguage: en", "empty query")])
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
