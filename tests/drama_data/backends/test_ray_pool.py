"""The Ray pool backend: packing and slicing without Ray (fast), and a local 2-CPU Ray running ``--task queries``
with the fake backend (slow: starting Ray takes 5-20 s here), whose rows must equal a local run's, and
``--task crop`` on Ray Data (the same rows; resumes after a crash)."""
import functools
from pathlib import Path

import pytest
from fake_backend import FakeBackend

from drama_data.backends.base import Completion, Request, Sampling
from drama_data.backends.ray_pool import (
    BackendSpec,
    RayPoolBackend,
    answer_items,
    check_reachable,
    pack,
    slices,
    unpack,
)
from drama_data.datasets.folder import read_table
from drama_data.errors import BackendError, ConfigError
from drama_data.generate.cache import RequestCache
from drama_data.generate.runner import CorpusOptions, generate
from drama_data.tasks import get_task


def _requests(n):
    out = []
    for k in range(n):
        s = Sampling(seed=k, stop=("\n",))
        out.append(Request(f"r{k}", s, prompt=f"Passage: text {k}") if k % 2 else
                   Request(f"r{k}", s, messages=({"role": "user", "content": f"Passage: words {k}"},)))
    return out


def test_pack_unpack_round_trip_keeps_every_field():
    reqs = _requests(5)
    items = pack(reqs, [10, 11, 12, 13, 14])
    assert [x["i"] for x in items] == [10, 11, 12, 13, 14]
    assert [unpack(x) for x in items] == reqs


def test_slices_are_contiguous_ordered_and_cover_everything():
    assert slices(5, 2) == [range(0, 3), range(3, 5)]
    assert slices(1, 4) == [range(0, 1)]
    for n in (1, 2, 7, 40):
        for w in (1, 2, 3, 8):
            parts = slices(n, w)
            assert [i for p in parts for i in p] == list(range(n)) and len(parts) <= w and all(parts)


def test_answer_items_returns_each_index_once_with_the_local_answer():
    reqs = _requests(7)
    items = pack(reqs, list(range(100, 107)))
    got = [pair for group in answer_items(FakeBackend(), items, flush_seconds=0) for pair in group]
    assert sorted(i for i, _ in got) == list(range(100, 107))
    local = {i: c for i, c in FakeBackend().generate(reqs)}
    assert {i - 100: Completion.from_dict(c) for i, c in got} == local


def test_unreachable_address_is_one_line():
    with pytest.raises(ConfigError, match=r"--ray 127.0.0.1:9: cannot reach the Ray cluster"):
        check_reachable("127.0.0.1:9", timeout=2)


def test_pool_takes_names_and_cache_identity_from_the_real_backend():
    pool = RayPoolBackend(BackendSpec(FakeBackend, (), {"model": "m1"}), workers=3)
    assert (pool.name, pool.model, pool.cache_model) == ("fake", "m1", "m1")
    assert pool.info()["ray"] == {"address": "local", "workers": 3, "gpus_per_worker": None}
    with pytest.raises(ConfigError, match="--ray-workers"):
        RayPoolBackend(BackendSpec(FakeBackend), workers=0)


def _run(corpus, out, cache, backend):
    task = get_task("queries", queries_per_doc=2)
    return generate(task, CorpusOptions(str(corpus)), out, backend=backend, cache=cache, progress=False, echo=None)


SAMPLE = Path(__file__).resolve().parents[3] / "drama_data" / "samples" / "scifact-sample"


def _rows(folder):
    return read_table(folder, "queries").to_pylist()


@pytest.fixture(scope="module")
def local_ray():
    import fake_backend
    import ray
    from ray import cloudpickle

    from drama_data.backends.ray_pool import init_ray

    cloudpickle.register_pickle_by_value(fake_backend)  # the workers have no tests/ on their path
    init_ray(None, num_cpus=2)
    yield ray
    ray.shutdown()


@pytest.mark.slow
def test_ray_run_equals_local_run_and_resumes_after_a_worker_dies(small_corpus, tmp_path, local_ray):
    local = _run(small_corpus, tmp_path / "local", RequestCache(tmp_path / "a.sqlite"), FakeBackend())
    cache = RequestCache(tmp_path / "b.sqlite")
    dying = RayPoolBackend(BackendSpec(FakeBackend, (), {"fail_after": 3}), workers=2)
    with pytest.raises(BackendError, match="a Ray worker failed: .*engine died"):
        _run(small_corpus, tmp_path / "ray", cache, dying)
    dying.close()
    assert not (tmp_path / "ray").exists()
    pool = RayPoolBackend(BackendSpec(functools.partial(FakeBackend, model="fake-model")), workers=2)
    try:
        summary = _run(small_corpus, tmp_path / "ray", cache, pool)
        assert len(pool.where) == 2 and len(set(pool.where)) == 2  # two actors answered
    finally:
        pool.close()
    assert 0 < summary.stats.cached < summary.stats.requests  # resumed from the cache
    assert summary.rows == local.rows == 12
    assert _rows(tmp_path / "ray") == _rows(tmp_path / "local")


@pytest.mark.slow
def test_cli_ray_flag_crops_on_ray_data_with_the_local_rows(tmp_path, local_ray):
    from drama_data.api import run_generate

    corpus = SAMPLE / "corpus.jsonl"
    said = []
    summary = run_generate(task_name="crop", corpus=str(corpus), output=str(tmp_path / "crop"), ray="local",
                           ray_workers=2, window_passages=16, limit=40, no_cache=True, no_report=True,
                           progress=False, echo=said.append)
    assert any("Ray workers (Ray Data)" in s for s in said)
    local = run_generate(task_name="crop", corpus=str(corpus), output=str(tmp_path / "crop-local"),
                         window_passages=16, limit=40, no_cache=True, no_report=True, progress=False, echo=None)
    assert summary.rows == local.rows > 30
    assert _rows(tmp_path / "crop") == _rows(tmp_path / "crop-local")


@pytest.mark.slow
def test_crop_on_ray_resumes_from_its_finished_windows_after_a_crash(tmp_path, local_ray):
    from drama_data.generate.ray_direct import RayDirect

    task, corpus = get_task("crop"), CorpusOptions(str(SAMPLE / "corpus.jsonl"))
    ray_direct, calls = RayDirect(workers=2), []

    def dies_on_the_third_window(t, window):
        calls.append(len(window))
        if len(calls) == 3:
            raise KeyboardInterrupt  # a kill, as the runner sees it
        return ray_direct(t, window)

    out = tmp_path / "crop"
    with pytest.raises(KeyboardInterrupt):
        generate(task, corpus, out, limit=40, window=16, direct=dies_on_the_third_window, progress=False, echo=None)
    said = []
    again = generate(task, corpus, out, limit=40, window=16, direct=ray_direct, progress=False, echo=said.append)
    assert any("resuming: 2 finished windows" in s for s in said)
    local = generate(task, corpus, tmp_path / "local", limit=40, window=16, progress=False, echo=None)
    assert again.rows == local.rows and _rows(out) == _rows(tmp_path / "local")


def test_answer_items_sends_what_was_answered_before_a_crash():
    items = pack(_requests(6), list(range(6)))
    stream = answer_items(FakeBackend(fail_after=4), items, flush_seconds=60)
    assert [i for i, _ in next(stream)] == [0, 1, 2, 3]
    with pytest.raises(RuntimeError, match="engine died"):
        next(stream)


def test_missing_ray_is_one_line(monkeypatch):
    from drama_data.backends import build_backend

    monkeypatch.setitem(__import__("sys").modules, "ray", None)
    with pytest.raises(ConfigError, match=r"--ray needs Ray: pip install 'drama-toolkit\[ray\]'"):
        build_backend("openai", "m", ray="local", base_url="http://127.0.0.1:9/v1")


def test_api_budgets_are_split_over_workers_and_batch_is_refused():
    from drama_data.backends import build_backend

    pool = build_backend("openai", "m", ray="local", ray_workers=4, base_url="http://127.0.0.1:9/v1", rpm=600.0,
                         tpm=None)
    assert pool.spec.kwargs["rpm"] == 150.0 and pool.local.name == "openai"
    with pytest.raises(ConfigError, match="openai-batch"):
        build_backend("openai-batch", "m", ray="local")


def test_data_parallel_size_with_ray_is_the_number_of_single_engine_workers(tmp_path):
    from tiny_models import tiny_tokenizer

    from drama_data.backends import build_backend
    from drama_data.backends.vllm import VLLMBackend

    tiny_tokenizer().save_pretrained(tmp_path)
    pool = build_backend("vllm", str(tmp_path), ray="local", data_parallel_size=3, tensor_parallel_size=1)
    assert isinstance(pool, RayPoolBackend) and pool.workers == 3 and not pool._actors
    assert isinstance(pool.local, VLLMBackend) and "data_parallel_size" not in pool.spec.kwargs
    with pytest.raises(ConfigError, match="--ray-workers 2 and --data-parallel-size 3 disagree"):
        build_backend("vllm", str(tmp_path), ray="local", ray_workers=2, data_parallel_size=3)
