"""Vocabulary pruning: keep only the tokens a corpus uses (plus special tokens) and rewrite the tokenizer.

Why: embedding tables dominate small models (Gemma-3-270M: 168M of its 268M parameters are the 262k x 640
embedding), while a retriever for given languages uses a fraction of the vocabulary.

Input: a model, its fast (``tokenizers``-backed) tokenizer, corpus texts. Output: the same model with embedding
rows (and an untied LM head) reduced and re-indexed, ``config.vocab_size`` and special token ids updated, and a
new tokenizer that tokenizes the corpus into *the same token strings* (verified on every text before returning).

Which tokens are kept:

- every token the corpus tokenizes into, and every token its words tokenize into when written in lower case,
  Capitalised or UPPER CASE, at the start of a text or after a space (:func:`case_variants`): queries do not
  follow the corpus' casing;
- special tokens (BOS/EOS/PAD/UNK/MASK, additional specials, tokens used by the post-processor, added tokens
  that the chat template mentions);
- the fallbacks that keep *any* text encodable: byte-fallback tokens ``<0x00>..<0xFF>`` (SentencePiece-style BPE
  such as Gemma and Llama-2) or the 256 byte symbols of a byte-level BPE (Llama-3, Qwen2);
- for BPE, the closure under merges: the two parts of every merge producing a kept token (recursively), so each
  kept token can still be built. Merges are kept when their parts and result are all kept. This keeps the
  corpus tokenization identical: BPE applies the lowest-ranked applicable merge, every merge the corpus used is
  kept, and a dropped merge was never applied to the corpus. WordPiece (greedy longest match) and Unigram
  (Viterbi over pieces) need no closure: removing pieces that are never chosen cannot change the choice.

A corpus with no upper-case letter at all (one lower-cased upstream, as NPL) makes a tokenizer that lower-cases
its input first (a ``Lowercase`` normalizer; no case variants then): its documents exist only in lower case, so
queries must meet them there. (NPL's queries are upper case: with the corpus' tokens alone they fell back to
bytes and the cpu-demo's pruned Gemma scored 0.009 nDCG@10; with upper-case tokens 0.008, the model never saw
them in training; the same model given lower-cased queries 0.200.)

Text outside the corpus still tokenizes (into smaller pieces, via bytes); other tokenizer models raise.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence

import torch
from tqdm.auto import tqdm

from drama_models.pruning.arch import adapter_for
from drama_models.pruning.errors import PruningError

SUPPORTED_MODELS = ("BPE", "WordPiece", "Unigram")
TOKENIZER_KEEP_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
                        "chat_template.json")


def _backend_json(tokenizer) -> dict:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise PruningError("--vocab-from needs a fast (tokenizers-backed) tokenizer; this one is slow/sentencepiece")
    data = json.loads(backend.to_str())
    kind = data.get("model", {}).get("type")
    if kind not in SUPPORTED_MODELS:
        raise PruningError(
            f"--vocab-from: tokenizer model {kind!r} is not supported (supported: {', '.join(SUPPORTED_MODELS)})"
        )
    return data


def check_tokenizer(tokenizer) -> None:
    """Raise :class:`PruningError` now if the tokenizer cannot be vocabulary-pruned (called before any work)."""
    _backend_json(tokenizer)


def _encode_tokens(backend, texts: Sequence[str], batch_size: int = 256, progress: bool = False) -> list[list[int]]:
    out: list[list[int]] = []
    for start in tqdm(range(0, len(texts), batch_size), desc="tokenize corpus", disable=not progress, leave=False):
        out.extend(e.ids for e in backend.encode_batch(list(texts[start : start + batch_size]), add_special_tokens=False))
    return out


def is_lower_case(texts: Sequence[str]) -> bool:
    """True when no text changes when lower-cased and some text has cased letters (a collection lower-cased
    upstream; a collection in a script without case, Chinese, is not)."""
    return all(t == t.lower() for t in texts) and any(t != t.upper() for t in texts)


def case_variants(texts: Sequence[str], line_words: int = 64) -> list[str]:
    """Texts that spell every word of ``texts`` in lower case, Capitalised and UPPER CASE, each form once at the
    start of a text and once after a space (SentencePiece-style tokenizers mark a word that follows a space).
    Words are the whitespace-separated strings; the result holds a text per word form plus lines of
    ``line_words`` forms joined by spaces."""
    words: set[str] = set()
    for text in texts:
        words.update(text.split())
    forms = sorted({f for w in words for f in (w.lower(), w.capitalize(), w.upper())} - words)
    lines = [" ".join(forms[i : i + line_words]) for i in range(0, len(forms), line_words)]
    return forms + lines


def _walk_post_processor(node, on_id):
    """Call ``on_id(old) -> new`` on every token id inside a post-processor description (in place)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "ids" and isinstance(value, list):
                node[key] = [on_id(i) for i in value]
            elif key in ("sep", "cls") and isinstance(value, list) and len(value) == 2 and isinstance(value[1], int):
                node[key] = [value[0], on_id(value[1])]
            else:
                _walk_post_processor(value, on_id)
    elif isinstance(node, list):
        for item in node:
            _walk_post_processor(item, on_id)


def _merge_pair(merge) -> tuple[str, str]:
    if isinstance(merge, str):
        a, b = merge.split(" ", 1)
        return a, b
    return merge[0], merge[1]


def variant_texts(texts: Sequence[str], case_forms: bool = True) -> list[str]:
    """The :func:`case_variants` whose tokens are kept besides those of ``texts``: none without ``case_forms``
    or for a lower-case collection (its tokenizer lower-cases its input instead)."""
    return case_variants(texts) if case_forms and not is_lower_case(texts) else []


def plan_vocabulary(tokenizer, texts: Sequence[str], progress: bool = True, case_forms: bool = True,
                    variants: Sequence[str] | None = None) -> tuple[list[int], dict, dict]:
    """Decide which token ids to keep: those of ``texts`` and, with ``case_forms``, of :func:`variant_texts`
    (``variants``: those texts when the caller has them already). Returns ``(kept_ids sorted, new tokenizer
    JSON, info)``."""
    data = _backend_json(tokenizer)
    model = data["model"]
    kind = model["type"]
    backend = tokenizer.backend_tokenizer
    id_to_token = {i: t for t, i in backend.get_vocab(with_added_tokens=True).items()}
    token_to_id = {t: i for i, t in id_to_token.items()}

    used: set[int] = set()
    for ids in _encode_tokens(backend, texts, progress=progress):
        used.update(ids)
    lowercase = is_lower_case(texts)
    if lowercase:
        data["normalizer"] = ({"type": "Lowercase"} if not data.get("normalizer") else
                              {"type": "Sequence", "normalizers": [{"type": "Lowercase"}, data["normalizer"]]})
    if variants is None:
        variants = variant_texts(texts, case_forms)
    case_only: set[int] = set()
    for ids in _encode_tokens(backend, variants):
        case_only.update(ids)
    case_only -= used
    keep = used | case_only
    special = set(i for i in tokenizer.all_special_ids if i is not None)
    template = tokenizer.chat_template if isinstance(getattr(tokenizer, "chat_template", None), str) else ""
    for added in data.get("added_tokens", []):
        if added["content"] in template:
            special.add(added["id"])
    _walk_post_processor(data.get("post_processor"), lambda i: special.add(i) or i)
    keep |= special
    fallback = set()
    if model.get("byte_fallback"):
        fallback |= {token_to_id[f"<0x{b:02X}>"] for b in range(256) if f"<0x{b:02X}>" in token_to_id}
    if "ByteLevel" in json.dumps(data.get("pre_tokenizer")):
        from tokenizers import pre_tokenizers

        fallback |= {token_to_id[c] for c in pre_tokenizers.ByteLevel.alphabet() if c in token_to_id}
    if model.get("unk_token") in token_to_id:
        fallback.add(token_to_id[model["unk_token"]])
    keep |= fallback

    closure_added = 0
    if kind == "BPE":
        prefix = model.get("continuing_subword_prefix") or ""
        suffix = model.get("end_of_word_suffix") or ""
        producers: dict[str, list[tuple[str, str]]] = {}
        pairs = [_merge_pair(m) for m in model["merges"]]
        for a, b in pairs:
            right = b[len(prefix):] if prefix and b.startswith(prefix) else b
            left = a[: -len(suffix)] if suffix and a.endswith(suffix) else a
            producers.setdefault(left + right, []).append((a, b))
        stack = [id_to_token[i] for i in keep if i in id_to_token]
        kept_tokens = set(stack)
        while stack:
            token = stack.pop()
            for a, b in producers.get(token, ()):
                for part in (a, b):
                    if part not in kept_tokens and part in token_to_id:
                        kept_tokens.add(part)
                        keep.add(token_to_id[part])
                        stack.append(part)
                        closure_added += 1
        model["merges"] = [
            [a, b] for (a, b), m in zip(pairs, model["merges"])
            if a in kept_tokens and b in kept_tokens
            and ((a[: -len(suffix)] if suffix and a.endswith(suffix) else a)
                 + (b[len(prefix):] if prefix and b.startswith(prefix) else b)) in kept_tokens
        ]

    kept_ids = sorted(keep)
    new_id = {old: new for new, old in enumerate(kept_ids)}
    if kind in ("BPE", "WordPiece"):
        model["vocab"] = {t: new_id[i] for t, i in model["vocab"].items() if i in new_id}
    else:  # Unigram: a list of [piece, score] whose index is the id
        model["vocab"] = [piece for i, piece in enumerate(model["vocab"]) if i in new_id]
        if model.get("unk_id") is not None:
            model["unk_id"] = new_id[model["unk_id"]]
    data["added_tokens"] = [dict(t, id=new_id[t["id"]]) for t in data.get("added_tokens", []) if t["id"] in new_id]
    _walk_post_processor(data.get("post_processor"), lambda i: new_id[i])
    info = {
        "source_vocab": len(id_to_token),
        "kept": len(kept_ids),
        "used_by_corpus": len(used),
        "case_forms": len(case_only),
        "lowercase": lowercase,
        "special": len(special - used - case_only),
        "fallback": len(fallback - used - case_only - special),
        "merge_closure": closure_added,
        "corpus_texts": len(texts),
    }
    return kept_ids, data, info


def _normalizer_json(tokenizer) -> dict | None:
    """The tokenizer's normalizer as tokenizer.json spells it (serialised alone, not the whole vocabulary)."""
    normalizer = tokenizer.backend_tokenizer.normalizer
    return None if normalizer is None else json.loads(normalizer.__getstate__())


def rebuild_tokenizer(tokenizer, data: dict):
    """A tokenizer of the same class and settings as ``tokenizer`` over the rewritten ``tokenizer.json``."""
    from transformers import AutoTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        tokenizer.save_pretrained(tmp)
        for name in os.listdir(tmp):  # sentencepiece / vocab files would describe the old vocabulary
            if name not in TOKENIZER_KEEP_FILES:
                path = os.path.join(tmp, name)
                shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
        with open(os.path.join(tmp, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False)
        cfg_path = os.path.join(tmp, "tokenizer_config.json")
        if os.path.exists(cfg_path):
            with open(cfg_path, encoding="utf-8") as f:
                cfg = json.load(f)
            cfg.pop("added_tokens_decoder", None)  # ids changed; tokenizer.json carries the added tokens
            if data.get("normalizer") != _normalizer_json(tokenizer):
                # classes such as transformers' GemmaTokenizer build their own normalizer; the generic class
                # reads tokenizer.json as it is
                cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
            with open(cfg_path, "w", encoding="utf-8") as f:
                json.dump(cfg, f, ensure_ascii=False, indent=2)
        return AutoTokenizer.from_pretrained(tmp)


def verify_same_tokens(old_tok, new_tok, texts: Sequence[str], progress: bool = True) -> None:
    """Raise ``RuntimeError`` unless both tokenizers split every text into the same token strings."""
    old_b, new_b = old_tok.backend_tokenizer, new_tok.backend_tokenizer
    for start in tqdm(range(0, len(texts), 256), desc="verify tokenization", disable=not progress, leave=False):
        chunk = list(texts[start : start + 256])
        for special in (False, True):
            olds = old_b.encode_batch(chunk, add_special_tokens=special)
            news = new_b.encode_batch(chunk, add_special_tokens=special)
            for k, (o, n) in enumerate(zip(olds, news)):
                if o.tokens != n.tokens:
                    raise RuntimeError(
                        f"vocabulary pruning changed the tokenization of corpus text #{start + k}: "
                        f"{o.tokens[:20]} vs {n.tokens[:20]}"
                    )


def _remap_token_id(value, new_id: dict[int, int]):
    if isinstance(value, int):
        return new_id.get(value)
    if isinstance(value, list):
        return [new_id[v] for v in value if v in new_id]
    return value


@torch.no_grad()
def prune_vocabulary(model, tokenizer, texts: Sequence[str], progress: bool = True, case_forms: bool = True):
    """Keep the corpus' tokens, with ``case_forms`` those of its words in other casings too (see the module
    docstring). Returns ``(model, new_tokenizer, info)``.

    ``model`` is changed in place (embedding rows, untied LM head rows, config / generation config token ids).
    """
    if not texts:
        raise PruningError("--vocab-from: the corpus is empty")
    a = adapter_for(model.config)
    variants = variant_texts(texts, case_forms)
    kept_ids, data, info = plan_vocabulary(tokenizer, texts, progress, variants=variants)
    new_tok = rebuild_tokenizer(tokenizer, data)
    verify_same_tokens(tokenizer, new_tok, list(texts) + variants, progress)
    new_id = {old: new for new, old in enumerate(kept_ids)}
    index = torch.tensor(kept_ids, dtype=torch.long)

    embed = a.embed(model)
    index = index.to(embed.weight.device)
    tied = a.tied(model)
    head = a.lm_head(model)
    if len(kept_ids) > embed.weight.shape[0] or kept_ids[-1] >= embed.weight.shape[0]:
        raise PruningError(f"--vocab-from: the tokenizer has ids beyond the model's {embed.weight.shape[0]} embeddings")
    embed.weight = torch.nn.Parameter(embed.weight[index].clone(), requires_grad=embed.weight.requires_grad)
    embed.num_embeddings = len(kept_ids)
    if embed.padding_idx is not None:
        embed.padding_idx = new_id.get(embed.padding_idx)
    if head is not None:
        if tied:
            head.weight = embed.weight
        else:
            head.weight = torch.nn.Parameter(head.weight[index].clone(), requires_grad=head.weight.requires_grad)
            if head.bias is not None:
                head.bias = torch.nn.Parameter(head.bias[index].clone())
        head.out_features = len(kept_ids)
    model.config.vocab_size = len(kept_ids)
    for obj in (model, a.base(model)):
        if hasattr(obj, "vocab_size"):
            obj.vocab_size = len(kept_ids)
    for cfg in (model.config, getattr(model, "generation_config", None)):
        if cfg is None:
            continue
        for key in ("bos_token_id", "eos_token_id", "pad_token_id", "unk_token_id", "decoder_start_token_id"):
            if getattr(cfg, key, None) is not None:
                setattr(cfg, key, _remap_token_id(getattr(cfg, key), new_id))
    info["kept_ids"] = kept_ids
    return model, new_tok, info
