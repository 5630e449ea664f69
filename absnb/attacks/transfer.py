"""Transfer attacks: adversarial directions from the substitute CNN, line-searched on the target.

As in the paper: for each test image, L2 BIM, L∞ BIM, FGSM and FGM on the substitute give
perturbations delta; for the target model we then search the smallest t with clip(x + t delta, 0, 1)
adversarial (a geometric grid refined by bisection). Each delta is scaled to a largest entry of 1, so
t is the largest pixel change before clipping; every direction is scored and the best kept per sample.
"""

from __future__ import annotations

import foolbox as fb
import torch
from torch import nn

from absnb.attacks.minimal import geometric_grid, smallest_epsilon
from absnb.profiles import AttackBudget

# The substitute attacks and the epsilon each runs at (its norm's Table 1 threshold, doubled for L2).
DIRECTION_ATTACKS = {"L2 BIM": ("l2", 3.0), "BIM": ("linf", 0.3), "FGSM": ("linf", 0.3), "FGM": ("l2", 3.0)}
T_RANGE = (1e-3, 4.0)


def _substitute_attack(name: str, steps: int) -> fb.attacks.base.FixedEpsilonAttack:
    return {"L2 BIM": lambda: fb.attacks.L2BasicIterativeAttack(steps=steps),
            "BIM": lambda: fb.attacks.LinfBasicIterativeAttack(steps=steps),
            "FGSM": fb.attacks.LinfFastGradientAttack,
            "FGM": fb.attacks.L2FastGradientAttack}[name]()


def directions(substitute: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int) -> torch.Tensor:
    """Per sample, the four substitute perturbations, each scaled to max |delta| = 1: (4, n, ...)."""
    fmodel = fb.PyTorchModel(substitute.eval(), bounds=(0, 1))
    out = []
    for name, (_, eps) in DIRECTION_ATTACKS.items():
        _, adv, _ = _substitute_attack(name, steps)(fmodel, x, y, epsilons=eps)
        delta = adv - x
        scale = delta.flatten(1).abs().amax(1).clamp_min(1e-12).view(-1, *[1] * (x.dim() - 1))
        out.append(delta / scale)
    return torch.stack(out)


def line_search(model: nn.Module, x: torch.Tensor, y: torch.Tensor, delta: torch.Tensor,
                budget: AttackBudget) -> tuple[torch.Tensor, torch.Tensor]:
    """The candidate clip(x + t delta) at the smallest adversarial t found per sample, and a mask."""
    def run(index: torch.Tensor, t: float) -> tuple[torch.Tensor, torch.Tensor]:
        candidate = (x[index] + t * delta[index]).clamp(0, 1)
        with torch.no_grad():
            return candidate, model(candidate).argmax(1) != y[index]

    grid = geometric_grid(*T_RANGE, budget.grid_points)
    adv, _, found = smallest_epsilon(run, x, grid, budget.bisect_steps)
    return adv, found
