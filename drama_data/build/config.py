"""The ``build`` configuration: inputs, labelling rules, filters and mixing, from YAML and/or CLI flags.

Every value is checked by `BuildConfig.validate` before any data is read; an error names the option
(``rules.qgen.negatives``, ``mix.ratios.english_web``, ``filters.max_copy_rate``, ...).

**The labelling rules follow the miner** (``miner: weak | strong``, CLI ``--miner``). The paper's rule for
cropped sentences (Sent) and LLM queries (QGen), "ranks 1-10 of the retriever's top 50 are positives, ranks
30-50 hard negatives" (Ma et al. 2025, Sec. 3.2), rests on its miner, LLM_Ret, a strong LLM-based dense
retriever. With a weak miner the premise breaks: with BM25 only about 15% of ranks 1-10 come from the query's
own document on SciFact, and all-MiniLM-L6-v2 trained on such rows got worse (0.645 -> 0.629 nDCG@10). So:

- ``miner: weak`` (the default; BM25, or a small dense encoder): the passage a query was made from is the one
  positive (InPars/GPL practice). LLM queries are kept only when the miner ranks their source passage in its
  top ``roundtrip_top`` (20; a round-trip consistency check, as Promptagator and InPars-v2 filter: a query its
  own passage does not answer is noise). A cropped sentence is removed from its passage to make the positive
  (``positive_text: without_query``, the inverse cloze task of Lee et al. 2019): otherwise the positive
  contains the query verbatim and the encoder learns to find copies. Negatives are ranks 3-30 of the miner
  (below the source's score minus the false-negative margin).
- ``miner: strong``: the paper's rules as published (ranks 1-10 positive, 30-50 negative; the QGen source
  passage is added as a positive).
- ``rerank`` (either miner): the LLM-reranked top-1 is the positive, reranked ranks 10-20 hard negatives
  (paper). A query whose rerank failed (no ranking) or disagreed across passes (``filters.min_agreement``)
  falls back to its miner rule when ``filters.rerank_fallback`` is true (default), instead of being dropped:
  a small model's rankings are not trusted blindly.
- ``crosslingual``: the source passage is the only positive (lexical miners cannot rank across languages),
  ranks 30-50 negatives. Under a lexical retriever ``mine`` ranked such a row with its source query (translated
  rows) or its passage's own text (direct rows) instead of the query (``mined_with``,
  `drama_data.mining.crosslingual`), so the negatives are in the passage's language; far ranks, because
  the near ranks of those searches are likely to answer the query too.

Every training row carries the ``rule`` that produced it; the card lists the rules and what each removed.
False-negative guard: a negative whose retriever score is >= ``ref - margin * |ref|`` (``mode: relative``;
``ref - margin`` with ``mode: absolute``), ``ref`` being the lowest score among the row's scored positives,
is dropped. Default margin 0.05 for sent/qgen/crosslingual; off for ``rerank`` (the LLM's ranking has no
scores and already put those passages 9+ places below the positive).

Filters: queries of fewer than 3 or more than 128 tokens are removed; ``qgen``/``crosslingual`` queries whose
word-trigram copy rate from their source passage exceeds 0.8 are removed (cropped sentences copy by design
and are exempt); exact duplicates (after NFKC, case folding, punctuation and whitespace normalisation) and
near duplicates (character-trigram Jaccard >= 0.8) are removed, the first kept.

``filters.exclude_contaminated`` (``--exclude-contaminated DIR``, none by default): rows whose query matches
a query of these evaluation collections (BEIR folders, ``contamination_split`` qrels, default ``test``), or
whose source, positive or negative passages overlap a passage those qrels judge, are removed
(reason ``contaminated``; tests in `drama_data.report.contamination`).

``sentence_transformers`` (``--sentence-transformers/--no-sentence-transformers``, ``--st-negatives N``): besides
the Tevatron ``train`` config, write the ``sentence-transformers`` config (``anchor, positive, negative_1..N``
and the miner's ``scores``; `drama_data.build.st_layout`), on by default with N = 7 negatives;
``--st-require-scores`` keeps only its rows with every miner score, so that it has ``scores`` (distillation).

``swap_negatives`` (``--swap-negatives N``, 0 = off): a row whose query carries an answer span
(``answer_start``/``answer_end`` in its queries dataset: long rows of ``generate --section-tokens``) and whose
positive is its source document gets up to N negatives made of that document with the answer section swapped
for another document's section, first among its negatives (`drama_data.build.swap`). ``drama-models train``
samples a row's negatives uniformly, so ``swap_keep_mined`` (``--swap-keep-mined M``, null = all) caps the mined
negatives such a row keeps after its swap negatives: 0 makes the swap negative the one a group of 2 takes.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, make_dataclass
from pathlib import Path
from typing import Any

import yaml

from drama_data.build.rules import (
    DEFAULT_MINER,
    DEFAULT_RULES,
    MINER_RULES,
    MINERS,
    POSITIVE_TEXTS,
    RANKINGS,
    Rule,
    RuleKeys,
    _check_rule,
    make_rules,
)
from drama_data.build.st_layout import DEFAULT_NEGATIVES as ST_NEGATIVES
from drama_data.errors import ConfigError
from drama_data.mapping_loader import from_mapping, given, given_values

MIX_BY = ("group", "source", "rule", "language", "input")

__all__ = ["DEFAULT_FILTERS", "DEFAULT_MINER", "DEFAULT_RULES", "DEFAULT_SOURCE_RULES", "MINERS", "MINER_RULES",
           "MIX_BY", "POSITIVE_TEXTS", "RANKINGS", "BuildConfig", "BuildFile", "InputSpec", "Rule", "RuleKeys",
           "config_from_mapping", "load_config", "make_rules"]
DEFAULT_SOURCE_RULES = {"sent": "sent", "qgen": "qgen", "crosslingual": "crosslingual"}
DEFAULT_FILTERS: dict[str, Any] = {
    "min_query_tokens": 3, "max_query_tokens": 128,
    "max_copy_rate": 0.8, "copy_ngram": 3, "copy_rate_sources": ["qgen", "crosslingual"],
    "dedup_exact": True, "near_dup_threshold": 0.8, "near_dup_ngram": 3,
    "min_agreement": None, "rerank_fallback": True,
    "exclude_contaminated": [], "contamination_split": "test",
}


@dataclass
class InputSpec:
    """One input of ``build``: a candidates dataset (from ``mine``), optionally with its rerank output and queries.

    Attributes:
        candidates: The candidates folder written by ``drama-data mine``.
        name: The input's name in the report and the rows' ``input`` column (default: the candidates folder's
            name, made unique by position).
        group: The mixing group (``mix.by: group`` holds the ratios between groups).
        rerank: The rankings folder written by ``drama-data generate --task rerank`` over these candidates; its
            rows take the ``rerank`` rule.
        queries: The queries dataset the candidates were mined from; its queries missing from the candidates are
            recorded as removed (``not_mined``).
        queries_config: The config of the queries dataset to read.
        ratio: This input's share of the mix (give it on every input or on none; it then mixes by input).
    """

    candidates: str
    name: str = ""
    group: str = "default"
    rerank: str | None = None
    queries: str | None = None
    queries_config: str = "queries"
    ratio: float | None = None  # share of this input in the mix (all inputs or none; mixes by input)


@dataclass
class BuildConfig:
    """Everything ``build`` needs: inputs, labelling rules, filters and mixing.

    Usually made by [`load_config`][drama_data.build.config.load_config] (a ``build.yaml`` and/or overrides), which
    fills in the defaults of the chosen ``miner``. The labelling rules follow the paper (Ma et al. 2025, Sec. 3.2:
    ranks 1-10 of the top 50 positive, 30-50 hard negatives; reranked top-1 positive, ranks 10-20 negatives) for
    ``miner: strong``; ``miner: weak`` (BM25 or a small encoder, the default) makes the source passage the one
    positive, as the module docstring explains.

    Attributes:
        inputs: The candidates datasets, in order (earlier inputs win duplicates).
        output: The output folder (``build``'s ``output`` argument overrides it).
        seed: Seed for mixing and shuffling; a build is deterministic for a config and seed.
        miner: ``weak`` or ``strong``: which default rules apply.
        rules: Labelling rule name -> its `Rule` (positives, negatives, false-negative margin, ...).
        source_rules: Query source (``sent``, ``qgen``, ``crosslingual``) -> the rule its rows take (rows of an
            input with rankings take ``rerank``).
        fn_mode: False-negative guard: ``relative`` or ``absolute`` margin below the lowest positive's score.
        filters: Query length, copy rate, agreement, duplicate and contamination filters (see
            ``DEFAULT_FILTERS``).
        mix_by: Hold mixing ratios between ``group``s or ``input``s.
        mix_ratios: Group (or input) -> ratio; ``None`` keeps every row.
        mix_total: Rows to keep in all after mixing; ``None`` for as many as the ratios allow.
        shuffle: Shuffle the rows with ``seed`` when mixing.
        sentence_transformers: Also write the ``sentence-transformers`` config (``anchor, positive,
            negative_1..n``).
        st_negatives: Negative columns of that config.
        st_require_scores: Leave out its rows without every miner score, so that it has ``scores``.
        swap_negatives: Negatives per long row made of its own document with the answer section swapped out
            (`drama_data.build.swap`; 0: none).
        swap_keep_mined: Mined negatives a row with swap negatives keeps after them (best-ranked first; ``None``:
            all). The trainer samples negatives uniformly: 0 makes every group of 2 take the swap negative.
    """

    inputs: list[InputSpec]
    output: str | None = None
    seed: int = 0
    miner: str = DEFAULT_MINER
    rules: dict[str, Rule] = field(default_factory=dict)
    source_rules: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_SOURCE_RULES))
    fn_mode: str = "relative"
    filters: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(DEFAULT_FILTERS))
    mix_by: str = "group"
    mix_ratios: dict[str, float] | None = None
    mix_total: int | None = None
    shuffle: bool = True
    sentence_transformers: bool = True  # also write the ``sentence-transformers`` config (st_layout)
    st_negatives: int = ST_NEGATIVES  # its negative columns
    st_require_scores: bool = False  # leave out its rows without miner scores (so that it has ``scores``)
    swap_negatives: int = 0  # per long row: its document with the answer section swapped out (build.swap)
    swap_keep_mined: int | None = None  # mined negatives such a row keeps after them (None: all)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["rules"] = {k: {kk: (list(vv) if isinstance(vv, tuple) else vv) for kk, vv in asdict(r).items()}
                      for k, r in self.rules.items()}
        if not self.swap_negatives:  # off: the config reads as before the option existed (cards, provenance)
            d.pop("swap_negatives")
            d.pop("swap_keep_mined")
        return d

    def validate(self) -> BuildConfig:
        """Check every value before any data is read.

        Returns:
            The config itself.

        Raises:
            ConfigError: A bad value, naming the option (``rules.qgen.negatives``, ``filters.max_copy_rate``, ...).
        """
        if not self.inputs:
            raise ConfigError("inputs: give at least one candidates dataset (--candidates or inputs: in the config)")
        names = set()
        for i, inp in enumerate(self.inputs):
            if not inp.candidates:
                raise ConfigError(f"inputs[{i}].candidates: missing")
            if inp.name in names:
                raise ConfigError(f"inputs[{i}].name: {inp.name!r} is used twice")
            names.add(inp.name)
        if self.miner not in MINERS:
            raise ConfigError(f"miner: {self.miner!r}, use weak or strong")
        for rule in self.rules.values():
            _check_rule(rule)
        for source, rule in self.source_rules.items():
            if rule not in self.rules:
                raise ConfigError(f"source_rules.{source}: unknown rule {rule!r} (rules: {', '.join(self.rules)})")
        if self.fn_mode not in ("relative", "absolute"):
            raise ConfigError(f"false_negatives.mode: {self.fn_mode!r}, use relative or absolute")
        _check_filters(self.filters)
        if self.mix_by not in MIX_BY:
            raise ConfigError(f"mix.by: {self.mix_by!r}, use one of {', '.join(MIX_BY)}")
        if self.mix_ratios is not None:
            if not self.mix_ratios:
                raise ConfigError("mix.ratios: empty; give at least one KEY: RATIO or leave mix out")
            for key, ratio in self.mix_ratios.items():
                if not isinstance(ratio, (int, float)) or isinstance(ratio, bool) or not ratio > 0:
                    raise ConfigError(f"mix.ratios.{key}: ratio must be a number > 0, got {ratio!r}")
            if self.mix_by == "group":
                groups = {i.group for i in self.inputs}
                missing = sorted(groups - set(self.mix_ratios))
                extra = sorted(set(self.mix_ratios) - groups)
                if missing:
                    raise ConfigError(f"mix.ratios: no ratio for input group(s) {', '.join(missing)}")
                if extra:
                    raise ConfigError(f"mix.ratios.{extra[0]}: no input has group {extra[0]!r} "
                                      f"(groups: {', '.join(sorted(groups))})")
        if self.mix_total is not None and (not isinstance(self.mix_total, int) or self.mix_total < 1):
            raise ConfigError(f"mix.total: must be a positive integer, got {self.mix_total!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ConfigError(f"seed: must be an integer, got {self.seed!r}")
        if not isinstance(self.sentence_transformers, bool):
            raise ConfigError(f"sentence_transformers.write: must be true or false, got {self.sentence_transformers!r}")
        if not isinstance(self.st_require_scores, bool):
            raise ConfigError(f"sentence_transformers.require_scores: must be true or false, got "
                              f"{self.st_require_scores!r}")
        if not isinstance(self.st_negatives, int) or isinstance(self.st_negatives, bool) or self.st_negatives < 0:
            raise ConfigError(f"sentence_transformers.negatives: must be an integer >= 0, got {self.st_negatives!r}")
        if not isinstance(self.swap_negatives, int) or isinstance(self.swap_negatives, bool) \
                or self.swap_negatives < 0:
            raise ConfigError(f"swap_negatives: must be an integer >= 0, got {self.swap_negatives!r}")
        k = self.swap_keep_mined
        if k is not None and (not isinstance(k, int) or isinstance(k, bool) or k < 0):
            raise ConfigError(f"swap_keep_mined: must be an integer >= 0 or null (all), got {k!r}")
        return self


#: the ``filters:`` keys (from :data:`DEFAULT_FILTERS`; each one left out keeps its default)
FilterKeys = make_dataclass("FilterKeys", [(k, Any, field(default=None)) for k in DEFAULT_FILTERS])


@dataclass
class FalseNegativesKeys:
    """``false_negatives:`` of build.yaml."""

    mode: Any = "relative"


@dataclass
class MixKeys:
    """``mix:`` of build.yaml."""

    by: Any = None
    ratios: dict[str, Any] | None = None
    total: Any = None
    shuffle: Any = True


@dataclass
class SentenceTransformersKeys:
    """``sentence_transformers:`` of build.yaml (the ``sentence-transformers`` config)."""

    write: Any = True
    negatives: Any = ST_NEGATIVES
    require_scores: Any = False


@dataclass
class BuildFile:
    """build.yaml as written (top-level keys; see `load_config`), read by
    `drama_data.mapping_loader.from_mapping`: an unknown key is one line naming the file and the key."""

    inputs: list[InputSpec] = field(default_factory=list)
    output: str | None = None
    seed: Any = 0
    miner: str | None = None
    rules: dict[str, RuleKeys] = field(default_factory=dict)
    source_rules: dict[str, Any] = field(default_factory=dict)
    false_negatives: FalseNegativesKeys = field(default_factory=FalseNegativesKeys)
    filters: FilterKeys = field(default_factory=FilterKeys)
    mix: MixKeys = field(default_factory=MixKeys)
    sentence_transformers: SentenceTransformersKeys = field(default_factory=SentenceTransformersKeys)
    swap_negatives: Any = 0
    swap_keep_mined: Any = None


def _check_filters(f: Mapping[str, Any]) -> None:
    for key in ("min_query_tokens", "max_query_tokens", "copy_ngram", "near_dup_ngram"):
        v = f.get(key)
        if v is not None and (not isinstance(v, int) or v < (0 if key == "min_query_tokens" else 1)):
            raise ConfigError(f"filters.{key}: must be a positive integer or null, got {v!r}")
    lo, hi = f.get("min_query_tokens"), f.get("max_query_tokens")
    if lo is not None and hi is not None and lo > hi:
        raise ConfigError(f"filters.min_query_tokens ({lo}) is larger than filters.max_query_tokens ({hi})")
    for key in ("max_copy_rate", "near_dup_threshold"):
        v = f.get(key)
        if v is not None and (not isinstance(v, (int, float)) or not 0 < v <= 1):
            raise ConfigError(f"filters.{key}: must be in (0, 1] or null, got {v!r}")
    v = f.get("min_agreement")
    if v is not None and (not isinstance(v, (int, float)) or not -1 <= v <= 1):
        raise ConfigError(f"filters.min_agreement: Kendall tau threshold must be in [-1, 1] or null, got {v!r}")
    if not isinstance(f.get("rerank_fallback", True), bool):
        raise ConfigError(f"filters.rerank_fallback: must be true or false, got {f.get('rerank_fallback')!r}")
    if not isinstance(f.get("copy_rate_sources", []), list):
        raise ConfigError("filters.copy_rate_sources: must be a list of query sources")
    ex = f.get("exclude_contaminated", [])
    if not isinstance(ex, list) or not all(isinstance(x, str) and x for x in ex):
        raise ConfigError("filters.exclude_contaminated: must be a list of evaluation collection folders")
    if not isinstance(f.get("contamination_split", "test"), str):
        raise ConfigError("filters.contamination_split: must be a qrels split name such as test")


def _ratio(value, option: str) -> float | None:
    """A mixing ratio: a number > 0 (from YAML, or a string from the command line), or None."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ConfigError(f"{option}: {value!r} is not a number") from None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise ConfigError(f"{option}: must be a number > 0, got {value!r}")
    return int(value) if float(value).is_integer() else float(value)


def _resolve(path: str | None, base: Path | None) -> str | None:
    if path is None or base is None:
        return path
    p = Path(path).expanduser()
    return str(p if p.is_absolute() else (base / p))


def load_config(path: str | Path | None = None, **overrides) -> BuildConfig:
    """Read a ``build.yaml`` (relative paths resolve against its folder) and apply CLI-style overrides.

    Top-level YAML keys: ``inputs`` (list of {candidates, name, group, rerank, queries, queries_config, ratio};
    ``ratio`` on every input mixes the inputs by those ratios, instead of ``mix.ratios``), ``output``, ``seed``,
    ``miner`` (weak | strong: which default rules), ``rules`` ({rule: {positives, negatives, source_positive,
    ranking, fn_margin, max_positives, max_negatives, min_negatives, exclude_source_from_negatives,
    roundtrip_top, positive_text}}), ``source_rules`` ({source: rule}), ``false_negatives`` ({mode}),
    ``filters`` (see ``DEFAULT_FILTERS``), ``mix`` ({by, ratios, total, shuffle}), ``sentence_transformers``
    ({write, negatives}), ``swap_negatives`` (N, 0 = off), ``swap_keep_mined`` (M or null). An unknown key is an error naming the file and the key.

    Args:
        path: The YAML file; ``None`` for the defaults.
        **overrides (Any): ``inputs`` ([`InputSpec`][drama_data.build.config.InputSpec]s), ``output``, ``seed``,
            ``rules`` (merged per rule), ``filters`` (merged), ``mix_ratios``, ``mix_by``, ``mix_total``,
            ``fn_margin`` (all rules), ``miner``, ``sentence_transformers`` (bool), ``st_negatives``,
            ``st_require_scores``, ``swap_negatives``, ``swap_keep_mined``.

    Returns:
        The checked [`BuildConfig`][drama_data.build.config.BuildConfig].

    Raises:
        ConfigError: The file is missing, is not valid YAML or not a mapping, or a key or value is bad (one line
            naming the file and the key or option).
    """
    raw: Any = {}
    base = None
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"--config {p}: no such file")
        try:
            raw = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"--config {p}: not valid YAML ({exc})") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"--config {p}: expected a mapping at the top level")
        base = p.resolve().parent
    return config_from_mapping(raw, base=base, source=f"--config {path}" if path is not None else "", **overrides)


def config_from_mapping(raw: Mapping[str, Any], *, base: Path | None = None, source: str = "",
                        **overrides) -> BuildConfig:
    """`load_config` for an already-parsed mapping (a recipe's build options): ``base`` resolves relative
    paths, ``source`` (the file) starts the errors about the mapping's layout."""
    f = from_mapping(BuildFile, raw, source=source)
    inputs = _inputs(overrides.get("inputs") or f.inputs, base, from_file=not overrides.get("inputs"))

    rule_over: dict[str, dict] = {name: given_values(keys) for name, keys in f.rules.items()}
    for name, values in (overrides.get("rules") or {}).items():
        rule_over.setdefault(name, {}).update(values)
    if overrides.get("fn_margin", "unset") != "unset":
        for name in set(DEFAULT_RULES) | set(rule_over):
            rule_over.setdefault(name, {})["fn_margin"] = overrides["fn_margin"]
    miner = str(overrides.get("miner") or f.miner or DEFAULT_MINER)
    rules = make_rules(rule_over, miner)

    source_rules = dict(DEFAULT_SOURCE_RULES)
    source_rules.update({str(k): str(v) for k, v in f.source_rules.items()})

    filters = copy.deepcopy(DEFAULT_FILTERS)
    filters.update(given_values(f.filters))
    over_filters = overrides.get("filters") or {}
    filters.update(given_values(from_mapping(FilterKeys, over_filters, where="filters.")))
    if isinstance(filters["exclude_contaminated"], list) and "exclude_contaminated" in given(f.filters) \
            and not over_filters.get("exclude_contaminated"):
        filters["exclude_contaminated"] = [_resolve(str(x), base) for x in filters["exclude_contaminated"]]

    mix = f.mix
    ratios = overrides.get("mix_ratios") or mix.ratios
    mix_by = overrides.get("mix_by") or (mix.by if "by" in given(mix) else "group")
    with_ratio = [i for i, inp in enumerate(inputs) if inp.ratio is not None]
    if with_ratio:  # ratios given per input: mix by input
        without = [i for i, inp in enumerate(inputs) if inp.ratio is None]
        if without:
            raise ConfigError(f"inputs[{without[0]}].ratio: missing; give a ratio on every input or on none "
                              f"(input {inputs[with_ratio[0]].name!r} has ratio={inputs[with_ratio[0]].ratio:g})")
        if ratios:
            raise ConfigError("mix.ratios: ratios are given both per input (ratio=) and in mix.ratios / --mix; "
                              "use one of the two")
        if mix_by != "input" and (overrides.get("mix_by") or mix.by):
            raise ConfigError(f"mix.by: {mix_by!r}, but per-input ratios mix by input; leave mix.by out")
        mix_by = "input"
        ratios = {inp.name: inp.ratio for inp in inputs}
    cfg = BuildConfig(
        inputs=inputs,
        output=overrides.get("output") or _resolve(f.output, base),
        seed=overrides["seed"] if overrides.get("seed") is not None else f.seed, miner=miner,
        rules=rules, source_rules=source_rules, fn_mode=f.false_negatives.mode, filters=filters,
        mix_by=mix_by,
        mix_ratios={str(k): v for k, v in ratios.items()} if ratios else None,
        mix_total=overrides.get("mix_total") or mix.total,
        shuffle=bool(mix.shuffle),
        sentence_transformers=(overrides["sentence_transformers"] if overrides.get("sentence_transformers")
                               is not None else f.sentence_transformers.write),
        st_negatives=(overrides["st_negatives"] if overrides.get("st_negatives") is not None
                      else f.sentence_transformers.negatives),
        st_require_scores=(overrides["st_require_scores"] if overrides.get("st_require_scores") is not None
                           else f.sentence_transformers.require_scores),
        swap_negatives=(overrides["swap_negatives"] if overrides.get("swap_negatives") is not None
                        else f.swap_negatives),
        swap_keep_mined=(overrides["swap_keep_mined"] if overrides.get("swap_keep_mined") is not None
                         else f.swap_keep_mined),
    )
    return cfg.validate()


def _inputs(items: list, base: Path | None, from_file: bool) -> list[InputSpec]:
    """The inputs as `InputSpec`: mappings read (paths resolved against ``base``, ``ratio`` checked),
    ready specs kept; an input without a name gets its candidates folder's (made unique by position)."""
    if not isinstance(items, list):
        raise ConfigError("inputs: expected a list of {candidates: DIR, ...}")
    inputs = []
    for i, item in enumerate(items):
        if isinstance(item, InputSpec) and not from_file:
            inputs.append(item)
            continue
        spec = item if isinstance(item, InputSpec) else from_mapping(InputSpec, item, where=f"inputs[{i}].")
        if not spec.candidates:
            raise ConfigError(f"inputs[{i}].candidates: missing")
        inputs.append(InputSpec(candidates=_resolve(spec.candidates, base), name=str(spec.name or ""),
                                group=str(spec.group or "default"), rerank=_resolve(spec.rerank, base),
                                queries=_resolve(spec.queries, base), queries_config=spec.queries_config or "queries",
                                ratio=_ratio(spec.ratio, f"inputs[{i}].ratio")))
    given_names = {inp.name for inp in inputs if inp.name}
    for i, inp in enumerate(inputs):
        if not inp.name:  # default: the candidates folder's name, made unique with its position if needed
            name = Path(inp.candidates).name or inp.candidates
            taken = given_names | {x.name for x in inputs[:i]}
            inp.name = name if name not in taken else f"{name}-{i}"
    return inputs
