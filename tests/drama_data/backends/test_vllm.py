"""vLLM backend: plumbing on a tiny random Llama in-process, and one real run on the embedded Gemma-3-270M."""
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import datasets
import pytest

pytest.importorskip("vllm")

from drama_data.backends.base import Request, Sampling  # noqa: E402
from drama_data.datasets.folder import read_card, read_table  # noqa: E402
from drama_data.generate.runner import FAILURE_SCHEMA  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
SAMPLE = REPO / "drama_data" / "samples" / "scifact-sample"


def test_chat_template_is_read_from_the_folder(tmp_path):
    from drama_data.backends.vllm import local_chat_template

    assert local_chat_template(str(tmp_path)) is None  # no tokenizer files: ask the tokenizer
    (tmp_path / "tokenizer_config.json").write_text('{"bos_token": "<bos>"}')
    assert local_chat_template(str(tmp_path)) is False
    (tmp_path / "tokenizer_config.json").write_text('{"chat_template": "{{ messages }}"}')
    assert local_chat_template(str(tmp_path)) is True
    (tmp_path / "tokenizer_config.json").write_text("{}")
    (tmp_path / "chat_template.jinja").write_text("{{ messages }}")
    assert local_chat_template(str(tmp_path)) is True


def test_engine_placement_on_cpu(monkeypatch, tmp_path):
    import types

    from drama_data.backends import vllm as vllm_backend

    monkeypatch.setattr(vllm_backend, "has_cuda", lambda: False)
    for var in ("VLLM_ENABLE_V1_MULTIPROCESSING", "VLLM_CPU_NUM_OF_RESERVED_CPU"):
        monkeypatch.delenv(var, raising=False)
    backend = vllm_backend.VLLMBackend(str(tmp_path))
    # what engine_env decides from the detector's answer (the detector is checked below on its own modules, so the
    # test does not depend on what earlier tests loaded: the mining tests load numba's llvmlite)
    monkeypatch.setattr(vllm_backend, "usable_cores", lambda: 1)
    monkeypatch.setattr(vllm_backend, "module_blocking_in_process_engine", lambda: None)
    assert backend.engine_env() == {"VLLM_ENABLE_V1_MULTIPROCESSING": "0"}  # 1 core: in this process
    monkeypatch.setattr(vllm_backend, "module_blocking_in_process_engine", lambda: "fake_llvmlite")
    assert backend.engine_env() == {"VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}
    monkeypatch.setattr(vllm_backend, "module_blocking_in_process_engine", lambda: None)
    monkeypatch.setattr(vllm_backend, "usable_cores", lambda: 2)  # 2 cores: vLLM's own processes, every core
    assert backend.engine_env() == {"VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}
    monkeypatch.setattr(vllm_backend, "usable_cores", lambda: 4)  # more cores: the same
    assert backend.engine_env() == {"VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}
    monkeypatch.setattr(vllm_backend, "usable_cores", lambda: 32)
    assert backend.engine_env() == {}
    monkeypatch.setattr(vllm_backend, "usable_cores", lambda: 2)
    monkeypatch.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "0")  # the user's choice wins
    assert backend.engine_env() == {}
    monkeypatch.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "1")
    assert backend.engine_env() == {"VLLM_CPU_NUM_OF_RESERVED_CPU": "0"}
    assert vllm_backend.VLLMBackend(str(tmp_path), tensor_parallel_size=2).engine_env() == {}
    monkeypatch.undo()

    class Shapeless:  # like llvmlite's `lib`: slots, and any attribute (`__dict__` too) is a function wrapper
        __slots__ = ()

        def __getattr__(self, name):
            return lambda *a: None

    detect = vllm_backend.module_blocking_in_process_engine
    assert detect({"os": os, "types": types}) is None
    assert detect({"os": os, "fake_llvmlite": types.SimpleNamespace(lib=Shapeless())}) == "fake_llvmlite"
    with vllm_backend._scoped_env({"DRAMA_TEST_SCOPED": "1"}):
        assert os.environ["DRAMA_TEST_SCOPED"] == "1"
    assert "DRAMA_TEST_SCOPED" not in os.environ


def test_a_folder_converted_here_carries_its_conversion_format_in_cache_keys(tmp_path):
    import json

    from drama_data import embedded
    from drama_data.backends import make_backend

    plain = make_backend("vllm", str(tmp_path))
    assert plain.cache_model == str(tmp_path) and "model_revision" not in plain.info()
    (tmp_path / embedded._CONVERTED).write_text(json.dumps({"format": embedded.FORMAT}))
    converted = make_backend("vllm", str(tmp_path))
    assert converted.cache_model == f"{tmp_path}@format-{embedded.FORMAT}"
    assert converted.info()["model_revision"] == f"format-{embedded.FORMAT}"


def _step(ids, finished=False, reason=None):
    return SimpleNamespace(finished=finished, outputs=[SimpleNamespace(token_ids=ids, finish_reason=reason)])


def test_stop_strings_are_found_across_steps_and_cut_as_vllm_does(tmp_path):
    from tiny_models import tiny_tokenizer

    from drama_data.backends.codec import PromptCodec
    from drama_data.backends.vllm import _Running

    tiny_tokenizer().save_pretrained(tmp_path)
    codec = PromptCodec(str(tmp_path))
    ids = codec.encode("a query about cells\nPassage: next one")[1:]  # no <bos>
    decode = codec.hf.decode
    cut = next(i for i in range(1, len(ids) + 1) if "\nPassage:" in decode(ids[:i]))
    run = _Running(0, 5, ("\nPassage:", "\n\n"), codec)
    done = None
    for t in ids[:cut]:  # one token per step, the stop string straddling several of them
        assert done is None
        done = run.feed(_step([t]))
    assert done is not None and done.text == "a query about cells" and done.finish_reason == "stop"
    assert done.completion_tokens == cut and done.prompt_tokens == 5
    # the last step of a request that ran to max_tokens is still cut at a stop string in it
    run = _Running(1, 5, ("\nPassage:",), codec)
    assert run.feed(_step(ids[:2])) is None
    done = run.feed(_step(ids[2:], finished=True, reason="length"))
    assert done.text == "a query about cells" and done.finish_reason == "stop"
    # without stop strings one final output carries every id; an abort is an error
    done = _Running(2, 5, (), codec).feed(_step(ids, finished=True, reason="length"))
    assert done.text == decode(ids) and done.finish_reason == "length" and done.completion_tokens == len(ids)
    done = _Running(3, 5, (), codec).feed(_step(ids[:3], finished=True, reason="abort"))
    assert not done.ok and done.error == "aborted by the engine"


@pytest.fixture(scope="module")
def tiny_vllm(tmp_path_factory):
    from tiny_models import tiny_model_dir

    from drama_data.backends.vllm import VLLMBackend

    path = tiny_model_dir(tmp_path_factory.mktemp("tiny-llama"), "llama")
    backend = VLLMBackend(str(path), max_model_len=256, gpu_memory_utilization=0.1,
                          engine_args={"max_num_seqs": 16})
    yield backend
    backend.close()


@pytest.mark.slow
def test_tiny_model_answers_every_request_and_seeds_repeat(tiny_vllm):
    assert tiny_vllm.supports_chat()  # the tiny tokenizer carries a chat template
    reqs = [Request(id=f"c{i}", messages=({"role": "user", "content": f"hello {i}"},),
                    sampling=Sampling(temperature=0.8, top_p=0.9, max_tokens=8, seed=i)) for i in range(6)]
    reqs += [Request(id=f"p{i}", prompt=f"Passage: text {i}\nQuery:",
                     sampling=Sampling(temperature=0.8, top_p=0.9, max_tokens=8, seed=7)) for i in range(6)]
    tiny_vllm.max_inflight = 5  # exercise the refill path
    got = dict(tiny_vllm.generate(reqs))
    assert sorted(got) == list(range(12))
    for c in got.values():
        assert c.ok and c.finish_reason in ("stop", "length") and c.prompt_tokens > 0
        assert 0 < c.completion_tokens <= 8
    again = dict(tiny_vllm.generate(reqs[:3]))
    assert [again[i].text for i in range(3)] == [got[i].text for i in range(3)]
    # a chat prompt is rendered once, with a single BOS
    tok = tiny_vllm.tokenizer
    ids = tok.apply_chat_template(list(reqs[0].messages), tokenize=True, add_generation_prompt=True)
    ids = ids["input_ids"] if hasattr(ids, "keys") else ids
    assert got[0].prompt_tokens == len(ids)


@pytest.mark.slow
def test_same_completions_as_plain_vllm_with_its_tokenizer(tiny_vllm):
    """The engine without a tokenizer, prompts encoded and stop strings checked here, gives what a plain
    ``vllm.LLM.generate`` over text prompts gives (same seeds, same stop strings)."""
    import json

    stops = ("e", "t")  # letters the random model emits often: most requests stop early, some run to length
    reqs = [Request(id=str(i), prompt=f"Passage: text {i}\nQuery:",
                    sampling=Sampling(temperature=0.8, top_p=0.9, max_tokens=4, seed=i, stop=stops))
            for i in range(12)]
    ours = dict(tiny_vllm.generate(reqs))
    # the plain engine runs in its own process: two in-process engines share vLLM's global parallel state
    script = (
        "import json, sys\n"
        "from vllm import LLM, SamplingParams\n"
        "kwargs, prompts, seeds, stops = json.loads(sys.argv[1])\n"
        "llm = LLM(**kwargs)\n"
        "outs = llm.generate(prompts, [SamplingParams(temperature=0.8, top_p=0.9, max_tokens=4, seed=s, stop=stops)"
        " for s in seeds], use_tqdm=False)\n"
        "print('RESULT ' + json.dumps([[o.outputs[0].text, o.outputs[0].finish_reason, len(o.prompt_token_ids)]"
        " for o in outs]))\n"
    )
    kwargs = {**tiny_vllm.engine_kwargs, "skip_tokenizer_init": False}
    arg = json.dumps([kwargs, [r.prompt for r in reqs], [r.sampling.seed for r in reqs], list(stops)])
    env = dict(os.environ, **tiny_vllm.engine_env())
    p = subprocess.run([sys.executable, "-c", script, arg], env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    line = next(x for x in p.stdout.splitlines() if x.startswith("RESULT "))
    plain = [tuple(x) for x in json.loads(line[len("RESULT "):])]
    assert [(ours[i].text, ours[i].finish_reason, ours[i].prompt_tokens) for i in range(12)] == plain
    assert {c.finish_reason for c in ours.values()} == {"stop", "length"}


@pytest.mark.slow
def test_long_seeded_prompts_and_a_rejected_request(tiny_vllm):
    """Seeded requests whose prefill would be chunked (a vllm-cpu crash) and one longer than the context."""
    reqs = [Request(id=str(i), prompt="word " * 60 + str(i), sampling=Sampling(max_tokens=4, seed=i))
            for i in range(12)]
    reqs.append(Request(id="too-long", prompt="word " * 2000, sampling=Sampling(max_tokens=4, seed=1)))
    got = dict(tiny_vllm.generate(reqs))
    assert sorted(got) == list(range(13))
    assert all(got[i].ok for i in range(12))
    assert not got[12].ok and "rejected by vLLM" in got[12].error and "maximum context length" in got[12].error


@pytest.mark.slow
def test_generate_cli_on_the_embedded_gemma(tmp_path):
    """The Quickstart's job on a handful of passages: real Gemma-3-270M through vllm-cpu."""
    env = dict(os.environ, DRAMA_CACHE=os.environ.get("DRAMA_CACHE", str(Path.home() / ".cache" / "drama")))
    out = tmp_path / "qgen"
    cmd = [sys.executable, "-m", "drama_data.cli.__main__", "generate", "--backend", "vllm",
           "--corpus", str(SAMPLE), "--output", str(out), "--limit", "4", "--max-tokens", "48",
           "--max-model-len", "2048", "--cache-dir", str(tmp_path / "requests"), "--no-progress"]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "rows written" in p.stdout and "embedded:gemma-3-270m" in p.stdout
    ds = datasets.load_dataset(str(out), split="train")
    fails = read_table(out, "failures", FAILURE_SCHEMA)
    final_failures = sum(fails.column("final").to_pylist())
    assert ds.num_rows + final_failures == 4
    assert ds.num_rows >= 1  # the base model answers in the few-shot format at least sometimes
    for row in ds:
        assert row["query"].strip() and row["model"] == "embedded:gemma-3-270m"
        assert row["prompt_id"] == "queries.completion.j2" and row["completion_tokens"] > 0
    meta, body = read_card(out)
    assert "embedded:gemma-3-270m" in body and "Gemma Terms of Use" in body


def test_missing_or_broken_vllm_names_the_install_command_for_this_machine(monkeypatch, tmp_path):
    from drama_data import install_hints
    from drama_data.backends.vllm import VLLMBackend
    from drama_data.errors import BackendError

    backend = VLLMBackend(str(tmp_path))
    monkeypatch.setattr(install_hints, "vllm_build_problem", lambda: None)
    monkeypatch.setitem(sys.modules, "vllm", None)  # `import vllm` raises ImportError
    with pytest.raises(BackendError) as err:
        backend.start()
    assert str(err.value) == f"the vllm backend needs vLLM: {install_hints.vllm_install_hint()}"
    assert "drama-toolkit[vllm]'" not in str(err.value) or install_hints.machine_kind() == "gpu"
    monkeypatch.setattr(install_hints, "vllm_build_problem", lambda: "vllm and vllm-cpu are both installed")
    with pytest.raises(BackendError, match="cannot start: vllm and vllm-cpu are both installed"):
        backend.start()
