"""Tiny random models for tests, built offline from a transformers config and a tokenizer trained on the fly.

``tiny_tokenizer()`` trains a small byte-level BPE with ``<bos>``, ``<eos>``, ``<pad>`` and ``<unk>`` and a
minimal chat template; ``tiny_model_dir(family, path)`` writes a random model of that family (``llama``,
``qwen2``, ``gemma3``) with grouped-query attention and head_dim 64 (vLLM's CPU attention needs >= 64).
"""
from __future__ import annotations

from pathlib import Path

SAMPLE_TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "Dense retrieval maps queries and passages into one vector space.",
    "Large language models generate synthetic queries for training retrievers.",
    "Photosynthesis converts light energy into chemical energy in plants.",
    "Mount Everest is the highest mountain above sea level.",
    "Die Katze sitzt auf der Matte. Der Hund schläft im Garten.",
    "猫坐在垫子上。狗在花园里睡觉。",
    "Query: what is dense retrieval? Passage: a passage about vectors.",
    "Task: find evidence. Query: does aspirin reduce fever? Language: English",
    "[1] > [2] > [3] I will provide you with 3 passages, each indicated by number identifier [].",
] * 20

CHAT_TEMPLATE = (
    "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}</{{ m['role'] }}>\n{% endfor %}"
    "{% if add_generation_prompt %}<assistant>{% endif %}"
)


def tiny_tokenizer(vocab_size: int = 512, texts: list[str] | None = None, chat_template: bool = True):
    """Train a byte-level BPE tokenizer on ``texts`` and wrap it as a ``PreTrainedTokenizerFast``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<pad>", "<bos>", "<eos>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts or SAMPLE_TEXTS, trainer=trainer)
    bos = tok.token_to_id("<bos>")
    tok.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A <bos> $B", special_tokens=[("<bos>", bos)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>", unk_token="<unk>"
    )
    if chat_template:
        fast.chat_template = CHAT_TEMPLATE
    return fast


def tiny_config(family: str, vocab_size: int, **overrides):
    """A transformers config of ``family`` with 2 layers, 4 query heads over 2 KV heads, head_dim 64."""
    import transformers

    common = dict(
        vocab_size=vocab_size,
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=64,
        max_position_embeddings=512,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
        tie_word_embeddings=True,
    )
    common.update(overrides)
    if family == "llama":
        return transformers.LlamaConfig(**common)
    if family == "qwen2":
        return transformers.Qwen2Config(**common)
    if family == "gemma3":
        common.setdefault("sliding_window", 64)
        return transformers.Gemma3TextConfig(**common)
    raise ValueError(f"unknown family {family!r}")


def tiny_model_dir(path: str | Path, family: str = "llama", seed: int = 0, tokenizer=None, **overrides) -> Path:
    """Save a random tiny ``family`` causal LM plus tokenizer into ``path`` and return it."""
    import torch
    from transformers import AutoModelForCausalLM

    path = Path(path)
    tokenizer = tokenizer or tiny_tokenizer()
    cfg = tiny_config(family, vocab_size=len(tokenizer), **overrides)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(cfg)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


# ---------------------------------------------------------------------------------------------------------------
# Retrieval data for encoder tests (drama_models): Tevatron-format rows and a held-out set built from scifact.


def scifact_texts(data_root) -> tuple[dict, dict, dict]:
    """scifact's corpus ``{id: "title text"}``, queries ``{id: text}`` and qrels ``{split: {qid: [docids]}}``."""
    import gzip
    import json
    from pathlib import Path

    root = Path(data_root) / "scifact"
    corpus = {}
    with gzip.open(root / "corpus.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            corpus[row["_id"]] = (row.get("title", "") + " " + row["text"]).strip()
    queries = {}
    with open(root / "queries.jsonl", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            queries[row["_id"]] = row["text"]
    qrels = {}
    for split in ("train", "test"):
        qrels[split] = {}
        with open(root / "qrels" / f"{split}.tsv", encoding="utf-8") as f:
            next(f)
            for line in f:
                qid, did, score = line.rstrip("\n").split("\t")
                if int(score) > 0:
                    qrels[split].setdefault(qid, []).append(did)
    return corpus, queries, qrels


def scifact_training_rows(data_root, n_queries: int | None = None, n_negatives: int = 7, seed: int = 0,
                          passage_chars: int = 600) -> list[dict]:
    """Tevatron rows from scifact's *train* qrels: positives = judged docs, negatives = BM25 hits ranked 3-30 that
    are not judged (bm25s, mined here); passages cut to ``passage_chars`` characters to keep tests fast."""
    import random

    from drama_data.chunking import Passage
    from drama_data.mining.bm25 import BM25sRetriever

    corpus, queries, qrels = scifact_texts(data_root)
    qids = sorted(qrels["train"], key=int)
    random.Random(seed).shuffle(qids)
    qids = qids[:n_queries] if n_queries else qids
    bm25 = BM25sRetriever("en", progress=False)
    bm25.index([Passage(d, d, 0, "", text) for d, text in corpus.items()])
    hits = bm25.search([queries[q] for q in qids], 30)
    rows = []
    for q, q_hits in zip(qids, hits):
        ranked_ids = [d for d, _ in q_hits]
        negs = [d for d in ranked_ids[2:] if d not in qrels["train"][q]][:n_negatives]
        rows.append({
            "query_id": q,
            "query": queries[q],
            "positive_passages": [{"docid": d, "title": "", "text": corpus[d][:passage_chars]} for d in qrels["train"][q]],
            "negative_passages": [{"docid": d, "title": "", "text": corpus[d][:passage_chars]} for d in negs],
        })
    return rows


def scifact_heldout(data_root, out_dir, n_distractors: int = 700, seed: int = 0, passage_chars: int = 600):
    """A small BEIR folder for held-out evaluation: scifact's *test* queries, their judged docs plus
    ``n_distractors`` random others (texts cut to ``passage_chars``). Returns the folder."""
    import json
    import random
    from pathlib import Path

    corpus, queries, qrels = scifact_texts(data_root)
    out = Path(out_dir)
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    judged = sorted({d for docs in qrels["test"].values() for d in docs})
    others = sorted(set(corpus) - set(judged))
    keep = judged + random.Random(seed).sample(others, n_distractors)
    with open(out / "corpus.jsonl", "w", encoding="utf-8") as f:
        for d in keep:
            f.write(json.dumps({"_id": d, "title": "", "text": corpus[d][:passage_chars]}) + "\n")
    with open(out / "queries.jsonl", "w", encoding="utf-8") as f:
        for q in qrels["test"]:
            f.write(json.dumps({"_id": q, "text": queries[q]}) + "\n")
    with open(out / "qrels" / "test.tsv", "w", encoding="utf-8") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for q, docs in qrels["test"].items():
            for d in docs:
                f.write(f"{q}\t{d}\t1\n")
    return out


PRUNING_FAMILIES = ("llama", "qwen2", "gemma3")


def tiny_causal_lm(family: str = "llama", seed: int = 0, vocab_size: int | None = None, **overrides):
    """A random fp32 causal LM in eval mode (for the pruning tests): 4 layers, 4 query heads over 2 KV heads
    (head_dim 64), hidden 128, FFN 256; Gemma3 alternates sliding (window 8) and full attention layers.
    Norm weights and biases are perturbed so that mistakes in folding them show up."""
    import torch
    from transformers import AutoModelForCausalLM

    params = dict(num_hidden_layers=4)
    params.update(overrides)
    if family == "gemma3":
        n = params["num_hidden_layers"]
        params.setdefault("sliding_window", 8)
        params.setdefault("layer_types", (["sliding_attention", "full_attention"] * n)[:n])
    torch.manual_seed(seed)
    cfg = tiny_config(family, vocab_size=vocab_size or 512, **params)
    model = AutoModelForCausalLM.from_config(cfg).float().train(False)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name or name.endswith("bias"):
                p.add_(0.1 * torch.randn_like(p))
    return model


try:
    import pytest as _pytest

    @_pytest.fixture(autouse=False)
    def one_torch_thread():
        """Run a test with one intra-op thread, restoring the previous count after. Import it into a test module
        with ``autouse`` semantics by naming it in ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``.
        Tiny models gain nothing from two threads, and on a shared 2-core machine a busy second core stalls
        every small op at OpenMP's barrier."""
        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(before)
except ImportError:  # pytest not installed: the helpers above still work
    pass


def pruning_corpus_texts() -> list[str]:
    """200 short multi-sentence documents built from ``SAMPLE_TEXTS`` (numbered so that they differ)."""
    n = len(SAMPLE_TEXTS)
    return [f"{SAMPLE_TEXTS[i]} {SAMPLE_TEXTS[(i + 3) % n]} Item {i}." for i in range(n)]


def planted_model(family: str, vocab_size: int, head=(1, 3), neuron=(2, 7), channel=5, layer=3, seed: int = 0):
    """``tiny_causal_lm`` with planted dead parts: query head ``head=(layer, index)`` (its ``o_proj`` columns
    zeroed), FFN neuron ``neuron=(layer, index)`` (its ``up_proj`` row and ``down_proj`` column zeroed), hidden
    channel ``channel`` (zero in the embedding and in every write to the residual stream) and decoder layer
    ``layer`` (its ``o_proj`` and ``down_proj`` zeroed, so it adds nothing)."""
    import torch

    model = tiny_causal_lm(family, seed=seed, vocab_size=vocab_size, tie_word_embeddings=False)
    base = model.model
    hd = model.config.head_dim
    with torch.no_grad():
        base.layers[head[0]].self_attn.o_proj.weight[:, head[1] * hd : (head[1] + 1) * hd] = 0
        base.layers[neuron[0]].mlp.up_proj.weight[neuron[1]] = 0
        base.layers[neuron[0]].mlp.down_proj.weight[:, neuron[1]] = 0
        base.embed_tokens.weight[:, channel] = 0
        for block in base.layers:
            block.self_attn.o_proj.weight[channel] = 0
            block.mlp.down_proj.weight[channel] = 0
        base.layers[layer].self_attn.o_proj.weight.zero_()
        base.layers[layer].mlp.down_proj.weight.zero_()
    return model
