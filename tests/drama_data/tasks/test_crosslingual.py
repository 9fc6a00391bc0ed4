import json
import re
from pathlib import Path

import datasets
import pytest
from conftest import write_jsonl
from fake_backend import FakeBackend, fake_query

from drama_data.chunking import Passage
from drama_data.datasets.folder import read_card, read_table
from drama_data.errors import ConfigError
from drama_data.generate.runner import CorpusOptions, generate
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
    from drama_data.languages import _IDENTIFIERS
    from drama_data.languages import detect_language as detect

    _IDENTIFIERS.clear()
    assert detect("Die Zugspitze ist der höchste Berg Deutschlands.") == "de"  # all languages first
    assert detect("Wie hoch ist die Zugspitze?", ["en", "de"]) == "de"
    assert detect("Mount Everest is the highest mountain on Earth.") == "en"


def test_varieties_count_as_their_macro_language():
    from drama_data.languages import LanguageDetector

    # standard Chinese that py3langid alone reads as Wu Chinese (wuu, 0.73)
    assert LanguageDetector().passage("沃伊切赫波古斯洛斯基剧院 (Wojciech Bogusławski Theatre) (1922–26) 是“波兰纪念剧院”的最佳典范。") == "zh"


# -- both methods through the runner, quotas and the card (issue 12) --------------------------------------------



SAMPLES = Path(__file__).resolve().parents[3] / "drama_data" / "samples"
IN = {"German": "Wie viele Punkte gab die Verteidigung der Mannschaft ab?", "Chinese": "这支球队的防守丢了多少分",
      "English": "how many points did the defense of the team give up"}


def sample_corpus(tmp_path, n=2):
    """The first ``n`` sentences of the German and of the Chinese XQuAD-R sample, in one BEIR folder."""
    rows = []
    for lang in ("de", "zh"):
        lines = (SAMPLES / f"xquad-r-{lang}-sample" / "corpus.jsonl").read_text(encoding="utf-8").splitlines()[:n]
        rows += [{**json.loads(line), "_id": f"{lang}-{json.loads(line)['_id']}"} for line in lines]
    return write_jsonl(tmp_path / "corpus" / "corpus.jsonl", rows).parent


def wanted(request, pattern):
    return re.search(pattern, request.content()).group(1)


def direct_answer(request):
    target = wanted(request, r"Write the query in (\w+)")
    if target == "Chinese" and request.id.endswith("@0") and "de-p0s0" in request.id:
        return "Query: How many points did the defense give up?"  # English, not Chinese: retried
    return f"Task: t\nQuery: {IN[target]}\nLanguage: {target}"


def translate_answer(request):
    target = wanted(request, r"into (\w+)")
    if request.id.endswith("@0") and target == "German" and "zh-p0s0" in request.id:
        return "Translation: 这支球队的防守丢了多少分"  # Chinese, not German: retried
    return f"Translation: {IN[target]}"


def queries_answer(request):
    return f"Task: t\nQuery: {fake_query(request.content(), '1')}\nLanguage: x"


def run(task, corpus, out, answer):
    return generate(task, CorpusOptions(str(corpus)), out, backend=FakeBackend(answer=answer), cache=None,
                    progress=False, echo=None)


def test_direct_method_rows_and_failures_record_languages(tmp_path):
    corpus = sample_corpus(tmp_path)
    summary = run(get_task("crosslingual", target_languages=["en", "de", "zh"]), corpus, tmp_path / "out",
                  direct_answer)
    ds = datasets.load_dataset(str(tmp_path / "out"), split="train")
    # en, de, zh for each of 4 passages, less the passage's own language
    assert summary.rows == 8 and summary.failed_slots == 0
    assert {(r["passage_language"], r["language"]) for r in ds} == {("de", "en"), ("de", "zh"), ("zh", "en"),
                                                                    ("zh", "de")}
    assert set(ds["method"]) == {"direct"} and all(r["detected_language"] == r["language"] for r in ds)
    assert all(0.5 <= r["language_confidence"] <= 1 for r in ds)
    fails = read_table(tmp_path / "out", "failures").to_pylist()
    assert len(fails) == 1 and fails[0]["reason"] == "query not in the script of 'zh' (mostly Latin)"
    assert (fails[0]["language"], fails[0]["passage_language"], fails[0]["detected_language"]) == ("zh", "de", "en")
    _, body = read_card(tmp_path / "out")
    assert "### Language pairs" in body and "| `de` -> `zh` | 2 | 1 | 0 | 67% | query not in the script" in body
    assert "Mining these rows" in body and "`mined_with`" in body  # how to mine them (issue 12, item 5)


def test_direct_leaves_out_the_passages_own_language():
    t = get_task("crosslingual", target_languages=["de", "zh"])
    assert t.slots(Passage("p", "p", 0, "", "Die Zugspitze ist der höchste Berg Deutschlands.")) == ["p/xl-zh0"]


def test_translate_method_pairs_translations_with_the_source_passage(tmp_path):
    corpus = sample_corpus(tmp_path)
    run(get_task("queries"), corpus, tmp_path / "qgen", queries_answer)
    task = get_task("crosslingual", target_languages=["en", "de", "zh"], method="translate",
                    queries=str(tmp_path / "qgen"))
    summary = run(task, tmp_path / "qgen", tmp_path / "out", translate_answer)
    rows = read_table(tmp_path / "out", "queries").to_pylist()
    assert summary.rows == 8 and summary.failed_slots == 0  # 4 queries x 2 other languages
    row = next(r for r in rows if r["query_id"] == "de-p0s0/qgen0/xl-zh")
    assert row["source_query_id"] == "de-p0s0/qgen0" and row["source_query"] == "Was sagt der Text über Verteidigung 1?"
    assert (row["method"], row["language"], row["source_language"], row["passage_language"]) == \
        ("translate", "zh", "de", "de")
    assert row["query"] == IN["Chinese"] and row["passage_id"] == "de-p0s0" and row["text"].startswith("Die ")
    fails = read_table(tmp_path / "out", "failures").to_pylist()
    assert [(f["query_id"], f["detected_language"]) for f in fails] == [("zh-p0s0/qgen0/xl-de", "zh")]
    prov = json.loads((tmp_path / "out" / "provenance.json").read_text())
    assert prov["task"]["method"] == "translate" and prov["prompt"]["id"] == "crosslingual-translate.chat.j2"


def test_translate_completion_prompt_and_parsing():
    from drama_data.tasks.crosslingual import read_translation

    assert read_translation("Translation: 楚格峰有多高？\nQuery: next") == ("楚格峰有多高？", False)
    assert read_translation(" Wie hoch ist er?") == ("Wie hoch ist er?", True)
    with pytest.raises(ParseFailure, match="no 'Translation:' line"):
        read_translation("one\ntwo")


def test_translation_equal_to_its_source_fails(tmp_path):
    corpus = sample_corpus(tmp_path, n=1)
    run(get_task("queries"), corpus, tmp_path / "qgen", queries_answer)
    task = get_task("crosslingual", target_languages=["en"], method="translate", queries=str(tmp_path / "qgen"))
    sources = read_table(tmp_path / "qgen", "queries").column("query").to_pylist()

    def untranslated(request):
        return "Translation: " + next(q for q in sources if q in request.content() or json.dumps(q) in request.content())

    summary = run(task, tmp_path / "qgen", tmp_path / "out", untranslated)
    assert summary.rows == 0 and "translation equals the source query" in summary.failures


def test_translate_needs_queries_and_direct_refuses_them(tmp_path):
    with pytest.raises(ConfigError, match="--method translate needs --queries"):
        get_task("crosslingual", method="translate")
    with pytest.raises(ConfigError, match="--method 'x'"):
        get_task("crosslingual", method="x")
    with pytest.raises(ConfigError, match="klingon cannot be checked"):
        get_task("crosslingual", target_languages=["Japanese", "klingon"])
    assert get_task("crosslingual", target_languages=["Japanese", "ko"]).targets == ["ja", "ko"]


def test_per_language_quota_stops_a_pair_and_refills_failures(tmp_path):
    corpus = sample_corpus(tmp_path, n=4)
    backend = FakeBackend(answer=direct_answer)
    task = get_task("crosslingual", target_languages=["en", "zh"], per_language=2)
    summary = generate(task, CorpusOptions(str(corpus)), tmp_path / "out", backend=backend, cache=None,
                       progress=False, echo=None)
    rows = read_table(tmp_path / "out", "queries").to_pylist()
    pairs = {}
    for r in rows:
        pairs.setdefault((r["passage_language"], r["language"]), []).append(r["passage_id"])
    # de->zh: de-p0s0's query fails its first attempt and passes the retry, so the quota is met without a refill
    assert pairs == {("de", "en"): ["de-p0s0", "de-p0s1"], ("de", "zh"): ["de-p0s0", "de-p0s1"],
                     ("zh", "en"): ["zh-p0s0", "zh-p0s1"]}
    assert backend.generated == 7 and summary.rows == 6


def test_per_language_quota_refills_a_pair_whose_slot_failed(tmp_path):
    corpus = sample_corpus(tmp_path, n=4)
    task = get_task("crosslingual", target_languages=["zh"], per_language=2, max_attempts=1)
    summary = run(task, corpus, tmp_path / "out", direct_answer)
    rows = read_table(tmp_path / "out", "queries").to_pylist()
    assert [r["passage_id"] for r in rows] == ["de-p0s1", "de-p0s2"]  # de-p0s0 failed: the next passage refills
    assert summary.failed_slots == 1


def test_queries_task_checks_non_english_passages_queries():
    de = Passage("p", "p", 0, "", "Die Verteidigung der Panthers gab nur 308 Punkte ab und belegte den sechsten "
                 "Platz in der Liga.")
    t = get_task("queries")
    with pytest.raises(ParseFailure) as err:
        t.parse(de, "p/qgen0", "Query: how many points did the Panthers defense give up\nLanguage: German")
    assert err.value.reason == "query is in 'en', not 'de'"
    with pytest.raises(ParseFailure, match="copies a long span"):
        t.parse(de, "p/qgen0", "Query: Die Verteidigung der Panthers gab nur 308 Punkte ab\nLanguage: German")
    row = t.parse(de, "p/qgen0", "Query: Wie viele Punkte gab die Verteidigung der Panthers ab?\nLanguage: German")
    assert row["language"] == "de" and row["language_confidence"] > 0.9
    assert t.pair_of(de, "p/qgen0") == ("de", "de")


def test_dry_run_plans_at_most_the_quota_per_pair(tmp_path):
    corpus = sample_corpus(tmp_path, n=4)
    task = get_task("crosslingual", target_languages=["en", "zh"], per_language=1)
    plan = generate(task, CorpusOptions(str(corpus)), tmp_path / "out", backend=FakeBackend(answer=direct_answer),
                    cache=None, progress=False, echo=None, dry_run=True)
    assert plan.requests == 3  # de->en, de->zh, zh->en: one each
    assert not (tmp_path / "out").exists()


def test_a_translation_that_copies_a_prompt_example_fails(tmp_path):
    corpus = sample_corpus(tmp_path, n=1)
    run(get_task("queries"), corpus, tmp_path / "qgen", queries_answer)
    task = get_task("crosslingual", target_languages=["en"], method="translate", queries=str(tmp_path / "qgen"))
    task.use_form("completion")
    (p, slot), = [(p, s) for p in task.own_passages() for s in task.slots(p) if p.id == "zh-p0s0"]
    assert "how does low dose aspirin prevent heart attacks" in task.example_translations(p, slot)
    with pytest.raises(ParseFailure, match="copies a few-shot example"):
        task.parse(p, slot, "Translation: how does low dose aspirin prevent heart attacks")
    assert task.parse(p, slot, "Translation: how many points did the defense give up")["language"] == "en"


def test_round_trip_rejects_a_translation_whose_back_translation_drifts(tmp_path):
    corpus = sample_corpus(tmp_path, n=1)
    run(get_task("queries"), corpus, tmp_path / "qgen", queries_answer)
    sources = read_table(tmp_path / "qgen", "queries").to_pylist()
    de_source = next(r["query"] for r in sources if r["passage_id"] == "de-p0s0")

    def answer(request):
        if request.id.endswith("/back"):  # the back-translation
            if "xl-en@0" in request.id and "de-p0s0" in request.id:
                return "Translation: LeBron James letzte Saison"  # drifted: rejected, then retried
            target = wanted(request, r"into (\w+)")
            return f"Translation: {de_source if target == 'German' else next(r['query'] for r in sources if r['passage_id'] == 'zh-p0s0')}"
        return translate_answer(request)

    task = get_task("crosslingual", target_languages=["en"], method="translate", queries=str(tmp_path / "qgen"),
                    round_trip=0.5)
    backend = FakeBackend(answer=answer)
    summary = generate(task, CorpusOptions(str(tmp_path / "qgen")), tmp_path / "out", backend=backend, cache=None,
                       progress=False, echo=None)
    rows = read_table(tmp_path / "out", "queries").to_pylist()
    assert summary.rows == 2 and summary.failed_slots == 0
    assert {r["round_trip_overlap"] for r in rows} == {1.0} and rows[0]["round_trip_query"] == de_source
    fails = read_table(tmp_path / "out", "failures").to_pylist()
    assert [(f["kind"], f["reason"], f["query_id"]) for f in fails] == [
        ("followup", "round trip keeps too few source words (below 0.5)", "de-p0s0/qgen0/xl-en")]
    assert backend.generated == 2 + 2 + 2  # 2 translations + 2 back-translations + the retried pair
    with pytest.raises(ConfigError, match="--round-trip MIN goes with --method translate"):
        get_task("crosslingual", round_trip=0.5)


@pytest.mark.parametrize("kw, message", [
    ({"task_name": "queries"}, "--corpus is required"),
    ({"task_name": "crosslingual", "method": "translate", "queries": "q", "corpus": "c"}, "leave out --corpus"),
    ({"task_name": "queries", "corpus": "c", "method": "translate"}, "go with --task crosslingual"),
    ({"task_name": "crop", "corpus": "c", "per_language": 2}, "--per-language goes with"),
])
def test_cli_option_combinations_are_checked_before_anything_runs(tmp_path, kw, message):
    from drama_data.api import run_generate

    kw.setdefault("corpus", None)
    with pytest.raises(ConfigError, match=message):
        run_generate(output=str(tmp_path / "out"), echo=None, **kw)
    assert not (tmp_path / "out").exists()
