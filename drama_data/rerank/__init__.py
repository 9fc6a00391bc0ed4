"""Listwise LLM reranking (RankGPT-style prompt, sliding windows batched across queries), as in DRAMA Sec. 3.3."""
