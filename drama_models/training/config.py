"""Training configuration: one dataclass, read from a YAML recipe and/or overridden field by field.

``TrainConfig.from_yaml("recipes/drama-0.1b.yaml", overrides={"max_steps": 10})`` -> a validated config.
Unknown keys raise ``ValueError`` naming the key and the file. Defaults follow the paper where it gives a number
(Ma et al. 2025, section 4.1: one stage of InfoNCE with in-batch and hard negatives, group of 1 positive + 7
negatives, batch 2048 for the 0.1B model, 200k steps, max length 256); other defaults are Tevatron's.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


@dataclass
class DatasetSpec:
    """One training dataset in Tevatron format: a folder ``datasets.load_dataset`` reads, a parquet/jsonl file, or
    a Hub name; ``weight`` = share in the mixture (relative), ``split`` / ``name`` = split and config to load."""

    path: str
    weight: float = 1.0
    split: str = "train"
    name: str | None = None

    @classmethod
    def parse(cls, value: str | dict | DatasetSpec) -> DatasetSpec:
        """From a mapping, or a string ``PATH`` / ``PATH:WEIGHT`` (weight after the last colon, when numeric)."""
        if isinstance(value, DatasetSpec):
            return value
        if isinstance(value, dict):
            unknown = set(value) - {f.name for f in fields(cls)}
            if unknown:
                raise ValueError(f"dataset entry {value!r}: unknown key(s) {sorted(unknown)}")
            if "path" not in value:
                raise ValueError(f"dataset entry {value!r}: missing 'path'")
            return cls(**value)
        text = str(value)
        head, sep, tail = text.rpartition(":")
        if sep and head and _is_number(tail):
            return cls(path=head, weight=float(tail))
        return cls(path=text)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@dataclass
class TrainConfig:
    """Everything one training run needs (DRAMA, Ma et al. 2025, Sec. 4.1, for the paper's values).

    Read from a YAML recipe with `from_yaml` (or a mapping with `from_dict`); each field is also a
    ``drama-models train`` flag, whose help text is the field's ``help`` metadata (the text below). Encoder
    settings left ``None`` take the checkpoint's saved setting, else DRAMA's default.

    Attributes:
        model: Checkpoint to start from: a folder, a Hub id or a bundled short name (all-MiniLM-L6-v2).
        output_dir: Where checkpoints, logs and the final model go.
        datasets: Training data, Tevatron format: the folder ``drama-data build`` wrote, a .parquet/.jsonl file
            or a Hub dataset; PATH or PATH:WEIGHT, repeatable.
        pooling: mean | eos | cls (DRAMA: mean).
        normalize: L2-normalise embeddings (DRAMA: yes).
        bidirectional: Bidirectional attention for decoders.
        query_prefix: Query prefix (DRAMA: 'Query: ').
        document_prefix: Document prefix (DRAMA: none).
        query_max_len: Max query tokens (specials included).
        passage_max_len: Max passage tokens; paper: 256.
        length_buckets: Length-bucketed batches as BGE-M3: MAX_LEN:BATCH_SIZE pairs, e.g. 256:32,1024:8,4096:2; a
            row goes to the first bucket holding its positive, each batch is one bucket with its batch size and
            max length (replaces batch_size and passage_max_len); none = off.
        batch_size: Queries per step over all devices; paper: 2048.
        train_group_size: Passages per query, 1 positive + N-1 negatives; paper: 8.
        temperature: InfoNCE temperature (Tevatron's default 0.01).
        distill_weight: Weight of a KL term distilling the rows' teacher scores (each passage's ``score``, e.g.
            from ``drama-data mine --retriever hybrid``) into the group's scores; 0 = InfoNCE only.
        contrastive_weight: Weight of the InfoNCE term (0 with distill_weight > 0: pure distillation, as GPL
            trains).
        distill_temperature: Temperature of the teacher's softmax over a group (its scores divided by this).
        negatives_cross_device: Under DDP/FSDP, score each query against every device's passages.
        matryoshka_dims: Matryoshka dims for the loss, comma-separated, e.g. 768,256 (none: full dim only).
        matryoshka_weights: Loss weight per Matryoshka dim (default: 1 each).
        gradcache_chunk_size: GradCache: sequences per forward chunk (memory ~ chunk, not batch); none = off.
        encode_chunk_size: Without GradCache: encode passages in length-sorted chunks of this size (less
            padding).
        learning_rate: Peak learning rate of AdamW.
        weight_decay: AdamW weight decay (not on biases and norms).
        adam_beta1: AdamW beta1.
        adam_beta2: AdamW beta2.
        adam_epsilon: AdamW epsilon.
        max_grad_norm: Gradient clipping norm; none = off.
        max_steps: Optimizer steps; paper: 200k.
        warmup_steps: Linear warmup steps.
        lr_scheduler: linear | cosine | constant (after warmup).
        bf16: bf16 autocast: auto (on CUDA with bf16 support and on CPUs with native bf16: AVX512-BF16, AMX, Arm
            BF16), true, false.
        gradient_checkpointing: Recompute activations in backward.
        fsdp: Shard the model with FSDP2 (fully_shard) under torchrun.
        seed: Seed for data order, sampling and init.
        logging_steps: Log every N steps (console + train_log.jsonl).
        save_steps: Checkpoint every N steps (0: only at the end).
        save_total_limit: Keep the newest N checkpoints.
        keep_checkpoints: Keep the checkpoint-N folders after a successful run (default: only the final model
            stays).
        resume: auto (newest checkpoint in output_dir if any), none, or a checkpoint folder.
        show_progress: tqdm progress bar on rank 0.
    """

    model: str = field(default="", metadata={
        "help": "Checkpoint to start from: a folder, a Hub id or a bundled short name (all-MiniLM-L6-v2)."})
    output_dir: str = field(default="", metadata={"help": "Where checkpoints, logs and the final model go."})
    datasets: list[DatasetSpec] = field(default_factory=list, metadata={
        "help": "Training data, Tevatron format: the folder `drama-data build` wrote, a .parquet/.jsonl file or "
                "a Hub dataset; PATH or PATH:WEIGHT, repeatable."})

    # encoder (None = the checkpoint's saved setting, else DRAMA's default; see DramaEncoder.from_pretrained)
    pooling: str | None = field(default=None, metadata={"help": "mean | eos | cls (DRAMA: mean)."})
    normalize: bool | None = field(default=None, metadata={"help": "L2-normalise embeddings (DRAMA: yes)."})
    bidirectional: bool | None = field(default=None, metadata={"help": "Bidirectional attention for decoders."})
    query_prefix: str | None = field(default=None, metadata={"help": "Query prefix (DRAMA: 'Query: ')."})
    document_prefix: str | None = field(default=None, metadata={"help": "Document prefix (DRAMA: none)."})
    query_max_len: int = field(default=64, metadata={"help": "Max query tokens (specials included)."})
    passage_max_len: int = field(default=256, metadata={"help": "Max passage tokens; paper: 256."})
    length_buckets: list[tuple[int, int]] | None = field(default=None, metadata={
        "help": "Length-bucketed batches as BGE-M3: MAX_LEN:BATCH_SIZE pairs, e.g. 256:32,1024:8,4096:2; a row "
                "goes to the first bucket holding its positive, each batch is one bucket with its batch size "
                "and max length (replaces batch_size and passage_max_len); none = off."})

    # contrastive objective
    batch_size: int = field(default=2048, metadata={"help": "Queries per step over all devices; paper: 2048."})
    train_group_size: int = field(default=8, metadata={"help": "Passages per query, 1 positive + N-1 negatives; paper: 8."})
    temperature: float = field(default=0.01, metadata={"help": "InfoNCE temperature (Tevatron's default 0.01)."})
    distill_weight: float = field(default=0.0, metadata={
        "help": "Weight of a KL term distilling the rows' teacher scores (each passage's `score`, e.g. from "
                "`drama-data mine --retriever hybrid`) into the group's scores; 0 = InfoNCE only."})
    contrastive_weight: float = field(default=1.0, metadata={
        "help": "Weight of the InfoNCE term (0 with distill_weight > 0: pure distillation, as GPL trains)."})
    distill_temperature: float = field(default=1.0, metadata={
        "help": "Temperature of the teacher's softmax over a group (its scores divided by this)."})
    negatives_cross_device: bool = field(default=True, metadata={
        "help": "Under DDP/FSDP, score each query against every device's passages."})
    matryoshka_dims: list[int] | None = field(default=None, metadata={
        "help": "Matryoshka dims for the loss, comma-separated, e.g. 768,256 (none: full dim only)."})
    matryoshka_weights: list[float] | None = field(default=None, metadata={
        "help": "Loss weight per Matryoshka dim (default: 1 each)."})
    gradcache_chunk_size: int | None = field(default=None, metadata={
        "help": "GradCache: sequences per forward chunk (memory ~ chunk, not batch); none = off."})
    encode_chunk_size: int | None = field(default=None, metadata={
        "help": "Without GradCache: encode passages in length-sorted chunks of this size (less padding)."})

    # optimisation
    learning_rate: float = field(default=1e-4, metadata={"help": "Peak learning rate of AdamW."})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay (not on biases and norms)."})
    adam_beta1: float = field(default=0.9, metadata={"help": "AdamW beta1."})
    adam_beta2: float = field(default=0.999, metadata={"help": "AdamW beta2."})
    adam_epsilon: float = field(default=1e-8, metadata={"help": "AdamW epsilon."})
    max_grad_norm: float | None = field(default=1.0, metadata={"help": "Gradient clipping norm; none = off."})
    max_steps: int = field(default=200_000, metadata={"help": "Optimizer steps; paper: 200k."})
    warmup_steps: int = field(default=1000, metadata={"help": "Linear warmup steps."})
    lr_scheduler: str = field(default="linear", metadata={"help": "linear | cosine | constant (after warmup)."})
    bf16: str = field(default="auto", metadata={
        "help": "bf16 autocast: auto (on CUDA with bf16 support and on CPUs with native bf16: AVX512-BF16, AMX, "
                "Arm BF16), true, false."})
    gradient_checkpointing: bool = field(default=False, metadata={"help": "Recompute activations in backward."})
    fsdp: bool = field(default=False, metadata={"help": "Shard the model with FSDP2 (fully_shard) under torchrun."})
    seed: int = field(default=42, metadata={"help": "Seed for data order, sampling and init."})

    # bookkeeping
    logging_steps: int = field(default=10, metadata={"help": "Log every N steps (console + train_log.jsonl)."})
    save_steps: int = field(default=1000, metadata={"help": "Checkpoint every N steps (0: only at the end)."})
    save_total_limit: int | None = field(default=2, metadata={"help": "Keep the newest N checkpoints."})
    keep_checkpoints: bool = field(default=False, metadata={
        "help": "Keep the checkpoint-N folders after a successful run (default: only the final model stays)."})
    resume: str = field(default="auto", metadata={
        "help": "auto (newest checkpoint in output_dir if any), none, or a checkpoint folder."})
    show_progress: bool = field(default=True, metadata={"help": "tqdm progress bar on rank 0."})

    def __post_init__(self) -> None:
        self.datasets = [DatasetSpec.parse(d) for d in (self.datasets or [])]
        self.length_buckets = parse_length_buckets(self.length_buckets)

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> TrainConfig:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            import difflib

            close = difflib.get_close_matches(unknown[0], sorted(names), n=1)
            hint = f"did you mean `{close[0]}`?" if close else f"known: {', '.join(sorted(names))}"
            raise ValueError(f"{source}: unknown training option `{unknown[0]}`"
                             f"{f' (and {len(unknown) - 1} more)' if len(unknown) > 1 else ''}; {hint}")
        return cls(**{k: _coerce(k, v, source) for k, v in values.items()})

    @classmethod
    def from_yaml(cls, path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> TrainConfig:
        """Read a YAML recipe, apply overrides and validate.

        Args:
            path: A YAML file holding a mapping of option -> value; ``None`` for the overrides alone.
            overrides: Option -> value, applied over the file (``None`` values ignored).

        Returns:
            The checked config.

        Raises:
            ValueError: The file is missing or not a YAML mapping, an option is unknown (with the closest name),
                or a value cannot work; one line naming the file (or ``flags``) and the option.
        """
        values: dict[str, Any] = {}
        source = "flags"
        if path is not None:
            import yaml

            source = str(path)
            if not Path(path).is_file():
                raise ValueError(f"--config {path}: no such recipe file")
            with open(path, encoding="utf-8") as f:
                try:
                    loaded = yaml.safe_load(f)
                except yaml.YAMLError as err:
                    raise ValueError(f"{path}: not valid YAML ({err})") from None
            if loaded is None:
                loaded = {}
            if not isinstance(loaded, dict):
                raise ValueError(f"{path}: a recipe must be a mapping of option: value")
            values.update(loaded)
        for key, value in (overrides or {}).items():
            if value is not None:
                values[key] = value
        config = cls.from_dict(values, source)
        config.validate(source)
        return config

    def validate(self, source: str = "config") -> None:
        """Check that every value can work.

        Args:
            source: What the errors name as the values' origin (a file, or ``flags``).

        Raises:
            ValueError: A value cannot work, naming ``source`` and the option.
        """
        def bad(option: str, why: str):
            raise ValueError(f"{source}: option `{option}` {why}")

        if not self.model:
            bad("model", "is required (a checkpoint folder or Hub id)")
        if not self.output_dir:
            bad("output_dir", "is required")
        if not self.datasets:
            bad("datasets", "needs at least one training dataset")
        for d in self.datasets:
            if not d.weight > 0:
                bad("datasets", f"weight of {d.path!r} must be > 0, got {d.weight}")
        if self.batch_size < 1:
            bad("batch_size", f"must be >= 1, got {self.batch_size}")
        if self.train_group_size < 1:
            bad("train_group_size", f"must be >= 1 (1 positive + N-1 negatives), got {self.train_group_size}")
        if not self.temperature > 0:
            bad("temperature", f"must be > 0, got {self.temperature}")
        if self.distill_weight < 0:
            bad("distill_weight", f"must be >= 0, got {self.distill_weight}")
        if self.contrastive_weight < 0 or (self.contrastive_weight == 0 and self.distill_weight == 0):
            bad("contrastive_weight", f"must be >= 0, and > 0 unless distill_weight > 0; got {self.contrastive_weight}")
        if not self.distill_temperature > 0:
            bad("distill_temperature", f"must be > 0, got {self.distill_temperature}")
        if self.max_steps < 1:
            bad("max_steps", f"must be >= 1, got {self.max_steps}")
        if self.warmup_steps < 0:
            bad("warmup_steps", "must be >= 0")
        if self.lr_scheduler not in ("linear", "cosine", "constant"):
            bad("lr_scheduler", f"must be linear, cosine or constant, got {self.lr_scheduler!r}")
        if str(self.bf16).lower() not in ("auto", "true", "false"):
            bad("bf16", f"must be auto, true or false, got {self.bf16!r}")
        for name in ("gradcache_chunk_size", "encode_chunk_size"):
            value = getattr(self, name)
            if value is not None and value < 1:
                bad(name, f"must be >= 1 or none, got {value}")
        if self.matryoshka_dims is not None:
            if not self.matryoshka_dims or any(d < 1 for d in self.matryoshka_dims):
                bad("matryoshka_dims", f"must be positive integers, got {self.matryoshka_dims}")
            if self.matryoshka_weights is not None and len(self.matryoshka_weights) != len(self.matryoshka_dims):
                bad("matryoshka_weights", f"needs one weight per dim ({len(self.matryoshka_dims)}), "
                                          f"got {len(self.matryoshka_weights)}")
        elif self.matryoshka_weights is not None:
            bad("matryoshka_weights", "is set but `matryoshka_dims` is not")
        if self.query_max_len < 2 or self.passage_max_len < 2:
            bad("query_max_len/passage_max_len", "must be >= 2")
        if self.logging_steps < 1:
            bad("logging_steps", "must be >= 1")
        if self.save_steps < 0:
            bad("save_steps", "must be >= 0")

    @property
    def use_bf16(self) -> bool:
        import torch

        from drama_models.precision import resolve_bf16

        return resolve_bf16(self.bf16, "cuda" if torch.cuda.is_available() else "cpu")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _coerce(name: str, value: Any, source: str) -> Any:
    """YAML/CLI strings into the field's type: lists from comma-separated strings, 'none' -> None, bools."""
    if isinstance(value, str) and value.strip().lower() in ("none", "null") and name not in ("resume",):
        return None
    if name == "matryoshka_dims" and isinstance(value, str):
        return [int(v) for v in value.split(",") if v.strip()]
    if name == "matryoshka_weights" and isinstance(value, str):
        return [float(v) for v in value.split(",") if v.strip()]
    if name == "length_buckets":
        return parse_length_buckets(value, source)
    if name == "datasets" and not isinstance(value, (list, tuple)):
        value = [value]
    if name == "bf16" and isinstance(value, bool):
        return "true" if value else "false"
    if name in ("learning_rate", "temperature", "weight_decay", "adam_epsilon", "distill_weight",
                "distill_temperature", "contrastive_weight") and isinstance(value, str):
        try:
            return float(value)  # YAML 1.1 reads "1e-4" as a string
        except ValueError:
            raise ValueError(f"{source}: option `{name}` must be a number, got {value!r}") from None
    return value


def parse_length_buckets(value: Any, source: str = "config") -> list[list[int]] | None:
    """``"256:32,1024:8"`` / ``["256:32", "1024:8"]`` / ``[[256, 32], [1024, 8]]`` / ``[{"max_len": 256,
    "batch_size": 32}]`` -> ``[[256, 32], [1024, 8]]``; ``None`` / empty -> ``None``.

    Raises ``ValueError`` (one line naming ``source`` and the option) for a malformed pair, a ``max_len`` below 2,
    a batch size below 1, or ``max_len`` values that do not increase.
    """
    if value is None:
        return None
    if isinstance(value, str):
        if value.strip().lower() in ("", "none", "null"):
            return None
        value = [v for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{source}: option `length_buckets` must be MAX_LEN:BATCH_SIZE pairs, got {value!r}")
    out: list[list[int]] = []
    for entry in value:
        try:
            if isinstance(entry, dict):
                pair = [entry["max_len"], entry["batch_size"]]
            elif isinstance(entry, str):
                pair = entry.strip().split(":")
            else:
                pair = list(entry)
            if len(pair) != 2:
                raise ValueError
            max_len, batch = int(pair[0]), int(pair[1])
        except (ValueError, TypeError, KeyError):
            hint = (" (YAML reads an unquoted 256:32 as a base-60 number: quote it, \"256:32\", or write [256, 32])"
                    if isinstance(entry, int) else "")
            raise ValueError(f"{source}: option `length_buckets` entry {entry!r} is not MAX_LEN:BATCH_SIZE "
                             f"(e.g. 256:32,1024:8){hint}") from None
        if max_len < 2 or batch < 1:
            raise ValueError(f"{source}: option `length_buckets` entry {entry!r}: max_len must be >= 2 and "
                             "batch_size >= 1")
        if out and max_len <= out[-1][0]:
            raise ValueError(f"{source}: option `length_buckets`: max_len must increase, got {max_len} after "
                             f"{out[-1][0]}")
        out.append([max_len, batch])
    return out or None
