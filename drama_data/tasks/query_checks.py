"""Checks that turn a parsed query into a recorded failure when it is not a query a retriever should learn from.

Each check raises :class:`~drama_data.tasks.parse_failure.ParseFailure` with a short, stable reason (reasons are counted
in the run summary and kept with the raw text in the ``failures`` config; the runner retries the slot with a
new seed). Found on 300 SciFact passages with Gemma-3-270M (issue 10 §4, issue 11): 7 queries copied a
few-shot example of the prompt, several were generic ("What is the result of the study?") or cut off.

- :func:`check_not_an_example`: the query, normalised (NFKC, case-folded, punctuation and spacing removed),
  equals a ``Query:`` line of the few-shot examples in the prompt actually rendered
  (:func:`prompt_example_queries`). Not rejected when every content word of the query is in the passage
  (a passage that really is about the Zugspitze may be asked how high it is).
- :func:`check_not_generic`: the query matches one of a few English templates that fit any passage
  (:data:`GENERIC_PATTERNS`), or, once stopwords and words such as "study", "passage", "result" are set
  aside (:data:`GENERIC_WORDS`), it has no content word, or none that the passage shares (after the BM25
  analyzer's stemming, so "mutations" meets "mutation", and by shared prefix, :func:`shares_a_term`; CJK
  by character n-grams). The overlap test runs only
  when the query and the passage are in the same detected language: a cross-lingual query shares no words
  by design. Conservative by intent: one shared stem (a gene name, a number written as digits) is enough.
- :func:`check_not_truncated`: the query was still being written when ``max_tokens`` ran out (finish reason
  ``length`` and nothing after the query's line), or it ends on a dangling connective or preposition of
  :data:`DANGLING_WORDS` ("... between smoking and") or a mark that never ends a query (``,;:-(/&``), or it
  leaves a parenthesis open. A query that merely lacks a question mark, or ends on a preposition, is kept.
- :func:`check_language`: the query is not in the wanted language: too few of its units are in that
  language's scripts (:func:`drama_data.unicode_scripts.script_share` below ``min_script_share``: a "Chinese" query in
  Latin letters), py3langid detects another language or is unsure (probability below ``min_confidence``),
  or one half of a query of six or more words reads clearly as another language (:func:`mixed_language`: a
  "German" query that is half English, which py3langid alone still calls German at 0.88).
- :func:`check_not_echo`: the query copies a long span of the passage (:func:`echo_span`): at least
  ``min_units`` words (a CJK character counts half a word) in a row that make up at least ``min_share`` of
  the query. A query that shares a name or a phrase with its passage is kept; one that is a passage
  sentence, or mostly one, is not.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from drama_data.tasks.parse_failure import ParseFailure
from drama_data.unicode_scripts import CHARACTER_SCRIPTS, UNSPACED_LANGUAGES, script_of, script_profile, script_share

REASON_EXAMPLE = "query copies a few-shot example of the prompt"
REASON_GENERIC = "generic query (fits any passage)"
REASON_NO_OVERLAP = "query shares no content word with the passage"
REASON_LENGTH = "query cut off (max_tokens reached)"
REASON_DANGLING = "query cut off (ends mid-phrase)"
REASON_ECHO = "query copies a long span of the passage"

#: defaults of the language and echo checks (``--min-language-confidence``, ``--min-script-share``); chosen on
#: XQuAD-R passages and hand-written mixed queries (never its test questions): 1273 of 1276 German passage
#: sentences pass the mixed-language test (the 3 others quote English titles), and half-English queries fail
MIN_LANGUAGE_CONFIDENCE = 0.5
MIN_SCRIPT_SHARE = 0.6
MIXED_CONFIDENCE = 0.9
ECHO_MIN_UNITS = 5.0
ECHO_MIN_SHARE = 0.75

_OBJ = r"(?:study|passage|text|article|paper|research|document|abstract|trial|report|review|work|experiment|data)"
_THE = r"(?:the|this|that|these|those)"
#: whole-query templates (matched on the normalised query, English) that fit any passage
GENERIC_PATTERNS = tuple(re.compile(p) for p in (
    rf"(?:what|which) (?:is|are|was|were) {_THE} (?:main |key |primary |major |overall )?"
    rf"(?:result|finding|conclusion|outcome|purpose|aim|goal|objective|topic|subject|point|focus|idea|theme)s?"
    rf"(?: (?:of|in|from) {_THE} {_OBJ}s?)?",
    rf"what (?:is|was|are|were) {_THE} {_OBJ}s? about",
    rf"what (?:does|did|do) {_THE} {_OBJ}s? (?:say|show|describe|discuss|find|report|conclude|suggest|explain)",
    rf"what did {_THE} (?:researchers|authors|scientists|investigators) (?:find|show|conclude|report)",
    rf"(?:summari[sz]e|describe|explain) {_THE} {_OBJ}s?",
    rf"what (?:is|are) {_THE} {_OBJ}s?",
))
#: words that say nothing about a passage's content (set aside, with stopwords, before the overlap test)
GENERIC_WORDS = frozenset("""
study studies passage text article paper research document abstract trial report review work experiment data
result results finding findings conclusion conclusions outcome outcomes purpose aim goal objective topic subject
main key primary major overall information effect effects role about describe explain summarize summarise
show shows find found say says discuss author authors researchers scientists investigators question answer
what which who whom whose when where why how does do did can could would should will may might many much
wie was wer wen wem wo wann warum welche welcher welches
""".split())
#: words a finished query does not end with (English and German conjunctions and articles). Prepositions are
#: left out on purpose: questions end on them ("what is it caused by", "where does it come from", German
#: separable verbs "wie sieht das aus"), and so are words that are also nouns ("vitamin a").
DANGLING_WORDS = frozenset("""
and or but nor the versus vs between than whether including
und oder aber sowie der des dem ein eine einer eines einem zwischen als
""".split())
_DANGLING_MARKS = ",;:-‐–—(/&"
_FIELD_QUERY_RE = re.compile(r"^[ \t]*\**[ \t]*query[ \t]*\**[ \t]*[:：][ \t]*\**[ \t]*(.*?)[ \t]*$",
                             re.IGNORECASE | re.MULTILINE)


def normalise(text: str) -> str:
    """NFKC, case-folded, punctuation/symbols dropped, spacing collapsed: ``"Wie hoch ist die Zugspitze?"`` ->
    ``"wie hoch ist die zugspitze"``."""
    text = unicodedata.normalize("NFKC", text or "").casefold()
    kept = "".join(" " if unicodedata.category(ch)[0] in "PSZC" else ch for ch in text)
    return " ".join(kept.split())


def prompt_example_queries(rendered) -> frozenset[str]:
    """The normalised values of every ``Query:`` line in a rendered prompt (a string, or chat messages).

    The few-shot examples live in the ``.j2`` templates (the shipped ones and a user's ``--prompt``); reading
    them back from the rendered prompt finds exactly the examples the model saw, whatever the template.
    Render it with an empty passage so that a passage containing ``Query:`` does not count.
    """
    texts = [rendered] if isinstance(rendered, str) else [m.get("content", "") for m in rendered]
    found = {normalise(m.group(1).strip('"“”«»\'`')) for t in texts for m in _FIELD_QUERY_RE.finditer(t)}
    found.discard("")
    return frozenset(found)


@lru_cache(maxsize=64)
def _analyzer(language: str):
    from drama_data.mining.analyzer import Analyzer

    try:
        return Analyzer(language or "none")
    except Exception:  # a code the analyzer does not take: plain words, no stemming
        return Analyzer("none")


def content_terms(text: str, language: str) -> set[str]:
    """Stemmed terms of ``text`` without stopwords and :data:`GENERIC_WORDS` (the BM25 analyzer of ``language``)."""
    analyzer = _analyzer(language)
    generic = _generic_terms(language)
    return {t for t in analyzer(text) if t not in generic}


@lru_cache(maxsize=64)
def _generic_terms(language: str) -> frozenset[str]:
    return frozenset(_analyzer(language)(" ".join(GENERIC_WORDS))) | GENERIC_WORDS


def shares_a_term(query_terms: set[str], passage_terms: set[str]) -> bool:
    """Whether a query term meets a passage term: equal, one a prefix of the other (4+ characters: "mdsc" and
    "mdscs", which the stemmer leaves apart), or a common prefix of 5+ characters ("expans", "expand")."""
    if query_terms & passage_terms:
        return True
    for q in query_terms:
        for p in passage_terms:
            n = min(len(q), len(p))
            if (n >= 4 and (q.startswith(p) or p.startswith(q))) or (n >= 5 and q[:5] == p[:5]):
                return True
    return False


def check_not_an_example(query: str, examples: frozenset[str], passage_text: str, language: str = "") -> None:
    """Reject a copy of a few-shot example, unless the passage holds every content word of the query."""
    if normalise(query) not in examples:
        return
    terms = content_terms(query, language)
    passage_terms = content_terms(passage_text, language)
    if terms and all(shares_a_term({t}, passage_terms) for t in terms):
        return
    raise ParseFailure(REASON_EXAMPLE)


def check_not_generic(query: str, passage_text: str, query_language: str, passage_language: str) -> None:
    """Reject a template query that fits any passage, or one without a content word shared with the passage."""
    norm = normalise(query)
    if any(p.fullmatch(norm) for p in GENERIC_PATTERNS):
        raise ParseFailure(REASON_GENERIC)
    if not passage_language or query_language != passage_language:
        return
    terms = content_terms(query, query_language)
    if not terms:
        raise ParseFailure(REASON_GENERIC)
    if not shares_a_term(terms, content_terms(passage_text, passage_language)):
        raise ParseFailure(REASON_NO_OVERLAP)


def check_not_truncated(query: str, finish_reason: str | None = None, query_was_last: bool = False) -> None:
    """Reject a query cut off by ``max_tokens`` or ending mid-phrase (see the module docstring)."""
    if finish_reason == "length" and query_was_last:
        raise ParseFailure(REASON_LENGTH)
    q = query.rstrip()
    if not q:
        return
    if q[-1] in _DANGLING_MARKS or q.count("(") > q.count(")"):
        raise ParseFailure(REASON_DANGLING)
    words = normalise(q).split()
    if len(words) > 1 and words[-1] in DANGLING_WORDS:
        raise ParseFailure(REASON_DANGLING)


def mixed_language(query: str, language: str, candidates) -> str:
    """The other language one half of ``query`` is clearly in (py3langid among ``candidates``, probability at
    least :data:`MIXED_CONFIDENCE`, halves of three or more words), or ``""``. Only for spaced languages and
    queries of six or more words: shorter halves are names and fragments no detector reads."""
    from drama_data.languages import identify_language

    words = query.split()
    if language in UNSPACED_LANGUAGES or len(words) < 6:
        return ""
    candidates = sorted(set(candidates) | {language})
    half = len(words) // 2
    for part in (words[:half], words[half:]):
        text = " ".join(part)
        if len(re.findall(r"[^\W\d_]+", text)) < 3:
            continue
        code, p = identify_language(text, candidates)
        if code != language and p >= MIXED_CONFIDENCE:
            return code
    return ""


def check_language(query: str, language: str, detected: str, confidence: float, *,
                   min_confidence: float = MIN_LANGUAGE_CONFIDENCE, min_script_share: float = MIN_SCRIPT_SHARE,
                   mixed_candidates=("en",)) -> None:
    """Reject a query that is not in ``language`` (ISO 639-1): wrong script, another detected language
    (``detected`` with probability ``confidence``), too unsure a detection, or half of it in another language
    (one of ``mixed_candidates``). The failure carries the detected language and confidence."""
    def fail(reason):
        return ParseFailure(reason, detected_language=detected, language_confidence=confidence)

    if script_share(query, language) < min_script_share:
        main = next(iter(script_profile(query)), "")
        raise fail(f"query not in the script of '{language}' (mostly {main})")
    if detected != language:
        raise fail(f"query is in '{detected}', not '{language}'")
    if confidence < min_confidence:
        raise fail(f"query language '{language}' uncertain (confidence below {min_confidence:g})")
    other = mixed_language(query, language, mixed_candidates)
    if other:
        raise fail(f"query '{language}' is half in '{other}'")


def _units(text: str) -> list[tuple[str, float]]:
    """``(token, weight)`` of a normalised text: words weigh 1, each Han/Kana character 0.5 (about two
    characters make a Chinese word)."""
    out: list[tuple[str, float]] = []
    for word in normalise(text).split():
        buf = ""
        for ch in word:
            if script_of(ch) in CHARACTER_SCRIPTS:
                if buf:
                    out.append((buf, 1.0))
                    buf = ""
                out.append((ch, 0.5))
            else:
                buf += ch
        if buf:
            out.append((buf, 1.0))
    return out


def echo_span(query: str, passage_text: str) -> tuple[float, float]:
    """``(weight, share)`` of the longest run of query tokens that also appears in a row in the passage: its
    weight in words (see :func:`_units`) and its share of the query's weight."""
    q, p = _units(query), [t for t, _ in _units(passage_text)]
    total = sum(w for _, w in q)
    if not q or not p:
        return 0.0, 0.0
    best = 0.0
    prev = [0.0] * (len(p) + 1)
    for qt, qw in q:
        cur = [0.0] * (len(p) + 1)
        for j, pt in enumerate(p, 1):
            if qt == pt:
                cur[j] = prev[j - 1] + qw
                if cur[j] > best:
                    best = cur[j]
        prev = cur
    return best, best / total


def check_not_echo(query: str, passage_text: str, *, min_units: float = ECHO_MIN_UNITS,
                   min_share: float = ECHO_MIN_SHARE, detected_language: str = "",
                   language_confidence: float | None = None) -> None:
    """Reject a query that copies a long span of its passage (see the module docstring); the failure carries
    the query's detected language and confidence when given."""
    weight, share = echo_span(query, passage_text)
    if weight >= min_units and share >= min_share:
        raise ParseFailure(REASON_ECHO, detected_language, language_confidence)
