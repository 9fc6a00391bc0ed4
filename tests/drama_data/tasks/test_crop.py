"""Sent (crop): a heading is never the cropped sentence, whatever corpus the passage came from."""
from __future__ import annotations

from drama_data.chunking import Passage
from drama_data.tasks import get_task
from drama_data.tasks.crop import is_heading


def test_a_heading_is_never_the_crop():
    # raw Markdown in a jsonl corpus, and a title repeated as the text's first line
    text = ("# Solar panel maintenance\nSolar panel maintenance\nClean the panels twice a year with soft water.\n"
            "## Cleaning the panels in winter")
    passage = Passage(id="p1", doc_id="p1", chunk=0, title="Guide > Solar panel maintenance", text=text)
    for seed in range(20):
        rows = get_task("crop", seed=seed, queries_per_doc=3, min_words=1).direct(passage)
        crops = [r.get("query") for _, r in rows if isinstance(r, dict)]
        assert crops == ["Clean the panels twice a year with soft water."], crops


def test_is_heading():
    assert is_heading("## Cleaning", "") and is_heading("#", "")
    assert is_heading("Solar  panel maintenance", "Guide > solar panel maintenance")
    assert is_heading("Guide", "Guide")
    assert not is_heading("#1 tip: clean the panels twice a year.", "Guide")
    assert not is_heading("Clean the panels.", "Guide > Cleaning")


def test_a_passage_without_a_sentence_says_so_in_good_english():
    passage = Passage(id="p1", doc_id="p1", chunk=0, title="", text="Too short. Also short.")
    rows = get_task("crop", seed=0, queries_per_doc=2, min_words=5, language="en").direct(passage)
    reasons = [r.reason for _, r in rows]
    assert reasons == ["no sentence of 5-64 words", "fewer than 2 sentences of 5-64 words"], reasons
