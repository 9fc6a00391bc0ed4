"""Languages: names as LLMs write them -> ISO 639-1 codes, and detection of the language a text is really in.

``normalize_language("English") == "en"`` reads a model's claim (the 20 DRAMA languages and a few more);
:class:`LanguageDetector` finds the language of a query or passage with py3langid, which is what rows record.
"""
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


# -- detection ----------------------------------------------------------------------------------------------------
#: prior probability of "the query is in its passage's language" (the prompts ask for that); the other
#: candidate languages share the rest evenly. With ~35 candidates this makes the passage's language about
#: 8x likelier a priori than any single other language: enough to settle two- or three-word queries on which
#: the detector is near chance ("p53 mutation": fr 0.12, en 0.10), too little to overrule a query the
#: detector reads clearly (a German sentence on an English passage stays German).
PASSAGE_PRIOR = 0.2
_IDENTIFIERS: dict[tuple[str, ...], object] = {}
#: varieties py3langid tells apart that corpora label with their macro-language (their probabilities are added
#: to it): standard Chinese Wikipedia text reads as Wu Chinese at 0.5-0.7 (23 of 200 XQuAD-R zh passages)
VARIETIES = {"wuu": "zh", "arz": "ar", "ary": "ar", "uzs": "uz"}


def _identifier(candidates):
    """py3langid's identifier restricted to ``candidates`` (all languages if empty); the model is loaded once
    (about 2 s) and shared by the restricted copies."""
    import copy

    if () not in _IDENTIFIERS:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        _IDENTIFIERS[()] = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    key = tuple(sorted(set(candidates or ())))
    if key not in _IDENTIFIERS:
        ident = copy.copy(_IDENTIFIERS[()])
        ident.set_languages(list(key))
        _IDENTIFIERS[key] = ident
    return _IDENTIFIERS[key]


def known_languages() -> frozenset[str]:
    """The ISO 639-1 codes py3langid can detect (97 languages)."""
    return frozenset(_identifier(None).nb_classes)


def detect_language(text: str, candidates=None) -> str:
    """ISO 639-1 code of ``text`` (py3langid), optionally restricted to ``candidates``."""
    return identify_language(text, candidates)[0]


def identify_language(text: str, candidates=None, prior: dict[str, float] | None = None) -> tuple[str, float]:
    """``(code, probability)`` of ``text`` among ``candidates`` (py3langid, normalised probabilities).

    ``prior`` (code -> prior probability; languages not named share what is left evenly) turns the detector's
    probabilities into a posterior: ``P(lang | text) ~ P_langid(lang | text) * prior(lang)``. Without a prior
    this is py3langid's own answer.
    """
    merged: dict[str, float] = {}
    for c, p in _identifier(candidates).rank(text):
        code = VARIETIES.get(c, c)
        merged[code] = merged.get(code, 0.0) + float(p)
    ranked = sorted(merged.items(), key=lambda cp: -cp[1])
    if not prior:
        code, p = ranked[0]
        return code, float(p)
    rest = [c for c, _ in ranked if c not in prior]
    share = max(0.0, 1.0 - sum(prior.values())) / max(1, len(rest))
    post = [(c, float(p) * prior.get(c, share)) for c, p in ranked]
    total = sum(p for _, p in post) or 1.0
    code, p = max(post, key=lambda cp: cp[1])
    return code, p / total


class LanguageDetector:
    """The language of generated queries, checked rather than claimed (issue: models claim 'de' on English text).

    ``passage(text)`` detects a passage's language among every language py3langid knows (passages are long:
    reliable; a short one it is unsure of among :data:`CODES` only). ``query(text, passage_language)``
    detects a query's language among the known LLM languages (:data:`CODES`) plus the passage's, with the
    passage's language as prior (:data:`PASSAGE_PRIOR`):
    short queries are hard for any detector (two or three words, often technical terms), and the prompts ask
    for the passage's language, so on such queries the passage's language wins unless the query's own
    evidence for another language is clearly stronger. Returns ``(code, confidence)``, the confidence being
    that posterior probability (0-1). ``passage_language`` may be given by the user (``--language``) instead.
    """

    def __init__(self, prior: float = PASSAGE_PRIOR):
        self.prior = prior

    @staticmethod
    def passage(text: str) -> str:
        """Among every language py3langid knows; a passage it is unsure of (probability below 0.5: a short one,
        "Tesla starb am 7. Januar 1943." reads as Romanian at 0.05) among the common LLM languages only."""
        if not text or not text.strip():
            return ""
        code, p = identify_language(text)
        return code if p >= 0.5 else identify_language(text, sorted(CODES))[0]

    def query(self, text: str, passage_language: str = "") -> tuple[str, float]:
        if not text or not text.strip():
            return "", 0.0
        if passage_language not in _identifier(None).nb_classes:  # "" or a code py3langid does not know
            passage_language = ""
        candidates = sorted(CODES | ({passage_language} if passage_language else set()))
        prior = {passage_language: self.prior} if passage_language else None
        code, p = identify_language(text, candidates, prior)
        return code, round(p, 4)
