"""Single-stage contrastive training of DRAMA encoders (InfoNCE, Matryoshka, GradCache, DDP/FSDP).

Entry points: :func:`drama_models.training.trainer.train` with a
:class:`drama_models.training.config.TrainConfig`, or ``drama-models train --config recipes/<x>.yaml``.

Layout: ``loop.py`` is the one training loop (steps, schedule, log, checkpoints, RNG, resume) that contrastive
training (``trainer.py``: :class:`~drama_models.training.trainer.ContrastiveObjective`) and continued pretraining
(``drama_models/pruning/pretrain.py``: ``LanguageModelling``) plug an objective into; ``distributed.py`` holds
everything multi-process; ``losses.py`` the contrastive losses, ``gradcache.py`` GradCache; ``config.py`` the
settings and ``options.py`` their one reading for the CLI flags and the recipe stage.
"""
