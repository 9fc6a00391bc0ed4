"""Text to BM25 terms, for any language: lowercase, stopwords and a Snowball stemmer per language, CJK n-grams.

``Analyzer(language)("Some text")`` returns a list of terms. Steps:

1. Unicode NFKC normalisation and case folding.
2. Split into runs: letters/digits of space-separated scripts become words; runs of Chinese, Japanese
   (kana) and Korean characters, which have no spaces, become character unigrams *and* bigrams
   (``"黑豹队"`` -> ``黑 豹 队 黑豹 豹队``), the usual dictionary-free way to index CJK (as Lucene's
   CJK analyzer does with bigrams; unigrams keep one-character words matchable).
3. Stopwords of the language are removed (the NLTK lists bundled with bm25s: en, de, nl, fr, es, pt, it,
   ru, sv, no, da, tr, zh, ko) and words are stemmed with PyStemmer's Snowball stemmer of the language
   (about 30 languages). A language without a list or a stemmer just skips that step; ``settings()``
   says what was applied, so the card records it.

The same analyzer must be used for passages and queries; retrievers keep it in their settings.
"""
from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable
from functools import cache, lru_cache

from drama_data.errors import ConfigError

log = logging.getLogger(__name__)

# ISO 639-1 code -> PyStemmer (Snowball) algorithm
STEMMERS = {
    "ar": "arabic", "hy": "armenian", "eu": "basque", "ca": "catalan", "cs": "czech", "da": "danish",
    "nl": "dutch", "en": "english", "eo": "esperanto", "et": "estonian", "fi": "finnish", "fr": "french",
    "de": "german", "el": "greek", "hi": "hindi", "hu": "hungarian", "id": "indonesian", "ga": "irish",
    "it": "italian", "lt": "lithuanian", "ne": "nepali", "no": "norwegian", "nb": "norwegian",
    "fa": "persian", "pl": "polish", "pt": "portuguese", "ro": "romanian", "ru": "russian", "sr": "serbian",
    "st": "sesotho", "es": "spanish", "sv": "swedish", "ta": "tamil", "tr": "turkish", "yi": "yiddish",
}
# ISO code -> name of the stopword tuple in bm25s.stopwords
STOPWORD_LISTS = {
    "en": "STOPWORDS_EN", "de": "STOPWORDS_GERMAN", "nl": "STOPWORDS_DUTCH", "fr": "STOPWORDS_FRENCH",
    "es": "STOPWORDS_SPANISH", "pt": "STOPWORDS_PORTUGUESE", "it": "STOPWORDS_ITALIAN",
    "ru": "STOPWORDS_RUSSIAN", "sv": "STOPWORDS_SWEDISH", "no": "STOPWORDS_NORWEGIAN",
    "nb": "STOPWORDS_NORWEGIAN", "da": "STOPWORDS_DANISH", "tr": "STOPWORDS_TURKISH",
    "zh": "STOPWORDS_CHINESE", "ko": "STOPWORDS_KOREAN",
}
NO_LANGUAGE = ("none", "", "multi", "xx")

# Han (incl. extension A and compatibility), kana (hiragana, katakana, half-width katakana), Hangul
_CJK = "\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f\uac00-\ud7af\u1100-\u11ff"
_RUN_RE = re.compile(rf"([{_CJK}]+)|([^\W_{_CJK}]+)", re.UNICODE)


def normalise_language(language: str | None) -> str:
    """``"EN"``, ``"en-US"``, ``"en_us"`` -> ``"en"``; ``None``/``"none"`` -> ``"none"``."""
    if language is None:
        return "none"
    lang = str(language).strip().lower().replace("_", "-")
    if lang in NO_LANGUAGE:
        return "none"
    base = lang.split("-")[0]
    if not re.fullmatch(r"[a-z]{2,3}", base):
        raise ConfigError(f"--language {language!r}: expected an ISO 639 code such as 'en', 'de' or 'zh', or 'none'")
    return base


@cache
def _stopwords(language: str) -> frozenset[str]:
    name = STOPWORD_LISTS.get(language)
    if name is None:
        return frozenset()
    return frozenset(unicodedata.normalize("NFKC", w).casefold() for w in getattr(_bm25s_stopwords(), name))


@lru_cache(maxsize=1)
def _bm25s_stopwords():
    """``bm25s.stopwords`` (plain tuples) without importing the ``bm25s`` package: its ``__init__`` imports
    numba, whose llvmlite module keeps vLLM's engine from starting in-process (see
    :func:`drama_data.backends.vllm.module_blocking_in_process_engine`); the queries task analyses text
    between attempts, before a resumed run starts its engine."""
    import importlib.util
    import sys

    if "bm25s.stopwords" in sys.modules:
        return sys.modules["bm25s.stopwords"]
    spec = importlib.util.find_spec("bm25s")
    path = next(iter(spec.submodule_search_locations)) + "/stopwords.py"
    file_spec = importlib.util.spec_from_file_location("_drama_bm25s_stopwords", path)
    module = importlib.util.module_from_spec(file_spec)
    file_spec.loader.exec_module(module)
    return module


class Analyzer:
    """Callable text -> terms for one language (see the module docstring).

    ``stemming`` / ``stopwords`` switch those steps off; ``cjk_ngrams`` is ``(1, 2)`` (unigrams and bigrams),
    ``(2,)`` (bigrams only, as Lucene's CJK analyzer) or ``(1,)``.
    """

    def __init__(self, language: str | None = "en", *, stemming: bool = True, stopwords: bool = True,
                 cjk_ngrams: Iterable[int] = (1, 2)) -> None:
        self.language = normalise_language(language)
        self.cjk_ngrams = tuple(sorted(set(int(n) for n in cjk_ngrams)))
        if not self.cjk_ngrams or any(n not in (1, 2) for n in self.cjk_ngrams):
            raise ConfigError(f"cjk_ngrams {cjk_ngrams!r}: use (1,), (2,) or (1, 2)")
        self.stemmer_name = STEMMERS.get(self.language) if stemming else None
        self.stopword_list = STOPWORD_LISTS.get(self.language) if stopwords else None
        if self.language != "none" and stemming and self.stemmer_name is None:
            log.info("no Snowball stemmer for language %r: terms are not stemmed", self.language)
        self._stopwords = _stopwords(self.language) if self.stopword_list else frozenset()
        self._stemmer = None

    def settings(self) -> dict:
        """What this analyzer does (for cards and cache keys)."""
        return {"language": self.language, "stemmer": self.stemmer_name or "none",
                "stopwords": self.stopword_list or "none", "cjk_ngrams": list(self.cjk_ngrams),
                "normalisation": "NFKC+casefold"}

    def _get_stemmer(self):
        if self._stemmer is None and self.stemmer_name:
            import Stemmer

            self._stemmer = Stemmer.Stemmer(self.stemmer_name)
        return self._stemmer

    def __getstate__(self):  # PyStemmer objects do not pickle; rebuild in the worker
        state = dict(self.__dict__)
        state["_stemmer"] = None
        return state

    def __call__(self, text: str) -> list[str]:
        text = unicodedata.normalize("NFKC", text).casefold()
        words: list[str] = []
        terms: list[str] = []
        stop = self._stopwords
        for m in _RUN_RE.finditer(text):
            cjk, word = m.group(1), m.group(2)
            if word is not None:
                if word not in stop:
                    words.append(word)
                continue
            if 1 in self.cjk_ngrams or len(cjk) == 1:
                terms.extend(c for c in cjk if c not in stop)
            if 2 in self.cjk_ngrams:
                terms.extend(b for b in (cjk[i:i + 2] for i in range(len(cjk) - 1)) if b not in stop)
        stemmer = self._get_stemmer()
        if stemmer is not None and words:
            words = stemmer.stemWords(words)
        return words + terms

    def many(self, texts: Iterable[str]) -> list[list[str]]:
        """Analyze many texts (a plain loop; the stemmer caches repeated words)."""
        return [self(t) for t in texts]
