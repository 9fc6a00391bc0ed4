import json as _json
import re
from pathlib import Path as _Path

import pytest

from drama_data.languages import CODES, identify_language
from drama_data.tasks import ParseFailure
from drama_data.tasks.prompting import load_prompt
from drama_data.tasks.query_checks import (
    REASON_DANGLING,
    REASON_ECHO,
    REASON_EXAMPLE,
    REASON_GENERIC,
    REASON_LENGTH,
    REASON_NO_OVERLAP,
    check_language,
    check_not_an_example,
    check_not_echo,
    check_not_generic,
    check_not_truncated,
    echo_span,
    mixed_language,
    normalise,
    prompt_example_queries,
)

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


# -- language and echo checks (issue 12) on real XQuAD-R sentences (drama_data/samples/xquad-r-*-sample) -------

_SAMPLES = _Path(__file__).resolve().parents[3] / "drama_data" / "samples"


def _sample(lang):
    path = _SAMPLES / f"xquad-r-{lang}-sample" / "corpus.jsonl"
    return [_json.loads(line)["text"] for line in path.open(encoding="utf-8")]


def _check(query, language):
    code, p = identify_language(query, sorted(CODES))
    check_language(query, language, code, p, mixed_candidates={"en"})


@pytest.mark.parametrize("lang", ["de", "zh"])
def test_real_sentences_pass_the_language_check_of_their_language(lang):
    passed = 0
    for text in _sample(lang):
        try:
            _check(text, lang)
            passed += 1
        except ParseFailure:
            pass
    assert passed >= len(_sample(lang)) - 1


@pytest.mark.parametrize("query, language, reason", [
    ("Zhongguo de changcheng shi shenme shihou jian de", "zh", "query not in the script of 'zh' (mostly Latin)"),
    ("How many sacks did the Panthers defense record?", "zh", "query not in the script of 'zh' (mostly Latin)"),
    ("黑豹队的防守丢了多少分", "de", "query not in the script of 'de' (mostly Han)"),
    ("how many points did the Panthers defense give up", "de", "query is in 'en', not 'de'"),
    ("Wie viele Sacks hatte Kawann Short in the 2015 season", "de", "query 'de' is half in 'en'"),
    ("What is the Verteidigung der Panthers", "de", "query 'de' is half in 'en'"),
    ("東京タワーの高さはどのくらいですか", "zh", "query not in the script of 'zh' (mostly Kana)"),
    ("Mount Everest est la plus haute montagne du monde", "de", "query is in 'fr', not 'de'"),
])
def test_wrong_language_wrong_script_and_mixed_queries_fail(query, language, reason):
    with pytest.raises(ParseFailure) as err:
        _check(query, language)
    assert err.value.reason == reason and err.value.detected_language


@pytest.mark.parametrize("query, language", [
    ("Wie viele Sacks erzielte Kawann Short in der Saison?", "de"),
    ("Wer war der Head Coach der Denver Broncos beim Super Bowl 50?", "de"),
    ("Kawann Short在2015赛季有多少次擒杀", "zh"),
    ("NFL的哪个球队防守最好", "zh"),
    ("東京タワーの高さはどのくらいですか", "ja"),
])
def test_right_language_with_names_in_latin_letters_passes(query, language):
    _check(query, language)


def test_uncertain_detection_fails_with_the_threshold():
    with pytest.raises(ParseFailure, match="uncertain"):
        check_language("Kawann Short Sacks", "de", "de", 0.41)
    check_language("Kawann Short Sacks", "de", "de", 0.41, min_confidence=0.4)


def test_mixed_language_needs_six_words_and_clear_halves():
    assert mixed_language("Wie hoch ist der Mount Everest?", "de", {"en"}) == ""
    assert mixed_language("Welche Rolle spielt die Verteidigung of the Carolina Panthers in the NFL", "de", {"en"}) == "en"


def test_echo_check_on_real_sentences():
    de, zh = _sample("de"), _sample("zh")
    with pytest.raises(ParseFailure, match=REASON_ECHO):  # a passage sentence handed back as the query
        check_not_echo(de[1], " ".join(de[:3]))
    with pytest.raises(ParseFailure, match=REASON_ECHO):
        check_not_echo(zh[0][:30], " ".join(zh[:3]))
    check_not_echo("Wie viele Sacks erzielte Kawann Short?", " ".join(de[:3]))  # shares a name only
    check_not_echo("卡万·肖特有多少次擒杀", " ".join(zh[:3]))
    weight, share = echo_span("does aspirin therapy lower the risk of heart attack",
                              "Low-dose aspirin therapy lowers the risk of heart attack in patients.")
    assert weight == 5 and share == pytest.approx(5 / 9)
