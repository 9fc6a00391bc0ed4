"""Hard-concrete gates: a differentiable relaxation of L0 (on/off) masks.

Louizos, Welling & Kingma 2018, "Learning Sparse Neural Networks through L0 Regularization"; the
constants are theirs and Sheared-LLaMA's (Xia et al. 2024, whose ``l0_module.py`` follows CoFi, Xia et al. 2022):
temperature ``beta = 2/3``, stretch interval ``(l, r) = (-0.1, 1.1)``, ``log_alpha ~ N(log(1-d) - log(d), 0.01)``
with drop-rate at initialisation ``d`` (``droprate_init``, 0.5 in CoFi / Sheared-LLaMA).

- :meth:`HardConcrete.sample`: ``s = sigmoid((log u - log(1-u) + log_alpha) / beta)``, ``u ~ U(0,1)``;
  ``z = clamp(s (r - l) + l, 0, 1)`` - exact zeros and ones with positive probability, differentiable in between.
- :meth:`HardConcrete.prob_nonzero`: ``P(z > 0) = sigmoid(log_alpha - beta log(-l / r))``, the expected L0 norm
  per gate, used for the expected model size.
- :meth:`HardConcrete.deterministic`: ``clamp(sigmoid(log_alpha) (r - l) + l, 0, 1)`` (the paper's test-time gate).
"""
from __future__ import annotations

import math

import torch

BETA = 2.0 / 3.0
LIMIT_L = -0.1
LIMIT_R = 1.1
EPS = 1e-6


class HardConcrete(torch.nn.Module):
    """A tensor of independent hard-concrete gates of ``shape`` with learnable ``log_alpha``."""

    def __init__(self, shape, droprate_init: float = 0.5, beta: float = BETA, limit_l: float = LIMIT_L,
                 limit_r: float = LIMIT_R, generator: torch.Generator | None = None):
        super().__init__()
        if not 0.0 < droprate_init < 1.0:
            raise ValueError(f"droprate_init must be in (0, 1), got {droprate_init}")
        mean = math.log(1 - droprate_init) - math.log(droprate_init)
        init = mean + 0.01 * torch.randn(shape, generator=generator)
        self.log_alpha = torch.nn.Parameter(init)
        self.beta, self.limit_l, self.limit_r = beta, limit_l, limit_r

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        u = torch.rand(self.log_alpha.shape, generator=generator).to(self.log_alpha.device).clamp(EPS, 1 - EPS)
        s = torch.sigmoid((torch.log(u) - torch.log1p(-u) + self.log_alpha) / self.beta)
        return (s * (self.limit_r - self.limit_l) + self.limit_l).clamp(0.0, 1.0)

    def prob_nonzero(self) -> torch.Tensor:
        return torch.sigmoid(self.log_alpha - self.beta * math.log(-self.limit_l / self.limit_r))

    def deterministic(self) -> torch.Tensor:
        return (torch.sigmoid(self.log_alpha) * (self.limit_r - self.limit_l) + self.limit_l).clamp(0.0, 1.0)
