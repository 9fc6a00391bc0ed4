"""The DRAMA dense encoder: any decoder LLM (Llama, Qwen2, Gemma3 text) or BERT-like encoder as a retriever.

What DRAMA does (Ma et al. 2025, section 3.3, and the released ``facebook/drama-*`` checkpoints):

- bidirectional attention for decoders (the causal mask is switched off);
- BOS prepended and EOS appended to every text;
- queries prefixed ``"Query: "``, documents unprefixed;
- mean pooling over all real tokens, then L2 normalisation;
- Matryoshka: ``dim=256`` keeps the first 256 coordinates and re-normalises.

How bidirectional attention is switched on with stock transformers (checked against 5.19): decoder models
whose ``forward`` is wrapped by ``merge_with_config_defaults`` read ``config.is_causal``; when it is ``False``
the mask builder returns a bidirectional (padding-only) mask and ``is_causal=False`` is passed down to the
attention kernel. Because the flag lives in ``config.json``, a folder written by :meth:`DramaEncoder.save_pretrained`
stays bidirectional when ``sentence_transformers.SentenceTransformer(path)`` or ``AutoModel`` loads it,
with no remote code. ``tests/drama_models/test_encoder.py`` checks it for all three families.

The published ``facebook/drama-*`` checkpoints are Llama configs with ``architectures: ["DramaModel"]`` and an
``auto_map`` to remote code; we read them as a plain ``LlamaModel`` (model type ``llama``) and apply the same
settings ourselves, so ``trust_remote_code`` is never needed for them.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from drama_models.pooling import FROM_ST_POOLING_NAMES, POOLING_MODES, ST_POOLING_NAMES, pool, truncate
from drama_models.precision import autocast, resolve_bf16

# model_type -> transformers class name of the bare (headless) model
DECODER_CLASSES = {
    "llama": "LlamaModel",
    "qwen2": "Qwen2Model",
    "gemma3_text": "Gemma3TextModel",
}
# BERT-like encoders loaded through AutoModel (already bidirectional; their tokenizer adds [CLS]/[SEP])
ENCODER_TYPES = frozenset(
    {"bert", "roberta", "xlm-roberta", "distilbert", "electra", "mpnet", "deberta-v2", "camembert", "modernbert"}
)

DRAMA_CONFIG_NAME = "drama_config.json"
DEFAULT_QUERY_PREFIX = "Query: "  # DRAMA's query prefix (released checkpoints' encode_queries)
DEFAULT_MAX_LENGTH = 512


def _optional_file(name_or_path: str, filename: str, subfolder: str = "", **hub_kwargs) -> str | None:
    """Local path of ``filename`` in a folder or Hub repo, or ``None`` when the repo has no such file."""
    if os.path.isdir(name_or_path):
        path = os.path.join(name_or_path, subfolder, filename)
        return path if os.path.isfile(path) else None
    from transformers.utils import cached_file

    return cached_file(
        name_or_path,
        filename,
        subfolder=subfolder,
        _raise_exceptions_for_missing_entries=False,
        _raise_exceptions_for_connection_errors=False,
        **hub_kwargs,
    )


def _read_json(path: str | None) -> dict | list | None:
    if path is None:
        return None
    with open(path, encoding="utf-8") as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not valid JSON ({err})") from None


def _sentence_transformers_settings(name_or_path: str, **hub_kwargs) -> dict:
    """Read what a sentence-transformers folder says: transformer subfolder, pooling, normalize, prompts, max length."""
    modules = _read_json(_optional_file(name_or_path, "modules.json", **hub_kwargs))
    if not modules:
        return {}
    found: dict = {"subfolder": "", "normalize": False}
    for module in modules:
        kind = module.get("type", "")
        path = module.get("path", "")
        if kind.endswith("Transformer"):
            found["subfolder"] = path
            bert_cfg = _read_json(_optional_file(name_or_path, "sentence_bert_config.json", path, **hub_kwargs)) or {}
            if bert_cfg.get("max_seq_length"):
                found["max_length"] = int(bert_cfg["max_seq_length"])
        elif kind.endswith("Pooling"):
            cfg = _read_json(_optional_file(name_or_path, "config.json", path, **hub_kwargs)) or {}
            mode = cfg.get("pooling_mode")
            if mode is None:  # sentence-transformers < 5 wrote one boolean per mode
                modes = [k[len("pooling_mode_"):] for k, v in cfg.items() if k.startswith("pooling_mode_") and v]
                mode = {"mean_tokens": "mean", "cls_token": "cls", "lasttoken": "lasttoken"}.get(
                    modes[0] if len(modes) == 1 else "", "+".join(modes) or "mean"
                )
            if mode not in FROM_ST_POOLING_NAMES:
                raise ValueError(
                    f"{name_or_path}/{path}/config.json: sentence-transformers pooling mode {mode!r} is not supported; "
                    f"DramaEncoder pools with one of {POOLING_MODES}"
                )
            found["pooling"] = FROM_ST_POOLING_NAMES[mode]
        elif kind.endswith("Normalize"):
            found["normalize"] = True
    st_cfg = _read_json(_optional_file(name_or_path, "config_sentence_transformers.json", **hub_kwargs)) or {}
    prompts = st_cfg.get("prompts") or {}
    found["query_prefix"] = prompts.get("query", "")
    found["document_prefix"] = prompts.get("document", prompts.get("passage", ""))
    return found


class DramaEncoder(torch.nn.Module):
    """A dense retriever: a transformers backbone, its tokenizer, and the DRAMA encoding settings.

    Build it with [`from_pretrained`][drama_models.encoder.DramaEncoder.from_pretrained] rather than directly.
    `encode_queries` / `encode_documents` take lists of strings and return ``numpy.float32`` arrays ``[n, dim]``;
    `forward` takes tokenized tensors and returns differentiable ``[batch, hidden]`` embeddings for training.
    The defaults are DRAMA's (Ma et al. 2025): bidirectional attention for decoders, mean pooling, L2
    normalisation, ``"Query: "`` before queries, BOS and EOS added.

    Args:
        backbone: The transformers model (no LM head needed).
        tokenizer (PreTrainedTokenizerBase): Its tokenizer (padding on the right; it must have a pad, EOS or UNK token).
        is_decoder: Whether the backbone is a decoder (Llama, Qwen2, Gemma 3 text).
        bidirectional: Decoders: bidirectional instead of causal attention.
        pooling: ``mean``, ``eos`` or ``cls``.
        normalize: L2-normalise the embeddings.
        query_prefix: Prepended to every query.
        document_prefix: Prepended to every document.
        add_bos: Decoders: add BOS to every text.
        add_eos: Decoders: add EOS to every text.
        max_length: Max tokens per text.

    Raises:
        ValueError: An unknown ``pooling``, a ``max_length`` below 2, or a tokenizer with nothing to pad with.
    """

    def __init__(
        self,
        backbone: torch.nn.Module,
        tokenizer,
        *,
        is_decoder: bool,
        bidirectional: bool = True,
        pooling: str = "mean",
        normalize: bool = True,
        query_prefix: str = DEFAULT_QUERY_PREFIX,
        document_prefix: str = "",
        add_bos: bool = True,
        add_eos: bool = True,
        max_length: int = DEFAULT_MAX_LENGTH,
    ):
        super().__init__()
        if pooling not in POOLING_MODES:
            raise ValueError(f"option `pooling`={pooling!r} is not one of {POOLING_MODES}")
        if not isinstance(max_length, int) or max_length < 2:
            raise ValueError(f"option `max_length`={max_length!r} must be an integer >= 2")
        self.backbone = backbone
        self.tokenizer = tokenizer
        self.is_decoder = is_decoder
        self.pooling = pooling
        self.normalize = normalize
        self.query_prefix = query_prefix
        self.document_prefix = document_prefix
        self.max_length = max_length
        self.add_bos = add_bos if is_decoder else False
        self.add_eos = add_eos if is_decoder else False
        self.bidirectional = bool(bidirectional) if is_decoder else True
        if is_decoder:
            _set_bidirectional(backbone, self.bidirectional)
            _configure_tokenizer(tokenizer, self.add_bos, self.add_eos)
        if tokenizer.pad_token_id is None:
            raise ValueError(
                f"the tokenizer of {getattr(backbone.config, '_name_or_path', 'this model')} has no pad, EOS or UNK "
                "token to pad batches with; set tokenizer.pad_token before building the encoder"
            )
        tokenizer.padding_side = "right"
        #: bf16 autocast in :meth:`encode_queries` / :meth:`encode_documents` (a run-time choice, not saved;
        #: ``from_pretrained(bf16=...)`` sets it; training autocasts on its own)
        self.bf16 = False
        #: at most this many tokens (rows x longest row) per encoding batch, for long inputs; ``None``: only
        #: ``batch_size`` bounds a batch (a run-time choice, not saved; see :func:`length_batches`)
        self.max_batch_tokens: int | None = None

    # ------------------------------------------------------------------ loading

    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike,
        *,
        bidirectional: bool | None = None,
        pooling: str | None = None,
        normalize: bool | None = None,
        query_prefix: str | None = None,
        document_prefix: str | None = None,
        add_bos: bool | None = None,
        add_eos: bool | None = None,
        max_length: int | None = None,
        dtype: torch.dtype | str | None = None,
        device: str | torch.device | None = None,
        trust_remote_code: bool = False,
        bf16: bool | str = False,
        attn_implementation: str | None = None,
        rope_scaling: str | dict | None = None,
        **hub_kwargs,
    ) -> DramaEncoder:
        """Load a checkpoint (Hub id or folder) as an encoder.

        Accepts a raw transformers checkpoint of a supported decoder (``llama``, ``qwen2``, ``gemma3_text``; with or
        without an LM head, e.g. a pruned model) or BERT-like encoder; a ``facebook/drama-*`` checkpoint
        (``DramaModel``, read as ``LlamaModel`` without remote code); a sentence-transformers folder; a folder
        written by `save_pretrained`.

        Every setting left at ``None`` is taken, in order, from the folder's ``drama_config.json`` (written by
        `save_pretrained`), then its sentence-transformers files (pooling, Normalize, prompts, max length),
        then DRAMA's defaults: ``bidirectional=True`` (decoders only; encoders are bidirectional already),
        ``pooling="mean"``, ``normalize=True``, ``query_prefix="Query: "``, ``document_prefix=""``,
        ``add_bos=True``, ``add_eos=True`` (decoders only), ``max_length=512``.

        Args:
            name_or_path: A Hub id or a folder.
            bidirectional: Decoders: bidirectional attention (``None``: saved setting, else ``True``).
            pooling: ``mean``, ``eos`` or ``cls`` (``None``: saved setting, else ``mean``).
            normalize: L2-normalise embeddings (``None``: saved setting, else ``True``).
            query_prefix: Prepended to queries (``None``: saved setting, else ``"Query: "``).
            document_prefix: Prepended to documents (``None``: saved setting, else ``""``).
            add_bos: Decoders: add BOS (``None``: saved setting, else ``True``).
            add_eos: Decoders: add EOS (``None``: saved setting, else ``True``).
            max_length: Max tokens per text (``None``: saved setting, else the tokenizer's, at most 512).
            dtype: Weights' dtype, e.g. ``torch.bfloat16`` or ``"bfloat16"`` (default: float32).
            device: Default CUDA when available, else CPU.
            trust_remote_code: Opt in to loading an architecture we do not know through ``AutoModel`` with the
                repository's own code.
            bf16: Autocast encoding to bf16: ``True``, ``"auto"`` (where the device computes bf16 natively, see
                `drama_models.precision`) or ``False`` (float32, the default).
            attn_implementation: Long inputs: the attention kernel (default: transformers' own choice, ``"sdpa"``
                for every supported family; ``"eager"`` for the plain matmul path).
            rope_scaling: Long inputs: extends a RoPE decoder's context (``"linear:4"``, ``"dynamic:2"``,
                ``"yarn:4"`` or a transformers ``rope_parameters`` dict; Gemma 3 scales its global-attention
                layers only, see `drama_models.rope.apply_rope_scaling`); `context_limit` says how many tokens the
                model then reads.
            **hub_kwargs (Any): Passed to transformers' ``from_pretrained`` calls (``revision``, ``token``, ...).

        Returns:
            The encoder, in eval mode on ``device``.

        Raises:
            ValueError: An unsupported architecture (named, with the supported ones) or a bad setting.
        """
        from transformers import AutoConfig, AutoTokenizer

        name_or_path = str(name_or_path)
        saved = _read_json(_optional_file(name_or_path, DRAMA_CONFIG_NAME, **hub_kwargs)) or {}
        st = _sentence_transformers_settings(name_or_path, **hub_kwargs)
        subfolder = st.get("subfolder", "")
        config = AutoConfig.from_pretrained(
            name_or_path, subfolder=subfolder, trust_remote_code=trust_remote_code, **hub_kwargs
        )
        model_type = getattr(config, "model_type", None)
        is_decoder = model_type in DECODER_CLASSES
        if not is_decoder and model_type not in ENCODER_TYPES and not trust_remote_code:
            archs = ", ".join(getattr(config, "architectures", None) or []) or "unknown"
            if model_type == "gemma3":
                hint = " (a multimodal Gemma 3 config: use a text-only checkpoint, model_type 'gemma3_text')"
            else:
                hint = ""
            raise ValueError(
                f"{name_or_path}: unsupported architecture {archs} (model_type {model_type!r}){hint}. "
                f"Supported decoders: {sorted(DECODER_CLASSES)}; encoders: {sorted(ENCODER_TYPES)}. "
                "Pass trust_remote_code=True to try the repository's own code through AutoModel."
            )

        def pick(name, value, default):
            if value is not None:
                return value
            if name in saved:
                return saved[name]
            if name in st:
                return st[name]
            return default

        settings = dict(
            bidirectional=pick("bidirectional", bidirectional, True),
            pooling=pick("pooling", pooling, "mean"),
            normalize=pick("normalize", normalize, True),
            query_prefix=pick("query_prefix", query_prefix, DEFAULT_QUERY_PREFIX),
            document_prefix=pick("document_prefix", document_prefix, ""),
            add_bos=pick("add_bos", add_bos, True),
            add_eos=pick("add_eos", add_eos, True),
            max_length=pick("max_length", max_length, None),
        )
        if isinstance(dtype, str):
            if not isinstance(getattr(torch, dtype, None), torch.dtype):
                raise ValueError(f"option `dtype`={dtype!r} is not a torch dtype name (e.g. 'bfloat16', 'float32')")
            dtype = getattr(torch, dtype)
        if rope_scaling is not None:
            from drama_models.rope import apply_rope_scaling

            apply_rope_scaling(config, rope_scaling, name=name_or_path)
        if is_decoder:
            config.is_causal = not settings["bidirectional"]
            if getattr(config, "auto_map", None):  # DramaModel and friends: stock class, no remote code
                del config.auto_map
            import transformers

            model_cls = getattr(transformers, DECODER_CLASSES[model_type])
        else:
            from transformers import AutoModel

            model_cls = AutoModel
        backbone, info = model_cls.from_pretrained(
            name_or_path,
            config=config,
            subfolder=subfolder,
            dtype=dtype or torch.float32,
            trust_remote_code=trust_remote_code,
            output_loading_info=True,
            **({"attn_implementation": attn_implementation} if attn_implementation else {}),
            **hub_kwargs,
        )
        missing = [k for k in info.get("missing_keys", []) if not k.startswith("pooler.")]
        if missing:
            raise ValueError(
                f"{name_or_path}: the checkpoint lacks {len(missing)} weight(s) of {type(backbone).__name__} "
                f"(e.g. {', '.join(sorted(missing)[:5])}); refusing to encode with randomly initialised weights"
            )
        tokenizer = AutoTokenizer.from_pretrained(
            name_or_path, subfolder=subfolder, trust_remote_code=trust_remote_code, **hub_kwargs
        )
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token if tokenizer.eos_token is not None else tokenizer.unk_token
        if settings["max_length"] is None:
            model_max = getattr(tokenizer, "model_max_length", None) or DEFAULT_MAX_LENGTH
            settings["max_length"] = int(min(model_max, DEFAULT_MAX_LENGTH))
        encoder = cls(backbone, tokenizer, is_decoder=is_decoder, **settings)
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        encoder.to(device)
        encoder.train(False)
        encoder.bf16 = resolve_bf16(bf16, torch.device(device).type)
        return encoder

    # ------------------------------------------------------------------ properties

    @property
    def device(self) -> torch.device:
        return next(self.backbone.parameters()).device

    @property
    def embedding_dim(self) -> int:
        """Size of the full (un-truncated) embedding: the backbone's hidden size."""
        return int(self.backbone.config.hidden_size)

    @property
    def attention(self) -> str:
        """The attention kernel the backbone runs (``"sdpa"``, ``"eager"``, ...)."""
        return str(getattr(self.backbone.config, "_attn_implementation", None) or "eager")

    @property
    def context_limit(self) -> int | None:
        """The most tokens one text can hold for this backbone: ``max_position_embeddings`` (less RoBERTa's
        padding offset for the RoBERTa family; times the linear/YaRN factor once scaled), or ``None`` when the
        config does not say."""
        cfg = self.backbone.config
        limit = getattr(cfg, "max_position_embeddings", None)
        if not limit:
            return None
        if not self.is_decoder and getattr(cfg, "model_type", "") in ("roberta", "xlm-roberta", "camembert"):
            limit -= (getattr(cfg, "pad_token_id", 1) or 1) + 1
        return int(limit)

    def settings(self) -> dict:
        """The encoding settings as written to ``drama_config.json``."""
        return {
            "pooling": self.pooling,
            "normalize": self.normalize,
            "query_prefix": self.query_prefix,
            "document_prefix": self.document_prefix,
            "add_bos": self.add_bos,
            "add_eos": self.add_eos,
            "max_length": self.max_length,
            "bidirectional": self.bidirectional,
        }

    # ------------------------------------------------------------------ differentiable path

    def tokenize(self, texts: Sequence[str], max_length: int | None = None) -> dict[str, torch.Tensor]:
        """Tokenize already-prefixed ``texts`` into right-padded ``input_ids`` / ``attention_mask`` on the device.

        Special tokens (BOS/EOS for decoders, [CLS]/[SEP] for encoders) come from the tokenizer's post-processor,
        exactly as sentence-transformers tokenizes, and count towards ``max_length``.
        """
        _check_texts(texts)
        enc = self.tokenizer(
            list(texts),
            padding=True,
            truncation=True,
            max_length=max_length or self.max_length,
            return_tensors="pt",
            return_token_type_ids=False,
        )
        device = self.device
        return {"input_ids": enc["input_ids"].to(device), "attention_mask": enc["attention_mask"].to(device)}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Token ids ``[batch, seq]`` -> pooled (and, when ``normalize``, unit-length) float32 ``[batch, hidden]``."""
        kwargs = {"use_cache": False} if self.is_decoder else {}
        out = self.backbone(input_ids=input_ids, attention_mask=attention_mask, return_dict=True, **kwargs)
        emb = pool(out.last_hidden_state, attention_mask, self.pooling)
        return torch.nn.functional.normalize(emb, p=2, dim=-1) if self.normalize else emb

    def encode(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        """``forward`` over a dict from :meth:`tokenize` (differentiable; used by the trainer)."""
        return self.forward(features["input_ids"], features["attention_mask"])

    # ------------------------------------------------------------------ inference

    def encode_queries(
        self,
        texts: Sequence[str],
        dim: int | None = None,
        batch_size: int = 32,
        show_progress: bool | None = None,
        max_length: int | None = None,
    ) -> np.ndarray:
        """Embed queries, with ``query_prefix`` prepended.

        Texts are tokenized in blocks, sorted by length and encoded ``batch_size`` at a time.

        Args:
            texts: The queries.
            dim: Matryoshka dimension to cut the embeddings to (re-normalised when the model normalises);
                ``None``: the full hidden size.
            batch_size: Texts per forward pass.
            show_progress: Show a progress bar; ``None``: when there are more than four batches.
            max_length: Max tokens per text (the prefix and BOS/EOS included); ``None``: the encoder's.

        Returns:
            ``float32 [len(texts), dim or hidden]``, in the order of ``texts``.

        Raises:
            TypeError: ``texts`` is one string, or holds something that is not a string.
            ValueError: A bad ``dim`` or ``batch_size``.
        """
        return self._encode_texts(texts, self.query_prefix, dim, batch_size, show_progress, max_length, "queries")

    def encode_documents(
        self,
        texts: Sequence[str],
        dim: int | None = None,
        batch_size: int = 32,
        show_progress: bool | None = None,
        max_length: int | None = None,
    ) -> np.ndarray:
        """Embed documents, with ``document_prefix`` prepended.

        Texts are tokenized in blocks, sorted by length and encoded ``batch_size`` at a time. The default 32 is
        sentence-transformers'; on a 2-core CPU it beat 64 (all-MiniLM-L6-v2 on scifact: 23.4 vs 22.4 docs/s,
        ``bench/encode_throughput.py``); on a GPU pass more.

        Args:
            texts: The documents.
            dim: Matryoshka dimension to cut the embeddings to (re-normalised when the model normalises);
                ``None``: the full hidden size.
            batch_size: Texts per forward pass.
            show_progress: Show a progress bar; ``None``: when there are more than four batches.
            max_length: Max tokens per text (the prefix and BOS/EOS included); ``None``: the encoder's.

        Returns:
            ``float32 [len(texts), dim or hidden]``, in the order of ``texts``.

        Raises:
            TypeError: ``texts`` is one string, or holds something that is not a string.
            ValueError: A bad ``dim`` or ``batch_size``.
        """
        return self._encode_texts(texts, self.document_prefix, dim, batch_size, show_progress, max_length, "documents")

    def _encode_texts(self, texts, prefix, dim, batch_size, show_progress, max_length, what) -> np.ndarray:
        _check_texts(texts)
        if dim is not None:
            truncate(torch.zeros(1, self.embedding_dim), dim)  # validate before any work
        if batch_size < 1:
            raise ValueError(f"option `batch_size`={batch_size} must be >= 1")
        n = len(texts)
        out = np.empty((n, dim or self.embedding_dim), dtype=np.float32)
        if n == 0:
            return out
        if show_progress is None:
            show_progress = n > 4 * batch_size
        max_length = max_length or self.max_length
        device = self.device
        was_training = self.training
        self.train(False)
        try:
            with torch.inference_mode(), tqdm(
                total=n, desc=f"encode {what}", unit={"queries": "query", "documents": "doc"}.get(what, what),
                disable=not show_progress, dynamic_ncols=True,
            ) as bar:
                for rows, input_ids, mask in padded_batches(self.tokenizer, texts, prefix, max_length, batch_size,
                                                            self.max_batch_tokens):
                    with autocast(device.type, self.bf16):
                        emb = self.forward(torch.from_numpy(input_ids).to(device), torch.from_numpy(mask).to(device))
                    emb = truncate(emb, dim, self.normalize)
                    out[rows] = emb.float().cpu().numpy()
                    bar.update(len(rows))
        finally:
            self.train(was_training)
        return out

    # ------------------------------------------------------------------ saving

    def save_pretrained(self, path: str | os.PathLike, state_dict: dict | None = None) -> Path:
        """Write a folder that both `from_pretrained` and ``sentence_transformers.SentenceTransformer`` load.

        Layout (sentence-transformers 6 format): the backbone and tokenizer at the root (``config.json`` carries
        ``is_causal: false`` for bidirectional decoders; ``tokenizer.json`` adds BOS/EOS; ``model_max_length`` =
        ``max_length``), ``modules.json`` = Transformer -> Pooling -> Normalize (when ``normalize``),
        ``config_sentence_transformers.json`` with prompts ``{"query": query_prefix, "document": document_prefix}``,
        and ``drama_config.json`` with our settings.

        Args:
            path: The folder (created if missing; files in it are replaced).
            state_dict: Backbone weights to save instead of the module's own, e.g. the full weights gathered from
                an FSDP-sharded model.

        Returns:
            The folder.
        """
        import sentence_transformers
        import transformers

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.backbone.save_pretrained(path, state_dict=state_dict)
        if self.is_decoder:  # make sure the saved config spells the attention direction out
            cfg_path = path / "config.json"
            cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
            cfg["is_causal"] = not self.bidirectional
            cfg.pop("auto_map", None)
            cfg_path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        old_max = self.tokenizer.model_max_length
        self.tokenizer.model_max_length = self.max_length
        try:
            self.tokenizer.save_pretrained(path)
        finally:
            self.tokenizer.model_max_length = old_max

        modules = [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.base.modules.transformer.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling",
             "type": "sentence_transformers.sentence_transformer.modules.pooling.Pooling"},
        ]
        if self.normalize:
            modules.append({"idx": 2, "name": "2", "path": "2_Normalize",
                            "type": "sentence_transformers.base.modules.normalize.Normalize"})
        _write_json(path / "modules.json", modules)
        _write_json(path / "sentence_bert_config.json", {
            "transformer_task": "feature-extraction",
            "modality_config": {"text": {"method": "forward", "method_output_name": "last_hidden_state"}},
            "module_output_name": "token_embeddings",
        })
        _write_json(path / "1_Pooling" / "config.json", {
            "embedding_dimension": self.embedding_dim,
            "pooling_mode": ST_POOLING_NAMES[self.pooling],
            "include_prompt": True,
        })
        if self.normalize:
            _write_json(path / "2_Normalize" / "config.json",
                        {"module_input_name": "sentence_embedding", "module_output_name": "sentence_embedding"})
        _write_json(path / "config_sentence_transformers.json", {
            "__version__": {
                "pytorch": torch.__version__,
                "sentence_transformers": sentence_transformers.__version__,
                "transformers": transformers.__version__,
            },
            "default_prompt_name": None,
            "model_type": "SentenceTransformer",
            "prompts": {"query": self.query_prefix, "document": self.document_prefix},
            "similarity_fn_name": "cosine" if self.normalize else "dot",
        })
        _write_json(path / DRAMA_CONFIG_NAME, self.settings())
        return path

    # ------------------------------------------------------------------ training helpers

    def gradient_checkpointing_enable(self) -> None:
        """Recompute activations in backward (less memory, ~30% more compute)."""
        self.backbone.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})

    def __repr__(self) -> str:
        return (
            f"DramaEncoder({type(self.backbone).__name__}, hidden={self.embedding_dim}, "
            f"{'bidirectional' if self.bidirectional else 'causal'}, pooling={self.pooling}, "
            f"normalize={self.normalize}, query_prefix={self.query_prefix!r}, max_length={self.max_length})"
        )


def length_batches(lengths: Sequence[int] | np.ndarray, batch_size: int,
                   max_tokens: int | None = None) -> list[np.ndarray]:
    """Length-bucketed batches: indices into ``lengths`` (token counts), longest first, ``batch_size`` at most per
    batch and, when ``max_tokens`` is given, at most ``max_tokens`` padded tokens (rows x the batch's longest
    row; a row longer than that is a batch of its own). Rows of one batch have neighbouring lengths, so a mixed
    input is never padded to its longest text; the caller writes each result back at its indices (input order)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    order = np.argsort(-lengths, kind="stable")
    batches, start = [], 0
    while start < len(order):
        rows = batch_size
        if max_tokens:
            rows = max(1, min(rows, int(max_tokens) // max(int(lengths[order[start]]), 1)))
        batches.append(order[start : start + rows])
        start += rows
    return batches


def padded_batches(tokenizer, texts: Sequence[str], prefix: str, max_length: int, batch_size: int,
                   max_tokens: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The batches an encoder runs on ``texts``: ``(rows, input_ids, attention_mask)``, ``rows`` the positions in
    ``texts`` of one batch (:func:`length_batches` over blocks of at least 8,192 texts, tokenized at once with
    ``prefix`` prepended and truncated at ``max_length``), ``input_ids`` right-padded with the tokenizer's pad id
    to the batch's longest row and ``attention_mask`` 1 on tokens: int64 arrays ``[len(rows), width]``. Used by
    :class:`DramaEncoder` and the exported encoders, so both run the same batches."""
    pad_id = tokenizer.pad_token_id
    block = max(batch_size * 64, 8192)  # tokenize a block at once, sort it by length, encode it in batches
    for start in range(0, len(texts), block):
        ids = tokenizer([prefix + t for t in texts[start : start + block]], truncation=True, max_length=max_length,
                        padding=False, return_attention_mask=False, return_token_type_ids=False)["input_ids"]
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        for idx in length_batches(lengths, batch_size, max_tokens):
            width = int(lengths[idx[0]])
            input_ids = np.full((len(idx), width), pad_id, dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                input_ids[row, : lengths[i]] = ids[i]
                mask[row, : lengths[i]] = 1
            yield start + idx, input_ids, mask


def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _check_texts(texts: Iterable) -> None:
    if isinstance(texts, str):
        raise TypeError("expected a list of strings, got one string; wrap it in a list")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"text #{i} is {type(t).__name__}, not str")


def _set_bidirectional(backbone: torch.nn.Module, bidirectional: bool) -> None:
    """Switch a decoder between causal and bidirectional attention (see the module docstring)."""
    backbone.config.is_causal = not bidirectional
    for module in backbone.modules():
        if hasattr(module, "is_causal") and isinstance(module.is_causal, bool):
            module.is_causal = not bidirectional


def _configure_tokenizer(tokenizer, add_bos: bool, add_eos: bool) -> None:
    """Make the tokenizer itself prepend BOS / append EOS, so sentence-transformers tokenizes the same way."""
    if not hasattr(tokenizer, "update_post_processor"):
        raise ValueError(
            f"{type(tokenizer).__name__} is not a fast (tokenizers-backed) tokenizer, so BOS/EOS cannot be set in "
            "its post-processor; pass add_bos=False, add_eos=False to use the tokenizer as it is"
        )
    if add_bos and tokenizer.bos_token is None:
        raise ValueError("option `add_bos`=True but the tokenizer has no BOS token")
    if add_eos and tokenizer.eos_token is None:
        raise ValueError("option `add_eos`=True but the tokenizer has no EOS token")
    object.__setattr__(tokenizer, "_add_bos_token", bool(add_bos))
    object.__setattr__(tokenizer, "_add_eos_token", bool(add_eos))
    tokenizer.update_post_processor()


# --- dense mining's plug-in (drama_data.mining.encoders; entry point `drama` in pyproject.toml) ---------------

# model types that ``--encoder auto`` gives to the DRAMA encoder besides DECODER_CLASSES' (as dense mining did
# before the plug-in; loading the ones DECODER_CLASSES lacks fails with a message naming the supported ones)
MINING_DECODER_TYPES = {"llama", "qwen2", "qwen3", "gemma", "gemma2", "gemma3", "gemma3_text", "mistral", "phi3"}


class MiningEncoder:
    """:class:`DramaEncoder` behind dense mining's encoder protocol (batch size, max length, Matryoshka ``dim``,
    no inner progress bar); ``model`` is the encoder."""

    def __init__(self, path: str, *, batch_size: int = 64, device: str | None = None, max_length: int | None = None,
                 dim: int | None = None, bf16: bool | str = False) -> None:
        from drama_data.errors import ConfigError

        try:
            self.model = DramaEncoder.from_pretrained(str(path), device=device, bf16=bf16)
        except Exception as exc:
            raise ConfigError(f"--model {path}: cannot load as a DRAMA encoder ({exc})") from None
        self.kw = {"batch_size": batch_size, "show_progress": False, "max_length": max_length, "dim": dim}

    def encode_queries(self, texts):
        return self.model.encode_queries(list(texts), **self.kw)

    def encode_documents(self, texts):
        return self.model.encode_documents(list(texts), **self.kw)


def is_drama_checkpoint(path: Path) -> bool:
    """A folder saved by :meth:`DramaEncoder.save_pretrained` (``drama_config.json``), a ``facebook/drama-*``
    layout (``DramaModel``) or a bare decoder LLM checkpoint (which only our encoder turns into a retriever)."""
    path = Path(path)
    if (path / DRAMA_CONFIG_NAME).is_file():
        return True
    cfg = path / "config.json"
    if not cfg.is_file():
        return False
    try:
        data = json.loads(cfg.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    decoders = set(DECODER_CLASSES) | MINING_DECODER_TYPES
    return "DramaModel" in (data.get("architectures") or []) or str(data.get("model_type", "")).lower() in decoders
