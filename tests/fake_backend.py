"""A deterministic in-process backend for runner tests (no model, no network)."""
from __future__ import annotations

import hashlib
import re

from drama_data.backends.base import Backend, Completion


def passage_word(prompt: str) -> str:
    """The first word (4+ letters) of the passage in a rendered prompt: a fake query that names it shares a
    content word with its passage, as the queries task requires."""
    tail = prompt.rsplit("Passage:", 1)[-1].replace("\\n", "\n")  # chat requests: JSON-escaped
    words = [w for w in re.findall(r"[^\W\d_]{4,}", tail) if w != "Language"]
    return words[0] if words else ""


_CJK_DIGITS = str.maketrans("0123456789abcdef", "零一二三四五六七八九甲乙丙丁戊己")


def fake_query(content: str, h: str) -> str:
    """A query naming the passage of a rendered prompt ``content``, in the passage's language (English, German
    or Chinese: the languages of the test corpora) so that it passes the queries task's language checks."""
    tail = content.rsplit("Passage:", 1)[-1]
    if "\\u" in tail:  # JSON-escaped (chat requests)
        tail = tail.encode("latin-1", "backslashreplace").decode("unicode_escape", "ignore")
    cjk = re.findall(r"[\u4e00-\u9fff]", tail)
    if cjk:
        return f"{''.join(cjk[:2])}{h.translate(_CJK_DIGITS)}是哪个朝代修建的"
    if re.search(r"\b(der|die|das|ist|und|mit)\b", tail):
        return f"Was sagt der Text über {passage_word(content)} {h}?"
    return f"query {h} about {passage_word(content)}"


def default_answer(request) -> str:
    """Distinct per request and seed; the Photosynthesis passage's first attempt is unparseable."""
    h = hashlib.sha256((request.content() + str(request.sampling.seed)).encode()).hexdigest()[:8]
    if "Photosynthesis" in request.content() and request.id.endswith("@0"):
        return "I am not sure what to say."  # unparseable on the first attempt, fine on the retry
    return f"Task: find facts\nQuery: {fake_query(request.content(), h)}\nLanguage: English"


class FakeBackend(Backend):
    name = "fake"

    def __init__(self, model="fake-model", answer=default_answer, chat=True, interrupt_after=None, fail_after=None):
        self.model = model
        self.answer = answer
        self.chat = chat
        self.interrupt_after = interrupt_after
        self.fail_after = fail_after  # raise RuntimeError (a crashed engine) after this many answers
        self.generated = 0

    def supports_chat(self) -> bool:
        return self.chat

    def generate(self, requests):
        for i, r in enumerate(requests):
            if self.interrupt_after is not None and self.generated >= self.interrupt_after:
                raise KeyboardInterrupt
            if self.fail_after is not None and self.generated >= self.fail_after:
                raise RuntimeError("engine died")
            self.generated += 1
            text = self.answer(r)
            if self.chat is False and r.prompt is not None:
                lines = text.split("\n")  # completion form continues after "Language:"
                text = " English\n" + (lines[1] if len(lines) > 1 else text)
            yield i, Completion(text=text, finish_reason="stop", prompt_tokens=10, completion_tokens=5)
