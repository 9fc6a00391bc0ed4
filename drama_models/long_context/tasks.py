"""LongEmbed's synthetic long-context tasks, Passkey and Needle, built locally and deterministically per seed.

LongEmbed (Zhu et al. 2024, ``dwzhu/LongEmbed``; used by the DRAMA paper's long-context table) defines, for each
context length (256, 512, 1k, 2k, 4k, 8k, ... tokens), 100 candidate documents of that length and 50 queries,
one relevant document each, scored by nDCG@1 (= top-1 accuracy with one relevant document):

- **Passkey** (from the personalized passkey retrieval of E5-Mistral): each document is filler text ("The grass
  is green. The sky is blue. ...") with one sentence "<name>'s pass key is <5 digits>. Remember it. <5 digits>
  is the pass key for <name>." planted in it; the query is "what is the pass key for <name>?".
- **Needle** (from Needle-in-a-Haystack): each document is a stretch of real text (LongEmbed: Paul Graham's
  essays; here any BEIR corpus the user names, by default the bundled SciFact sample) with one fact planted in
  it ("The best thing to do in Lisbon is to ..."); the query asks the question the fact answers.

Every document of a task holds its own planted sentence (the distractors look alike), at a stated depth: the
``j``-th document's sentence starts ``depth = depths[j % len(depths)]`` of the way through its tokens (default
0, 0.1, ..., 1.0), so the queried documents cover every depth. Lengths are counted with the tokenizer of the
model under test (:class:`TokenCounter`; any Hugging Face fast tokenizer, or words when there is none), special
tokens included: a "512-token" document is 512 tokens once BOS/EOS (or [CLS]/[SEP]) are added, within a few
tokens where BPE merges across the planted sentence's edges (never more).

In: a task name, a length, a counter, a seed (and the haystack texts for Needle). Out: a :class:`SyntheticTask`
(corpus, queries, qrels and, per document, where its answer lies: :class:`Planted`). The same inputs give the
same task, byte for byte.
"""
from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

TASKS = ("passkey", "needle")
LENGTHS = (256, 512, 1024, 2048, 4096, 8192)
DEFAULT_DEPTHS = tuple(i / 10 for i in range(11))
NUM_QUERIES = 50  # LongEmbed: 50 queries and 100 candidate documents per length
DOCS_PER_QUERY = 2

PASSKEY_FILLER = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."

FIRST_NAMES = ("Rachel", "Oliver", "Amara", "Mateo", "Yuki", "Leila", "Tomas", "Ingrid", "Kwame", "Sofia",
               "Arjun", "Elena", "Hamid", "Nora", "Felix", "Priya", "Jonas", "Camille", "Diego", "Hana",
               "Lukas", "Zainab", "Marco", "Aiko")
LAST_NAMES = ("Okafor", "Lindqvist", "Moreau", "Tanaka", "Castillo", "Novak", "Brennan", "Haddad", "Kowalski",
              "Silva", "Petrov", "Nakamura", "Adeyemi", "Fischer", "Rossi", "Varga", "Oyelaran", "Dubois",
              "Jansen", "Sato")
CITIES = ("Lisbon", "Nairobi", "Osaka", "Valparaiso", "Tbilisi", "Quebec", "Hobart", "Krakow", "Marrakesh",
          "Reykjavik", "Cusco", "Hanoi", "Bergen", "Zanzibar", "Tallinn", "Cartagena", "Ljubljana", "Kyoto",
          "Montevideo", "Porto", "Dakar", "Salzburg", "Galway", "Luang Prabang", "Trieste", "Antigua",
          "Bruges", "Mendoza", "Samarkand", "Queenstown")
ACTIVITIES = ("eat a sandwich on the harbour wall at dawn", "ride the oldest tram to the end of the line",
              "swim at the stone baths before breakfast", "climb the bell tower at sunset",
              "buy roasted chestnuts from the market under the bridge", "watch the fishing boats come in",
              "take the night ferry across the bay", "listen to the street choir in the main square",
              "hike to the lighthouse along the cliffs", "read in the library garden on a rainy afternoon",
              "rent a bicycle and follow the river north", "drink mint tea on a rooftop terrace")
DISHES = ("lentil soup", "plum cake", "fish stew", "bean chili", "apple pie", "mushroom risotto", "corn bread",
          "pumpkin curry", "lemon tart", "onion pie")
INGREDIENTS = ("smoked paprika", "a spoonful of honey", "burnt orange peel", "fresh tarragon", "black cardamom",
               "a dash of rose water", "toasted fennel seeds", "grated ginger", "a pinch of saffron",
               "pickled walnuts", "brown butter", "star anise")
BUILDINGS = ("boathouse", "greenhouse", "observatory", "bakery", "chapel", "workshop", "lighthouse", "barn")
OBJECTS = ("blue flower pot", "third stone step", "broken lantern", "iron boot scraper", "loose floor board",
           "old rain barrel", "stack of roof tiles", "rusty bicycle wheel", "doormat shaped like a fish",
           "cracked sundial")
ANIMALS = ("grey seal", "old tortoise", "one-eyed cat", "white heron", "brown pelican", "sea otter",
           "striped goat", "black swan", "lame donkey", "green parrot")
PET_NAMES = ("Captain Biscuit", "Marmalade", "Professor Puddle", "Saffron", "Bartholomew", "Winnie", "Pickles",
             "Duchess", "Admiral Crumb", "Tinsel", "Mister Fig", "Clementine")


@dataclass
class Planted:
    """Where a document's answer lies: the planted ``sentence`` (``sentence_tokens`` long) starts at character
    ``char_start`` and token ``token_start`` of the document's ``tokens`` content tokens (special tokens not
    counted). ``depth`` (as Needle-in-a-Haystack defines it) is the share of the haystack before the sentence:
    ``token_start / (tokens - sentence_tokens)``; the asked-for depth was ``target_depth``."""

    sentence: str
    char_start: int
    token_start: int
    tokens: int
    depth: float
    target_depth: float
    sentence_tokens: int = 0


@dataclass
class SyntheticTask:
    """One task at one length: ``corpus[doc_id] = text``, ``queries[qid] = text``, ``qrels[qid] = {doc_id: 1}``,
    ``planted[doc_id]`` (every document has one; ``num_queries`` of them are asked for)."""

    name: str
    length: int
    seed: int
    corpus: dict[str, str]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    planted: dict[str, Planted] = field(default_factory=dict)
    haystack: str = ""

    def as_collection(self):
        """The task as a :class:`drama_models.beir.BeirCollection` (split ``test``; titles empty), for BM25 and
        the metrics of :mod:`drama_models.evaluation`."""
        from pathlib import Path

        from drama_models.beir import BeirCollection

        return BeirCollection(name=f"{self.name}-{self.length}", path=Path(f"<{self.name}-{self.length}>"),
                              split="test", corpus={d: {"title": "", "text": t} for d, t in self.corpus.items()},
                              queries=dict(self.queries), qrels={q: dict(r) for q, r in self.qrels.items()})


class TokenCounter:
    """Token positions of a text: a Hugging Face fast tokenizer's offsets (special tokens left out; ``reserve`` =
    how many it adds, e.g. 2 for BOS+EOS), or, with ``tokenizer=None``, words and punctuation marks."""

    _WORDS = re.compile(r"\w+|[^\w\s]")

    def __init__(self, tokenizer=None):
        self.tokenizer = tokenizer
        self.name = getattr(tokenizer, "name_or_path", None) or ("words" if tokenizer is None else "tokenizer")
        self.reserve = int(tokenizer.num_special_tokens_to_add()) if tokenizer is not None else 0

    def offsets(self, text: str) -> list[tuple[int, int]]:
        """``(start, end)`` character span of every content token of ``text``."""
        if self.tokenizer is None:
            return [m.span() for m in self._WORDS.finditer(text)]
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True,
                             return_attention_mask=False, return_token_type_ids=False, truncation=False)
        return [tuple(span) for span in enc["offset_mapping"]]

    def count(self, text: str) -> int:
        """Content tokens of ``text`` (special tokens not counted)."""
        return len(self.offsets(text))


def _check(name: str, length: int, num_queries: int, num_docs: int, depths: Sequence[float]) -> None:
    if name not in TASKS:
        raise ValueError(f"option `long_context`: unknown task {name!r}; choose from {', '.join(TASKS)}")
    if not isinstance(length, int) or length < 64:
        raise ValueError(f"option `lengths`: {length!r} is not a token count >= 64")
    if num_queries < 1 or num_docs < num_queries:
        raise ValueError(f"option `num_docs`={num_docs} must be >= `num_queries`={num_queries} >= 1")
    if not depths or any(not 0.0 <= d <= 1.0 for d in depths):
        raise ValueError(f"option `depths`={list(depths)!r}: each depth must lie in [0, 1]")


def _passkey_items(rng: random.Random, n: int) -> list[tuple[str, str]]:
    """``n`` (sentence, query) pairs with distinct names and 5-digit keys."""
    pairs = rng.sample(range(len(FIRST_NAMES) * len(LAST_NAMES)), n) if n <= len(FIRST_NAMES) * len(LAST_NAMES) \
        else [rng.randrange(len(FIRST_NAMES) * len(LAST_NAMES)) for _ in range(n)]
    keys = rng.sample(range(10000, 100000), n)
    items = []
    for i, key in zip(pairs, keys):
        name = f"{FIRST_NAMES[i // len(LAST_NAMES)]} {LAST_NAMES[i % len(LAST_NAMES)]}"
        if n > len(FIRST_NAMES) * len(LAST_NAMES):
            name = f"{name} {len(items) + 1}"
        items.append((f"{name}'s pass key is {key}. Remember it. {key} is the pass key for {name}.",
                      f"what is the pass key for {name}?"))
    return items


_NEEDLES = (
    (("city", "activity"), "The best thing to do in {city} is to {activity}.",
     "What is the best thing to do in {city}?", ("city",)),
    (("person", "dish", "ingredient"), "The secret ingredient in {person}'s {dish} is {ingredient}.",
     "What is the secret ingredient in {person}'s {dish}?", ("person", "dish")),
    (("person", "building", "object"), "{person} hid the spare key to the {building} under the {object}.",
     "Where did {person} hide the spare key to the {building}?", ("person", "building")),
    (("animal", "city", "pet"), "The {animal} that lives in the old harbour of {city} is called {pet}.",
     "What is the name of the {animal} that lives in the old harbour of {city}?", ("animal", "city")),
)
_SLOTS = {"city": CITIES, "activity": ACTIVITIES, "person": FIRST_NAMES, "dish": DISHES, "ingredient": INGREDIENTS,
          "building": BUILDINGS, "object": OBJECTS, "animal": ANIMALS, "pet": PET_NAMES}


def _needle_items(rng: random.Random, n: int) -> list[tuple[str, str]]:
    """``n`` (fact, question) pairs; no two questions alike (the asked-for slots differ)."""
    used: set = set()
    items = []
    for j in range(n):
        slots, fact, question, key_slots = _NEEDLES[j % len(_NEEDLES)]
        for attempt in range(1000):
            values = {s: rng.choice(_SLOTS[s]) for s in slots}
            key = (j % len(_NEEDLES), *(values[s] for s in key_slots))
            if key not in used or attempt == 999:
                break
        if key in used:  # the slot lists ran out (more documents than combinations): number the question
            values[key_slots[0]] = f"{values[key_slots[0]]} {j}"
            key = (j % len(_NEEDLES), *(values[s] for s in key_slots))
        used.add(key)
        items.append((fact.format(**values), question.format(**values)))
    return items


def _plant(haystack: str, sentence: str, budget: int, depth: float, counter: TokenCounter) -> tuple[str, Planted]:
    """Cut ``haystack`` and plant ``sentence`` at ``depth`` so that the result has at most ``budget`` content
    tokens (as many as can be had: a few fewer only where merges at the sentence's edges cost tokens)."""
    need = counter.count(" " + sentence + " ")
    if need >= budget:
        raise ValueError(f"option `lengths`: {budget + counter.reserve} tokens cannot hold the planted sentence "
                         f"({need} tokens); use a longer length")
    hay = counter.offsets(haystack)
    keep = budget - need
    for _ in range(8):
        if keep > len(hay):
            raise ValueError(f"the haystack has {len(hay)} tokens, fewer than the {keep} a document needs")
        at = round(depth * keep)
        cut = hay[keep - 1][1]
        pos = hay[at][0] if at < keep else cut
        before, after = haystack[:pos].rstrip(" "), haystack[pos:cut].lstrip(" ")
        text = (before + " " if before else "") + sentence + (" " + after if after else "")
        char_start = len(before) + 1 if before else 0
        spans = counter.offsets(text)
        if len(spans) <= budget:
            break
        keep -= len(spans) - budget
    else:
        raise ValueError(f"could not fit a document into {budget} tokens")
    token_start = sum(1 for s, _ in spans if s < char_start)
    own = counter.count(sentence)
    hay_tokens = max(len(spans) - own, 1)
    return text, Planted(sentence, char_start, token_start, len(spans), min(token_start / hay_tokens, 1.0), depth, own)


def _haystack_text(texts: Sequence[str], rng: random.Random, min_chars: int) -> str:
    """Consecutive ``texts`` from a seeded start (wrapping around) joined with spaces, ``min_chars`` long."""
    start = rng.randrange(len(texts))
    parts, size, i = [], 0, start
    while size < min_chars:
        t = " ".join(texts[i % len(texts)].split())
        if t:
            parts.append(t)
            size += len(t) + 1
        i += 1
        if i - start > len(texts) and not parts:
            raise ValueError("the haystack corpus has no text")
    return " ".join(parts)


def build_task(name: str, length: int, counter: TokenCounter | None = None, *, seed: int = 0,
               haystack: Sequence[str] | None = None, num_queries: int = NUM_QUERIES, num_docs: int | None = None,
               depths: Sequence[float] = DEFAULT_DEPTHS, haystack_name: str = "") -> SyntheticTask:
    """Build ``name`` (``passkey`` / ``needle``) at ``length`` tokens (see the module docstring).

    ``haystack``: texts the documents are cut from (Needle: required, e.g. :func:`read_haystack`; Passkey: the
    LongEmbed filler unless given). ``num_docs`` defaults to twice ``num_queries`` (LongEmbed: 50 and 100).
    """
    counter = counter or TokenCounter()
    num_docs = num_docs or DOCS_PER_QUERY * num_queries
    _check(name, length, num_queries, num_docs, depths)
    rng = random.Random(f"drama-long-context:{name}:{length}:{seed}")
    if name == "passkey":
        texts = list(haystack) if haystack else [PASSKEY_FILLER]
        items = _passkey_items(rng, num_docs)
    else:
        if not haystack:
            raise ValueError("option `haystack`: the needle task needs haystack texts (e.g. a BEIR corpus)")
        texts = list(haystack)
        items = _needle_items(rng, num_docs)
    budget = length - counter.reserve
    chars_per_token = 6
    corpus, queries, qrels, planted = {}, {}, {}, {}
    for j, (sentence, question) in enumerate(items):
        depth = float(depths[j % len(depths)])
        doc_rng = random.Random(f"{name}:{length}:{seed}:{j}")
        min_chars = budget * chars_per_token
        while True:
            hay = _haystack_text(texts, doc_rng, min_chars) if name == "needle" or haystack else \
                " ".join([PASSKEY_FILLER] * (min_chars // len(PASSKEY_FILLER) + 1))
            try:
                text, where = _plant(hay, sentence, budget, depth, counter)
                break
            except ValueError as err:
                if "haystack has" not in str(err) or min_chars > budget * 64:
                    raise
                min_chars *= 2
                doc_rng = random.Random(f"{name}:{length}:{seed}:{j}")
        doc_id = f"{name}-{length}-d{j:03d}"
        corpus[doc_id] = text
        planted[doc_id] = where
        if j < num_queries:
            qid = f"{name}-{length}-q{j:03d}"
            queries[qid] = question
            qrels[qid] = {doc_id: 1}
    return SyntheticTask(name, length, seed, corpus, queries, qrels, planted,
                         haystack=haystack_name or ("filler" if name == "passkey" and not haystack else "texts"))


def read_haystack(folder) -> list[str]:
    """The documents of a BEIR folder (``corpus.jsonl`` or ``.jsonl.gz``; title and text), in file order."""
    from pathlib import Path

    from drama_models.beir import find_corpus_file, join_title, read_corpus

    corpus = read_corpus(find_corpus_file(Path(folder)))
    texts = [join_title(d.get("title", ""), d.get("text", "")) for d in corpus.values()]
    texts = [t for t in texts if t.strip()]
    if not texts:
        raise ValueError(f"{folder}: the corpus has no text to build a haystack from")
    return texts
