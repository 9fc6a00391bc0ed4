"""Sheared-LLaMA targeted structured pruning: learn hard-concrete masks toward a target shape.

Xia, Gao, Zeng & Chen 2024, "Sheared LLaMA: Accelerating Language Model Pre-training via Structured Pruning"
(the method DRAMA uses to prune Llama-3.2-1B to 0.1B / 0.3B):

- masks over layers ``z_layer [L]``, heads ``z_head [L, H]``, FFN neurons ``z_int [L, F]`` and hidden channels
  ``z_hidden [D]`` are hard-concrete gates (``hard_concrete.py``), applied to the unpruned model by
  ``masked.py``;
- for each structure type with expected kept fraction ``s`` and target fraction ``t`` the Lagrangian term is
  ``lambda_1 (s - t) + lambda_2 (s - t)^2``; the masks (and, by default, the weights) minimise
  ``LM loss + sum of terms`` while the ``lambda``'s *maximise* it (gradient ascent), which drives the expected
  shape onto the target;
- the target is reached gradually: ``t`` goes linearly from the full size to the target over the first
  ``warmup_fraction`` of the steps (Sheared-LLaMA's Lagrangian warm-up);
- at the end the shape is made exact deterministically: per structure the top-``k`` gates by ``log_alpha``
  are kept (``plan.PruningPlan.from_scores``; heads grouped by KV head), and the model is sliced
  (``slicing.py``).

Optional warm start (our addition, off by default): ``init_scores`` spreads the initial ``log_alpha`` by an
importance ranking (e.g. Minitron's activations), so a short run starts from a sensible ranking instead of a
uniform one. Learning rates: Sheared-LLaMA uses 1e-4 for the weights and 1.0 for masks and multipliers over 3,200
steps (0.4B tokens); our defaults (0.05 for masks and multipliers) are a choice for much shorter runs. Kept
structures are sliced at full scale by default; ``fold_scales=True`` folds the deterministic gate values into
the weights instead (as Sheared-LLaMA's ``prune_params`` does), which only helps once the gates have converged.
Input: a causal LM, LM blocks (``lm_data.py``) and the resolved target :class:`Shape`. Output:
:class:`ShearedResult` (plan, optional scales, per-step history).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from drama_models.pruning.hard_concrete import HardConcrete
from drama_models.pruning.masked import MaskedModel, MaskSet
from drama_models.pruning.plan import PruningPlan, Scores
from drama_models.pruning.report import lm_loss
from drama_models.pruning.targets import Shape

TRAIN_WEIGHTS = ("all", "non-embedding", "none")
STRUCTURES = ("layer", "head", "ffn", "hidden")


@dataclass
class ShearedSettings:
    steps: int = 100
    batch_size: int = 4
    mask_lr: float = 0.05
    lambda_lr: float = 0.05
    weight_lr: float = 1e-4
    warmup_fraction: float = 0.5
    droprate_init: float = 0.5
    train_weights: str = "all"
    fold_scales: bool = False
    init_spread: float = 2.0  # with warm-start scores: log_alpha = mean +/- spread by importance rank
    seed: int = 0


@dataclass
class ShearedResult:
    plan: PruningPlan
    scales: MaskSet | None
    history: list[dict] = field(default_factory=list)


class ShearedMasks(torch.nn.Module):
    """The four gate tensors plus the Lagrange multipliers (``lambdas[structure] = (lambda_1, lambda_2)``)."""

    def __init__(self, source: Shape, target: Shape, droprate_init: float, generator: torch.Generator):
        super().__init__()
        s = source
        self.source, self.target = source, target
        shapes = {"layer": (s.layers,), "head": (s.layers, s.heads), "ffn": (s.layers, s.ffn), "hidden": (s.hidden,)}
        self.gates = torch.nn.ModuleDict(
            {k: HardConcrete(shape, droprate_init, generator=generator) for k, shape in shapes.items()}
        )
        self.lambdas = torch.nn.Parameter(torch.zeros(len(STRUCTURES), 2))
        self.final = {
            "layer": target.layers / s.layers,
            "head": target.heads / s.heads,
            "ffn": target.ffn / s.ffn,
            "hidden": target.hidden / s.hidden,
        }

    @torch.no_grad()
    def warm_start(self, scores: Scores, spread: float) -> None:
        """Spread each gate's ``log_alpha`` by the rank of an importance score (per layer for heads and FFN):
        the most important gets ``mean + spread``, the least ``mean - spread``."""
        def ranks(x: torch.Tensor) -> torch.Tensor:
            flat = x.reshape(-1, x.shape[-1]).double()
            r = flat.argsort(dim=-1, stable=True).argsort(dim=-1).double() / max(flat.shape[-1] - 1, 1)
            return r.reshape(x.shape)

        for name, value in (("layer", scores.layer), ("head", scores.head), ("ffn", scores.ffn), ("hidden", scores.hidden)):
            la = self.gates[name].log_alpha
            la.copy_((la.mean() + spread * (2 * ranks(value) - 1)).to(la))

    def sample(self, generator=None) -> MaskSet:
        return MaskSet(**{k: g.sample(generator) for k, g in self.gates.items()})

    def expected(self) -> dict[str, torch.Tensor]:
        """Expected kept fraction per structure type."""
        return {k: g.prob_nonzero().mean() for k, g in self.gates.items()}

    def lagrangian(self, progress: float) -> tuple[torch.Tensor, dict[str, float]]:
        """Sum of ``lambda_1 (s - t) + lambda_2 (s - t)^2``; ``progress`` in [0, 1] of the warm-up."""
        total = torch.zeros((), device=self.lambdas.device)
        log = {}
        for i, (k, s) in enumerate(self.expected().items()):
            t = 1.0 - (1.0 - self.final[k]) * min(1.0, progress)
            gap = s - t
            total = total + self.lambdas[i, 0] * gap + self.lambdas[i, 1] * gap.pow(2)
            log[f"expected_{k}"] = float(s.detach())
            log[f"target_{k}"] = t
        return total, log

    def scores(self) -> Scores:
        la = {k: g.log_alpha.detach().cpu() for k, g in self.gates.items()}
        return Scores(layer=la["layer"], hidden=la["hidden"], head=la["head"], ffn=la["ffn"])

    def deterministic(self) -> MaskSet:
        return MaskSet(**{k: g.deterministic().detach().cpu() for k, g in self.gates.items()})


def _weight_params(model, mode: str) -> list[torch.nn.Parameter]:
    if mode not in TRAIN_WEIGHTS:
        raise ValueError(f"train_weights must be one of {TRAIN_WEIGHTS}, got {mode!r}")
    if mode == "none":
        return []
    skip = set()
    if mode == "non-embedding":
        skip.add(id(model.get_input_embeddings().weight))
        head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
        if head is not None:
            skip.add(id(head.weight))
    return [p for p in model.parameters() if id(p) not in skip]


def sheared_prune(
    model, blocks: torch.Tensor, target: Shape, settings: ShearedSettings | None = None, progress: bool = True,
    init_scores: Scores | None = None,
) -> ShearedResult:
    """Train Sheared-LLaMA masks on ``blocks`` (weights too, per ``settings.train_weights``) and return the plan.

    ``init_scores`` (optional, not in Sheared-LLaMA): warm-start the gates from an importance ranking
    (:meth:`ShearedMasks.warm_start`), useful when only a few steps are affordable.
    ``model`` is modified in place when weights are trained; slice it afterwards with ``slicing.slice_model``.
    """
    st = settings or ShearedSettings()
    if st.steps < 1:
        raise ValueError("sheared pruning needs steps >= 1")
    if len(blocks) < st.batch_size:
        raise ValueError(f"sheared pruning needs at least batch_size={st.batch_size} blocks, got {len(blocks)}")
    source = Shape.from_config(model.config)
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(st.seed)
    masks = ShearedMasks(source, target, st.droprate_init, gen)
    if init_scores is not None:
        masks.warm_start(init_scores, st.init_spread)
    masks = masks.to(device)
    weights = _weight_params(model, st.train_weights)
    trainable = {id(p) for p in weights}
    flags = [(p, p.requires_grad) for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(id(p) in trainable)
    groups = [{"params": [g.log_alpha for g in masks.gates.values()], "lr": st.mask_lr, "weight_decay": 0.0}]
    if weights:
        groups.append({"params": weights, "lr": st.weight_lr, "weight_decay": 0.0})
    opt = torch.optim.AdamW(groups)
    lag_opt = torch.optim.AdamW([masks.lambdas], lr=st.lambda_lr, weight_decay=0.0)
    warmup = max(1, int(st.steps * st.warmup_fraction))
    order = torch.randperm(len(blocks), generator=gen)
    history: list[dict] = []
    model.train()
    pos = 0
    try:
        with MaskedModel(model) as mm:
            bar = tqdm(range(st.steps), desc="sheared masks", disable=not progress)
            for step in bar:
                if pos + st.batch_size > len(order):
                    order, pos = torch.randperm(len(blocks), generator=gen), 0
                batch = blocks[order[pos : pos + st.batch_size]].to(device)
                pos += st.batch_size
                mm.masks = masks.sample(gen)
                loss = lm_loss(model, batch)
                lag, log = masks.lagrangian((step + 1) / warmup)
                opt.zero_grad(set_to_none=True)
                lag_opt.zero_grad(set_to_none=True)
                (loss + lag).backward()
                masks.lambdas.grad.neg_()  # the multipliers ascend
                opt.step()
                lag_opt.step()
                row = {"step": step + 1, "lm_loss": float(loss.detach()), "lagrangian": float(lag.detach()), **log}
                history.append(row)
                bar.set_postfix(lm=f"{row['lm_loss']:.3f}", lag=f"{row['lagrangian']:.3f}")
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
        model.train(False)  # inference mode (nn.Module.eval)
    plan = PruningPlan.from_scores(masks.scores(), source, target)
    scales = None
    if st.fold_scales:
        scales = masks.deterministic()
        keep = plan.to_masks()
        for name, value in scales.items():  # dropped parts are sliced away; kept parts keep their gate value
            value.copy_(torch.where(getattr(keep, name) > 0, value, torch.zeros_like(value)))
    return ShearedResult(plan=plan, scales=scales, history=history)
