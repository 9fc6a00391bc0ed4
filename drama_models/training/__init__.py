"""Single-stage contrastive training of DRAMA encoders (InfoNCE, Matryoshka, GradCache, DDP/FSDP).

Entry points: :func:`drama_models.training.trainer.train` with a
:class:`drama_models.training.config.TrainConfig`, or ``drama-models train --config recipes/<x>.yaml``.
"""
