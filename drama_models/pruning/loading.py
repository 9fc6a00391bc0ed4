"""Load a source model, its config and tokenizer: a Hub id, a local folder, or a GGUF file in a folder.

- ``trust_remote_code`` is passed only when the caller opts in (CLI ``--trust-remote-code``).
- ``gguf_file``: transformers dequantises the GGUF into ordinary tensors but keeps a "GGUF quantizer" on the
  model, which makes ``save_pretrained`` refuse; we drop it (the weights are plain floats by then).
  transformers 5.19's GGUF tokenizer does not add ``<bos>`` (``ENVIRONMENT.md``); we switch it on, because Gemma
  produces garbage without it.
- :func:`load_config` is cheap (no weights), so every check can run before the model is loaded.
"""
from __future__ import annotations

import logging

import torch

logger = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _hub_kwargs(gguf_file: str | None, trust_remote_code: bool) -> dict:
    kwargs = {}
    if gguf_file:
        kwargs["gguf_file"] = gguf_file
    if trust_remote_code:
        kwargs["trust_remote_code"] = True
    return kwargs


def load_config(name_or_path: str, gguf_file: str | None = None, trust_remote_code: bool = False):
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(str(name_or_path), **_hub_kwargs(gguf_file, trust_remote_code))


def ensure_bos(tokenizer) -> None:
    """Make a fast tokenizer prepend its BOS token when it has one and does not already."""
    bos = tokenizer.bos_token_id
    if bos is None:
        return
    ids = tokenizer("a").input_ids
    if ids and ids[0] == bos:
        return
    if hasattr(tokenizer, "update_post_processor"):
        object.__setattr__(tokenizer, "_add_bos_token", True)
        tokenizer.update_post_processor()
    ids = tokenizer("a").input_ids
    if not ids or ids[0] != bos:
        logger.warning("could not make the tokenizer add %s; add it yourself", tokenizer.bos_token)


def load_tokenizer(name_or_path: str, gguf_file: str | None = None, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(name_or_path), **_hub_kwargs(gguf_file, trust_remote_code))
    if gguf_file:
        ensure_bos(tok)
    return tok


def load_causal_lm(
    name_or_path: str,
    dtype: str | torch.dtype = "float32",
    gguf_file: str | None = None,
    trust_remote_code: bool = False,
    device: str | torch.device | None = None,
):
    """``AutoModelForCausalLM.from_pretrained`` in ``dtype`` (eval mode), GGUF quantizer dropped."""
    from transformers import AutoModelForCausalLM

    dtype = DTYPES[dtype] if isinstance(dtype, str) else dtype
    model = AutoModelForCausalLM.from_pretrained(
        str(name_or_path), dtype=dtype, **_hub_kwargs(gguf_file, trust_remote_code)
    )
    if gguf_file or getattr(model.config, "quantization_config", None) is not None:
        quant = getattr(model.config, "quantization_config", None)
        method = quant.get("quant_method") if isinstance(quant, dict) else getattr(quant, "quant_method", None)
        if gguf_file or str(method).lower().endswith("gguf"):
            model.hf_quantizer = None
            if hasattr(model.config, "quantization_config"):
                del model.config.quantization_config
    if device is not None:
        model.to(device)
    return model.train(False)  # inference mode (nn.Module.eval)
