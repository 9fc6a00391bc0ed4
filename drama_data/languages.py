"""Language names as LLMs write them -> ISO 639-1 codes (the 20 DRAMA languages and a few more)."""
from __future__ import annotations

NAMES = {
    "english": "en", "german": "de", "deutsch": "de", "french": "fr", "français": "fr", "spanish": "es",
    "español": "es", "italian": "it", "portuguese": "pt", "dutch": "nl", "russian": "ru", "chinese": "zh",
    "mandarin": "zh", "中文": "zh", "japanese": "ja", "日本語": "ja", "korean": "ko", "arabic": "ar",
    "hindi": "hi", "bengali": "bn", "indonesian": "id", "thai": "th", "vietnamese": "vi", "turkish": "tr",
    "persian": "fa", "farsi": "fa", "finnish": "fi", "swahili": "sw", "telugu": "te", "yoruba": "yo",
    "polish": "pl", "swedish": "sv", "czech": "cs", "greek": "el", "hebrew": "he", "ukrainian": "uk",
}
CODES = set(NAMES.values())


def normalize_language(value: str | None) -> str:
    """``"English"`` -> ``"en"``; a known ISO code stays; anything else is lower-cased as written ('' if none)."""
    if not value:
        return ""
    v = value.strip().strip(".").strip().lower()
    if v in CODES:
        return v
    if v in NAMES:
        return NAMES[v]
    first = v.split()[0] if v.split() else v
    return NAMES.get(first, v)


def code_to_name(code: str) -> str:
    """``"de"`` -> ``"German"`` (the first English name listed), else the code itself."""
    for name, c in NAMES.items():
        if c == code and name.isascii():
            return name.capitalize()
    return code
