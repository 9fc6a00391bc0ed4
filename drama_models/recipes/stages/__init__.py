"""Stage adapters by kind (see :mod:`.base` for the interface). Order of the data flow:
queries / crop / crosslingual -> mine -> rerank -> build -> prune -> pretrain -> train -> evaluate."""
from __future__ import annotations

from drama_models.recipes import stage_registry
from drama_models.recipes.stage_registry import register_stage
from drama_models.recipes.stages.base import RunContext, Stage
from drama_models.recipes.stages.build import BuildStage
from drama_models.recipes.stages.evaluate import EvaluateStage
from drama_models.recipes.stages.generate import CropStage, CrosslingualStage, GenerateStage
from drama_models.recipes.stages.long_context import LongContextStage
from drama_models.recipes.stages.mine import MineStage
from drama_models.recipes.stages.prune import PretrainStage, PruneStage
from drama_models.recipes.stages.rerank import RerankStage
from drama_models.recipes.stages.train import TrainStage

for _stage in (GenerateStage, CropStage, CrosslingualStage, MineStage, RerankStage, BuildStage, PruneStage,
               PretrainStage, TrainStage, EvaluateStage, LongContextStage):  # one registration each, in flow order
    register_stage(_stage)
STAGE_TYPES: dict[str, type[Stage]] = stage_registry.STAGE_TYPES  # the registry, under its old name

__all__ = ["STAGE_TYPES", "RunContext", "Stage", "register_stage"]
