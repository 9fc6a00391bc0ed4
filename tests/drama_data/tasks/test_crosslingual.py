import pytest

from drama_data.chunking import Passage
from drama_data.tasks import ParseFailure, get_task
from drama_data.tasks.crosslingual import detect_language

P = Passage("d1", "d1", 0, "", "Mount Everest is the highest mountain on Earth.")


def test_slots_and_prompt_name_the_target_language():
    t = get_task("crosslingual", target_languages=["de", "zh"])
    assert t.slots(P) == ["d1/xl-de0", "d1/xl-zh0"]
    t.use_form("chat")
    req = t.request(P, "d1/xl-zh0", 0)
    assert "Write the query in Chinese" in req.messages[-1]["content"]
    t.use_form("completion")
    assert t.request(P, "d1/xl-de0", 0).prompt.endswith("Query language: German\nQuery:")


def test_language_check_accepts_target_and_rejects_others():
    t = get_task("crosslingual", target_languages=["de"])
    row = t.parse(P, "d1/xl-de0", "Task: t\nQuery: Wie hoch ist der Mount Everest?\nLanguage: German")
    assert row["language"] == "de" and row["passage_language"] == "en"
    with pytest.raises(ParseFailure, match="query is in 'en', not 'de'"):
        t.parse(P, "d1/xl-de0", "Query: how high is mount everest\nLanguage: German")


def test_detect_language():
    assert detect_language("现存的长城主要是哪个朝代修建的", ["en", "de", "zh"]) == "zh"


def test_detection_with_and_without_candidates_in_any_order():
    from drama_data.languages import _IDENTIFIERS, detect_language as detect

    _IDENTIFIERS.clear()
    assert detect("Die Zugspitze ist der höchste Berg Deutschlands.") == "de"  # all languages first
    assert detect("Wie hoch ist die Zugspitze?", ["en", "de"]) == "de"
    assert detect("Mount Everest is the highest mountain on Earth.") == "en"


def test_varieties_count_as_their_macro_language():
    from drama_data.languages import LanguageDetector

    # standard Chinese that py3langid alone reads as Wu Chinese (wuu, 0.73)
    assert LanguageDetector().passage("沃伊切赫波古斯洛斯基剧院 (Wojciech Bogusławski Theatre) (1922–26) 是“波兰纪念剧院”的最佳典范。") == "zh"
