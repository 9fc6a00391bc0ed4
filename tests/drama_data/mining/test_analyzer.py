"""The BM25 analyzer: stemming/stopwords per language, CJK n-grams, language codes."""
import pytest

from drama_data.errors import ConfigError
from drama_data.mining.analyzer import Analyzer, normalise_language


def test_english_stems_and_drops_stopwords():
    terms = Analyzer("en")("The cats are running to the gardens!")  # Lucene's English stopword list
    assert terms == ["cat", "run", "garden"]


def test_language_none_keeps_every_word():
    assert Analyzer("none")("The cats") == ["the", "cats"]


def test_german_stemmer_and_stopwords():
    a = Analyzer("de")
    assert a.settings()["stemmer"] == "german" and a.settings()["stopwords"] == "STOPWORDS_GERMAN"
    assert a("Die Häuser und der Garten") == ["haus", "gart"] == a("das Haus im Garten")


def test_chinese_gets_unigrams_and_bigrams():
    terms = Analyzer("zh", stopwords=False)("黑豹队的防守")
    assert terms == ["黑", "豹", "队", "的", "防", "守", "黑豹", "豹队", "队的", "的防", "防守"]
    # Chinese stopwords remove function characters such as 的
    assert "的" not in Analyzer("zh")("黑豹队的防守")


def test_japanese_and_mixed_scripts():
    terms = Analyzer("en")("東京タワー is tall")
    assert "東京" in terms and "タワ" in terms and "tall" in terms


def test_nfkc_and_casefold():
    assert Analyzer("none")("ＦＵＬＬ width") == ["full", "width"]


@pytest.mark.parametrize("raw,expected", [("EN", "en"), ("en-US", "en"), ("zh_Hans", "zh"), (None, "none"),
                                          ("none", "none")])
def test_language_codes(raw, expected):
    assert normalise_language(raw) == expected


def test_bad_language_names_the_option():
    with pytest.raises(ConfigError, match="--language"):
        Analyzer("english!")


def test_language_without_stemmer_is_recorded():
    s = Analyzer("ja").settings()
    assert s["stemmer"] == "none" and s["stopwords"] == "none"
