import re

import pytest

from drama_data.generate.prompting import load_prompt
from drama_data.tasks import ParseFailure
from drama_data.tasks.query_checks import (REASON_DANGLING, REASON_EXAMPLE, REASON_GENERIC, REASON_LENGTH,
                                           REASON_NO_OVERLAP, check_not_an_example, check_not_generic,
                                           check_not_truncated, normalise, prompt_example_queries)

CELLS = "Myeloid-derived suppressor cells (MDSCs) expand in the bone marrow of tumour-bearing mice."


def test_normalise():
    assert normalise("  Wie hoch ist  die Zugspitze?! ") == "wie hoch ist die zugspitze"
    assert normalise("現存的長城？") == "現存的長城"


@pytest.mark.parametrize("form", ["completion", "chat"])
def test_examples_are_read_from_the_rendered_prompt(form):
    rendered = load_prompt("queries", form).render(title="", text="", passage_id="")
    examples = prompt_example_queries(rendered)
    assert "how does low dose aspirin prevent heart attacks" in examples
    assert any(e.startswith("wie hoch ist die zugspitze") for e in examples)


def test_a_copied_example_is_rejected_unless_the_passage_supports_it():
    examples = frozenset({"wie hoch ist die zugspitze"})
    with pytest.raises(ParseFailure, match=re.escape(REASON_EXAMPLE)):
        check_not_an_example("Wie hoch ist die Zugspitze?", examples, CELLS, "de")
    check_not_an_example("Wie hoch ist die Zugspitze?", examples,
                         "Die Zugspitze ist 2962 Meter hoch.", "de")  # the passage answers it: kept
    check_not_an_example("how long do MDSCs live in bone marrow", examples, CELLS, "en")


@pytest.mark.parametrize("query", ["What is the result of the study?", "What are the results of this study?",
                                   "what is this passage about", "What does the study show?",
                                   "Summarize the text.", "What is the main finding?"])
def test_generic_templates_are_rejected(query):
    with pytest.raises(ParseFailure, match=re.escape(REASON_GENERIC)):
        check_not_generic(query, CELLS + " The study shows a result.", "en", "en")


def test_a_query_without_a_content_word_of_the_passage_is_rejected():
    with pytest.raises(ParseFailure, match=re.escape(REASON_NO_OVERLAP)):
        check_not_generic("How many seconds is it?", CELLS, "en", "en")
    check_not_generic("how long do MDSC live in the marrow", CELLS, "en", "en")  # one shared stem is enough
    check_not_generic("Where do suppressor cell populations expand?", CELLS, "en", "en")  # stemmed
    check_not_generic("Wie lange leben MDSC-Zellen?", CELLS, "de", "en")  # cross-lingual: not compared
    # CJK: character n-grams
    check_not_generic("现存的长城主要是哪个朝代修建的", "长城是中国古代修建的军事防御工程。", "zh", "zh")


@pytest.mark.parametrize("query, finish, last, reason", [
    ("how long do MDSCs live in", "length", True, REASON_LENGTH),
    ("what is the link between smoking and", "stop", True, REASON_DANGLING),
    ("effect of aspirin (low dose", "stop", False, REASON_DANGLING),
    ("treatment of anti-", "stop", False, REASON_DANGLING),
    ("Welche Rolle spielt p53 und", None, False, REASON_DANGLING),
])
def test_truncated_queries_are_rejected(query, finish, last, reason):
    with pytest.raises(ParseFailure, match=re.escape(reason)):
        check_not_truncated(query, finish, last)


@pytest.mark.parametrize("query, finish, last", [
    ("what is aspirin used for", "stop", True),  # a preposition may end a question
    ("does vitamin a prevent blindness", "stop", True),
    ("Wie sieht eine Zelle aus", "stop", True),  # German separable verb
    ("how do MDSCs expand (in mice)", "stop", True),
    ("how long do MDSCs live", "length", False),  # max_tokens ran out after the query's line
])
def test_complete_queries_are_kept(query, finish, last):
    check_not_truncated(query, finish, last)
