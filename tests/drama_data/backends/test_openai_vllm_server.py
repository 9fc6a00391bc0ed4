"""``--backend openai`` against a real server: vLLM's own OpenAI-compatible server on the tiny model gives, at
temperature 0 (greedy), the same rows and failures as the in-process vllm backend, in completion and chat form.

The tiny model is random: its completions are gibberish, so most slots end as recorded parse failures; the
comparison covers both configs (rows and failures, with raw text, finish reasons and token counts), which is
what matters here: the same completions for the same prompts through both paths.
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("vllm")

from conftest import SMALL_DOCS, write_jsonl  # noqa: E402

from drama_data.datasets.folder import read_table  # noqa: E402
from drama_data.generate.runner import FAILURE_SCHEMA  # noqa: E402

# short prompts: the tiny model's context is 512 tokens and its byte-level vocabulary is small
PROMPTS = {
    "completion": '{#- drama: {"task": "queries", "stop": ["\\n\\n"], "response_prefix": "Query:"} -#}\n'
                  "Passage: {{ text }}\nQuery:\n",
    "chat": '{{ role("user") }}\nWrite a search query for this passage.\n\n{{ text }}\n',
}
BACKEND_COLUMNS = ("backend", "model")  # the only columns allowed to differ (and the model label)
GENERATE_ARGS = ["--task", "queries", "--temperature", "0", "--max-tokens", "12", "--max-attempts", "1",
                 "--no-cache", "--no-progress"]

REFERENCE = """
import json, sys
from drama_data.backends import make_backend
from drama_data.backends.base import Sampling
from drama_data.generate.runner import CorpusOptions, generate
from drama_data.tasks import get_task
a = json.loads(sys.argv[1])
backend = make_backend("vllm", a["model"], max_model_len=a["max_model_len"], dtype="float32",
                       engine_args={"kv_cache_memory_bytes": a["kv"], "max_num_seqs": a["max_num_seqs"]})
for form, prompt, out in a["runs"]:  # one engine for both forms; the sampling the CLI builds from GENERATE_ARGS
    task = get_task("queries", prompt_path=prompt, max_attempts=1,
                    sampling=Sampling(temperature=0.0, top_p=0.9, max_tokens=12))
    generate(task, CorpusOptions(a["corpus"]), out, backend=backend, prompt_format=form, cache=None,
             progress=False, echo=None)
backend.close()
"""


def _cli(args, timeout=120, env=None):
    p = subprocess.run([sys.executable, "-m", "drama_data.cli.__main__", "generate", *args],
                       capture_output=True, text=True, timeout=timeout, env=env or dict(os.environ))
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-3000:]
    return p.stdout


def _tables(folder: Path):
    rows = read_table(folder, "queries").to_pylist()
    fails = read_table(folder, "failures", FAILURE_SCHEMA).to_pylist()
    for r in rows:
        for c in BACKEND_COLUMNS:
            r.pop(c)
    for f in fails:
        f.pop("model")
    return rows, fails


@pytest.mark.slow
def test_openai_backend_on_vllm_server_equals_in_process_vllm(vllm_openai_server, tmp_path):
    server = vllm_openai_server  # starting; the reference run below overlaps its start-up
    corpus = write_jsonl(tmp_path / "corpus.jsonl", SMALL_DOCS)
    prompts = {}
    for form, source in PROMPTS.items():
        prompts[form] = tmp_path / f"tiny.{form}.j2"
        prompts[form].write_text(source)

    # the in-process reference runs while the server starts (each is mostly single-threaded start-up work)
    t0 = time.time()
    arg = {"model": str(server.path), "max_model_len": server.engine_args["max_model_len"],
           "kv": server.engine_args["kv_cache_memory_bytes"], "max_num_seqs": server.engine_args["max_num_seqs"],
           "corpus": str(corpus),
           "runs": [[form, str(prompts[form]), str(tmp_path / f"vllm-{form}")] for form in PROMPTS]}
    ref_log = tmp_path / "reference.log"
    with open(ref_log, "wb") as log:  # a file, not a pipe: vLLM's start-up logs would fill a pipe and stall it
        reference = subprocess.Popen([sys.executable, "-c", REFERENCE, json.dumps(arg)], stdout=log,
                                     stderr=subprocess.STDOUT)
    try:
        server.wait_ready()
        t1 = time.time()
        for form in PROMPTS:
            out = _cli(["--backend", "openai", "--base-url", server.base_url, "--model", server.model,
                        "--api-key-env", server.api_key_env,
                        "--corpus", str(corpus), "--output", str(tmp_path / f"api-{form}"),
                        "--prompt", str(prompts[form]), "--prompt-format", form, *GENERATE_ARGS], env=server.env())
            assert f"model            {server.model}" in out
        api_seconds = time.time() - t1
        reference.wait(timeout=600)
    finally:
        if reference.poll() is None:
            reference.kill()
            reference.wait()
    assert reference.returncode == 0, ref_log.read_text(errors="replace")[-3000:]
    print(f"\nserver ready after {server.start_seconds:.1f} s; openai runs {api_seconds:.1f} s; "
          f"all done {time.time() - t0:.1f} s")

    for form in PROMPTS:
        api_rows, api_fails = _tables(tmp_path / f"api-{form}")
        ref_rows, ref_fails = _tables(tmp_path / f"vllm-{form}")
        assert len(api_rows) + sum(f["final"] for f in api_fails) == len(SMALL_DOCS)
        assert api_rows == ref_rows, form
        assert api_fails == ref_fails, form
        answers = [r["completion_tokens"] for r in api_rows] + [f["raw_text"] for f in api_fails]
        assert answers and all(answers), form  # the server answered every slot with text
        print(f"{form}: {len(api_rows)} rows, {len(api_fails)} failures "
              f"{sorted({f['reason'] for f in api_fails})}; e.g. {(api_fails or api_rows)[0]}"[:400])
        if form == "chat":  # the chat prompt asks for no "Query:" line: every slot is a recorded failure
            assert {f["reason"] for f in api_fails} == {"no 'Query:' line"}
    texts = [f["raw_text"] for f in _tables(tmp_path / "api-chat")[1]]
    assert len(set(texts)) > 1  # answers that differ by prompt: a real check of greedy decoding on both paths


@pytest.mark.slow
def test_refusals_of_vllm_server_with_api_key(vllm_openai_server, tmp_path, monkeypatch):
    """vLLM's server started with ``--api-key`` (the session's server): no key or a wrong key is one line, exit 2
    and no output; the right key works; an unknown model is one line listing the served one; a prompt over
    ``--max-model-len`` is that row's recorded failure while the other rows are written."""
    from drama_data.api import run_generate
    from drama_data.errors import AuthError, ModelNotFoundError
    from drama_data.generate.workdir import work_folder_for

    server = vllm_openai_server.wait_ready()
    monkeypatch.delenv(server.api_key_env, raising=False)
    prompt = tmp_path / "tiny.completion.j2"
    prompt.write_text(PROMPTS["completion"])
    long_text = " ".join(f"w{i}" for i in range(700))  # well over the 512-token context
    corpus = write_jsonl(tmp_path / "corpus.jsonl", [{"_id": "long", "title": "", "text": long_text}] + SMALL_DOCS)
    base = ["--backend", "openai", "--base-url", server.base_url, "--model", server.model, "--corpus", str(corpus),
            "--prompt", str(prompt), "--prompt-format", "completion", "--chunk-tokens", "2000", *GENERATE_ARGS]

    # no key: the CLI's one line, exit 2, nothing written
    out = tmp_path / "nokey"
    p = subprocess.run([sys.executable, "-m", "drama_data.cli.__main__", "generate", *base, "--api-key-env",
                        server.api_key_env, "--output", str(out)], capture_output=True, text=True, timeout=120,
                       env={k: v for k, v in server.env().items() if k != server.api_key_env})
    errors = [line for line in p.stderr.splitlines() if line.startswith("Error:")]
    assert p.returncode == 2 and len(errors) == 1, p.stderr[-3000:]
    assert f"${server.api_key_env} is not set" in errors[0] and "HTTP 401" in errors[0] and "Unauthorized" in errors[0]
    assert not out.exists() and not work_folder_for(out).exists()

    opts = dict(corpus=str(corpus), task_name="queries", backend_name="openai", model=server.model,
                base_url=server.base_url, api_key_env=server.api_key_env, prompt_path=str(prompt),
                prompt_format="completion", chunk_tokens=2000, temperature=0.0, max_tokens=12, max_attempts=1,
                no_cache=True, no_progress=True, no_report=True, echo=None)
    # a wrong key: refused, named, never shown
    monkeypatch.setenv(server.api_key_env, "not-the-key-9876543210")
    with pytest.raises(AuthError) as err:
        run_generate(output=str(tmp_path / "wrong"), **opts)
    assert f"the API key in ${server.api_key_env} was refused" in str(err.value)
    assert "9876543210" not in str(err.value) and not (tmp_path / "wrong").exists()

    # the right key; an unknown model
    monkeypatch.setenv(server.api_key_env, server.env()[server.api_key_env])
    with pytest.raises(ModelNotFoundError) as err:
        run_generate(output=str(tmp_path / "model"), **dict(opts, model="tiny-lama"))
    assert "--model 'tiny-lama'" in str(err.value) and f"it serves: {server.model}" in str(err.value)
    assert "\n" not in str(err.value) and not (tmp_path / "model").exists()

    # the right key and model: the long passage is a recorded failure, every other slot answered
    summary = run_generate(output=str(tmp_path / "ok"), **opts)
    fails = read_table(tmp_path / "ok", "failures", FAILURE_SCHEMA).to_pylist()
    long_fails = [f for f in fails if f["passage_id"] == "long"]
    assert len(long_fails) == 1 and long_fails[0]["kind"] == "backend" and long_fails[0]["final"]
    assert long_fails[0]["reason"].startswith("HTTP 400 (prompt over the context limit): "), long_fails[0]
    assert "maximum context length is 512" in long_fails[0]["reason"]
    others = [f for f in fails if f["passage_id"] != "long"]
    assert summary.rows + sum(f["final"] for f in others) == len(SMALL_DOCS)
    assert all(f["kind"] == "parse" for f in others)  # the other prompts were answered (gibberish, not refused)
