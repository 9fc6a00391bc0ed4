"""Recipes: the whole DRAMA method as one command (``drama-models recipe run recipes/NAME.yaml``).

A *flow recipe* is a YAML file with a ``stages:`` mapping (training configs such as ``recipes/drama-0.1b.yaml``
have none and go to ``drama-models train --config``). Data flow of a run:

- :mod:`.schema`   reads and checks the file (unknown stage / option, wrong type -> one error naming the key);
- :mod:`.stage_registry` kind -> stage adapter; :mod:`.stages` registers the built-in ones (importing this
                   package does), :func:`~.stage_registry.register_stage` adds another;
- :mod:`.stages`   one small adapter per stage kind, each calling the existing Python API
                   (generate/crop/crosslingual/rerank -> ``drama_data.api.run_generate``, mine ->
                   ``drama_data.mining.mine.mine``, build -> ``drama_data.build.build``, prune/pretrain ->
                   ``drama_models.pruning``, train -> ``drama_models.training.trainer.train``, evaluate ->
                   ``drama_models.evaluation.evaluate``);
- :mod:`.runner`   runs the stages in order in a run folder (one subfolder per stage), skips complete ones
                   (completion marker with a fingerprint of options and inputs), resumes interrupted ones;
- :mod:`.manifest` the run manifest (``manifest.json``) and its readable summary (``summary.md``);
- :mod:`.plan`     ``--dry-run``: stages, equivalent commands, expected LLM requests / tokens, GPUs.
"""
from __future__ import annotations

from drama_models.recipes import stages  # noqa: F401  (registers the built-in stage kinds: .stage_registry)
