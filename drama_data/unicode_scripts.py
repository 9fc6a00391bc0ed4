"""Writing systems: the Unicode-script make-up of a text, and the scripts each language is written in.

A "Chinese" query in Latin letters or a Russian one in Latin transliteration is a failure that a language
detector can miss (short queries, names); the script tells them apart for certain. Scripts come from the
Unicode character names (``unicodedata``, no dependency): ``"CJK UNIFIED IDEOGRAPH-4E2D"`` is Han,
``"HIRAGANA LETTER A"`` Kana, ``"LATIN SMALL LETTER A"`` Latin.

:func:`script_profile` counts *units*: a Han or Kana character is one unit, and so is a word (a run of
letters) in any other script. A Chinese word is one to three characters, so counting characters alone would
let the Latin letters of one name ("Kawann Short") outweigh a whole Chinese question.
"""
from __future__ import annotations

import unicodedata
from collections import Counter
from functools import lru_cache

#: first word of a Unicode character name -> script (other names: their first word, capitalised)
_NAME_SCRIPTS = {
    "LATIN": "Latin", "CJK": "Han", "IDEOGRAPHIC": "Han", "HIRAGANA": "Kana", "KATAKANA": "Kana",
    "KATAKANA-HIRAGANA": "Kana", "HANGUL": "Hangul", "CYRILLIC": "Cyrillic", "ARABIC": "Arabic",
    "DEVANAGARI": "Devanagari", "GREEK": "Greek", "HEBREW": "Hebrew", "THAI": "Thai", "BENGALI": "Bengali",
    "TELUGU": "Telugu", "TAMIL": "Tamil", "GEORGIAN": "Georgian", "ARMENIAN": "Armenian",
}
#: scripts counted per character (no spaces between words) rather than per word
CHARACTER_SCRIPTS = frozenset({"Han", "Kana"})
#: ISO 639-1 code -> the scripts its text is written in (a language not listed: Latin)
LANGUAGE_SCRIPTS = {
    "zh": frozenset({"Han"}), "ja": frozenset({"Han", "Kana"}), "ko": frozenset({"Hangul", "Han"}),
    "ru": frozenset({"Cyrillic"}), "uk": frozenset({"Cyrillic"}), "bg": frozenset({"Cyrillic"}),
    "sr": frozenset({"Cyrillic", "Latin"}), "ar": frozenset({"Arabic"}), "fa": frozenset({"Arabic"}),
    "ur": frozenset({"Arabic"}), "hi": frozenset({"Devanagari"}), "mr": frozenset({"Devanagari"}),
    "ne": frozenset({"Devanagari"}), "bn": frozenset({"Bengali"}), "te": frozenset({"Telugu"}),
    "ta": frozenset({"Tamil"}), "th": frozenset({"Thai"}), "el": frozenset({"Greek"}),
    "he": frozenset({"Hebrew"}), "ka": frozenset({"Georgian"}), "hy": frozenset({"Armenian"}),
}
#: languages written without spaces between words
UNSPACED_LANGUAGES = frozenset({"zh", "ja", "th"})


@lru_cache(maxsize=8192)
def script_of(ch: str) -> str:
    """The script of one character (``"Latin"``, ``"Han"``, ...), or ``""`` for digits, punctuation, spaces."""
    if unicodedata.category(ch)[0] not in "LM":
        return ""
    name = unicodedata.name(ch, "")
    if not name:
        return ""
    first = name.split(" ", 1)[0]
    if first in ("MODIFIER", "COMBINING"):
        return ""
    return _NAME_SCRIPTS.get(first, first.capitalize())


def script_units(text: str) -> Counter:
    """Units per script in ``text`` (NFKC first, so full-width Latin is Latin): a Han/Kana character is one
    unit, a word of any other script is one. Combining marks belong to the letter before them."""
    counts: Counter = Counter()
    run = ""
    for ch in unicodedata.normalize("NFKC", text or ""):
        if unicodedata.category(ch)[0] == "M":  # a vowel sign or accent belongs to the running word
            continue
        script = script_of(ch)
        if script in CHARACTER_SCRIPTS:
            counts[script] += 1
            run = ""
        elif script:
            if script != run:
                counts[script] += 1
            run = script
        else:
            run = ""
    return counts


def script_profile(text: str) -> dict[str, float]:
    """Share of each script among the units of ``text`` (they add up to 1; ``{}`` for a text without letters):
    ``script_profile("Kawann Short在2015赛季有多少次擒杀") == {"Han": 0.818.., "Latin": 0.181..}``."""
    counts = script_units(text)
    total = sum(counts.values())
    return {s: n / total for s, n in counts.most_common()} if total else {}


def language_scripts(language: str) -> frozenset[str]:
    """The scripts ``language`` (ISO 639-1) is written in; Latin for languages not in :data:`LANGUAGE_SCRIPTS`."""
    return LANGUAGE_SCRIPTS.get(language, frozenset({"Latin"}))


def script_share(text: str, language: str) -> float:
    """Share of the units of ``text`` in the scripts of ``language`` (1.0 for a text without letters)."""
    profile = script_profile(text)
    if not profile:
        return 1.0
    scripts = language_scripts(language)
    return sum(share for script, share in profile.items() if script in scripts)
