"""Long-context retrieval: LongEmbed's synthetic tasks and their evaluation, and RoPE context extension.

- :mod:`~drama_models.long_context.tasks`: Passkey and Needle built locally, deterministically per seed, at any
  length (256 ... 8k tokens), answers planted at stated depths;
- :mod:`~drama_models.long_context.evaluate`: an encoder (whole documents up to its limit, truncation stated) and
  BM25 on them, nDCG@1 per length, a table next to the published rows (:mod:`~drama_models.long_context.paper`);
- RoPE context extension lives in :mod:`drama_models.rope` (``DramaEncoder.from_pretrained(rope_scaling=...)``).

The command line: ``drama-models evaluate --model M --long-context passkey,needle --lengths 512,2048,4096,8192``.
"""
