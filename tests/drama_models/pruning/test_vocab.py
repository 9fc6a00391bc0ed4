"""Vocabulary pruning keeps the corpus tokenization (same token strings) and maps embeddings row by row."""
from __future__ import annotations

import copy

import pytest
import torch
from tiny_models import SAMPLE_TEXTS, pruning_corpus_texts, tiny_causal_lm

from drama_models.pruning.errors import PruningError
from drama_models.pruning.vocab import plan_vocabulary, prune_vocabulary, rebuild_tokenizer, verify_same_tokens

ENGLISH = [t for t in pruning_corpus_texts() if "Katze" not in t and "猫" not in t][:40]
OTHER = ["Zebras quietly hum über 漢字 and Ünïcödé!", "Die Katze sitzt auf der Matte."]


@pytest.mark.parametrize("tied", [True, False])
def test_prune_vocabulary_keeps_tokens_and_rows(tokenizer, tied):
    model = tiny_causal_lm("llama", vocab_size=len(tokenizer), tie_word_embeddings=tied)
    old_model, old_tok = copy.deepcopy(model), tokenizer
    model, new_tok, info = prune_vocabulary(model, tokenizer, ENGLISH, progress=False)
    kept = info["kept_ids"]
    assert info["kept"] == len(kept) < len(old_tok) and model.config.vocab_size == len(kept) == len(new_tok)
    # same token strings on the corpus (prune_vocabulary verified it too), with and without special tokens
    for text in ENGLISH:
        assert new_tok.tokenize(text) == old_tok.tokenize(text)
        assert new_tok.convert_ids_to_tokens(new_tok(text).input_ids) == old_tok.convert_ids_to_tokens(old_tok(text).input_ids)
    # each kept token's embedding (and LM-head) row moved with it
    old_vocab, new_vocab = old_tok.get_vocab(), new_tok.get_vocab()
    for token, new_id in new_vocab.items():
        old_id = old_vocab[token]
        assert torch.equal(model.model.embed_tokens.weight[new_id], old_model.model.embed_tokens.weight[old_id])
        assert torch.equal(model.lm_head.weight[new_id], old_model.lm_head.weight[old_id])
    assert (model.lm_head.weight is model.model.embed_tokens.weight) == tied
    assert model.config.bos_token_id == new_tok.bos_token_id and new_tok.bos_token == old_tok.bos_token
    # the model computes the same logits over the kept vocabulary
    text = ENGLISH[3]
    with torch.no_grad():
        old_logits = old_model(old_tok(text, return_tensors="pt").input_ids).logits[..., kept]
        new_logits = model(new_tok(text, return_tensors="pt").input_ids).logits
    torch.testing.assert_close(new_logits, old_logits)
    # other text still tokenizes (byte-level fallback), without unknown tokens, and round-trips
    for text in OTHER:
        ids = new_tok(text, add_special_tokens=False).input_ids
        assert new_tok.unk_token_id not in ids and new_tok.decode(ids) == text


def _sentencepiece_like_bpe():
    """A Gemma-style BPE: Metaspace pre-tokenizer, byte fallback tokens <0x00>..<0xFF>."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    tok.normalizer = normalizers.Replace(" ", "▁")
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="never", split=False)
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    specials = ["<pad>", "<bos>", "<eos>", "<unk>"] + [f"<0x{b:02X}>" for b in range(256)]
    tok.train_from_iterator(SAMPLE_TEXTS, trainers.BpeTrainer(vocab_size=700, special_tokens=specials, show_progress=False))
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>",
                                   unk_token="<unk>")


def _wordpiece():
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(SAMPLE_TEXTS, trainers.WordPieceTrainer(vocab_size=400, special_tokens=["[UNK]", "[PAD]"],
                                                                     show_progress=False))
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]")


def _unigram():
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.train_from_iterator(SAMPLE_TEXTS, trainers.UnigramTrainer(vocab_size=300, special_tokens=["<unk>", "<pad>"],
                                                                   unk_token="<unk>", show_progress=False))
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>")


@pytest.mark.parametrize("build", [_sentencepiece_like_bpe, _wordpiece, _unigram])
def test_other_tokenizer_models_keep_tokenization(build):
    tok = build()
    kept, data, info = plan_vocabulary(tok, ENGLISH, progress=False)
    assert len(kept) < len(tok)
    new = rebuild_tokenizer(tok, data)
    verify_same_tokens(tok, new, ENGLISH, progress=False)
    if build is _sentencepiece_like_bpe:  # unseen characters fall back to kept byte tokens
        assert info["fallback"] > 0
        assert "<0xE6>" in new.tokenize("漢")


def test_unsupported_tokenizer_is_refused_before_work():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    word = Tokenizer(models.WordLevel({"a": 0, "<unk>": 1}, unk_token="<unk>"))
    word.pre_tokenizer = pre_tokenizers.Whitespace()
    with pytest.raises(PruningError, match="--vocab-from: tokenizer model 'WordLevel' is not supported"):
        plan_vocabulary(PreTrainedTokenizerFast(tokenizer_object=word), ["a"], progress=False)


@pytest.mark.parametrize("build", [_sentencepiece_like_bpe, _wordpiece, _unigram])
def test_words_keep_their_tokens_in_every_casing(build):
    """Queries spell the corpus' words in other casings: they tokenize as before pruning."""
    tok = build()
    words = sorted({w for t in ENGLISH for w in t.split()})
    queries = [" ".join(w.upper() for w in words[i : i + 8]) for i in range(0, len(words), 8)]
    queries += [w.capitalize() for w in words] + [w.lower() for w in words]
    kept, data, info = plan_vocabulary(tok, ENGLISH, progress=False)
    new = rebuild_tokenizer(tok, data)
    verify_same_tokens(tok, new, ENGLISH + queries, progress=False)
    assert info["case_forms"] > 0 and info["kept"] == len(kept) and not info["lowercase"]
    if build is _sentencepiece_like_bpe:  # without the case forms, upper-case words fall apart into bytes
        _, data, _ = plan_vocabulary(tok, ENGLISH, progress=False, case_forms=False)
        with pytest.raises(RuntimeError, match="changed the tokenization"):
            verify_same_tokens(tok, rebuild_tokenizer(tok, data), queries, progress=False)


@pytest.mark.parametrize("build", [_sentencepiece_like_bpe, _wordpiece, _unigram])
def test_a_lower_case_corpus_makes_a_lower_casing_tokenizer(build):
    """NPL: documents lower-cased upstream, queries in upper case. The pruned tokenizer lower-cases its input."""
    tok = build()
    lower = [t.lower() for t in ENGLISH]
    kept, data, info = plan_vocabulary(tok, lower, progress=False)
    new = rebuild_tokenizer(tok, data)
    assert info["lowercase"] and info["case_forms"] == 0
    verify_same_tokens(tok, new, lower, progress=False)
    for text in lower[:10]:
        assert new.tokenize(text.upper()) == new.tokenize(text.title()) == tok.tokenize(text)


def test_case_variants_spell_each_new_form_alone_and_after_a_space():
    from drama_models.pruning.vocab import case_variants

    out = case_variants(["the Cat sat", "the cat"], line_words=3)
    forms = {"The", "THE", "CAT", "Sat", "SAT"}  # "the", "Cat", "cat", "sat" are in the texts already
    assert set(out[:5]) == forms and len(out) == 7
    assert sorted(" ".join(out[5:]).split()) == sorted(forms)


def test_lower_casing_survives_a_tokenizer_class_with_its_own_normalizer():
    """transformers' GemmaTokenizer builds its normalizer in __init__ and would drop the Lowercase step of
    tokenizer.json: the rebuilt tokenizer is the generic class that reads tokenizer.json as it is."""
    import json

    from transformers import GemmaTokenizer

    model = json.loads(_sentencepiece_like_bpe().backend_tokenizer.to_str())["model"]
    tok = GemmaTokenizer(vocab=model["vocab"], merges=[tuple(m) for m in model["merges"]])
    lower = [t.lower() for t in ENGLISH]
    _, data, info = plan_vocabulary(tok, lower, progress=False)
    new = rebuild_tokenizer(tok, data)
    assert info["lowercase"] and type(new) is not GemmaTokenizer
    verify_same_tokens(tok, new, lower, progress=False)
    assert new.tokenize(lower[0].upper()) == tok.tokenize(lower[0])


def test_only_a_collection_with_cased_letters_counts_as_lower_case():
    from drama_models.pruning.vocab import is_lower_case

    assert is_lower_case(["compact memories", "an analogue computer 2"])
    assert not is_lower_case(["compact memories", "An analogue computer"])
    assert not is_lower_case(["长城是中国古代修建的", "12 34"])  # no case: nothing to lower-case
