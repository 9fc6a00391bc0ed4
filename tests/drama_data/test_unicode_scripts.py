import json
from pathlib import Path

import pytest

from drama_data.unicode_scripts import language_scripts, script_profile, script_share

SAMPLES = Path(__file__).resolve().parents[2] / "drama_data" / "samples"


def sample(lang):
    return [json.loads(line)["text"] for line in open(SAMPLES / f"xquad-r-{lang}-sample" / "corpus.jsonl",
                                                      encoding="utf-8")]


@pytest.mark.parametrize("text, profile", [
    ("Wie hoch ist der Mount Everest?", {"Latin": 1.0}),
    ("东京タワーの高さは", None),
    ("Как высоко Эверест", {"Cyrillic": 1.0}),
    ("서울은 어디에 있나요", {"Hangul": 1.0}),
    ("हिन्दी भाषा क्या है", {"Devanagari": 1.0}),
    ("ما هي عاصمة مصر", {"Arabic": 1.0}),
    ("ｆｕｌｌ ｗｉｄｔｈ", {"Latin": 1.0}),
    ("2015 — 308!", {}),
])
def test_script_profile(text, profile):
    got = script_profile(text)
    if profile is None:
        assert set(got) == {"Han", "Kana"}
    else:
        assert got == profile


def test_units_count_cjk_characters_and_other_words():
    # 9 Han characters and 2 Latin words: a name in Latin letters does not outweigh the Chinese question
    assert script_profile("Kawann Short在2015赛季有多少次擒杀") == pytest.approx({"Han": 9 / 11, "Latin": 2 / 11})


def test_real_sample_sentences_are_in_their_languages_scripts():
    assert all(script_share(t, "de") >= 0.9 for t in sample("de"))
    zh = [script_share(t, "zh") for t in sample("zh")]
    assert min(zh) >= 0.6 and sum(zh) / len(zh) > 0.9
    assert language_scripts("ja") == {"Han", "Kana"} and language_scripts("xx") == {"Latin"}
