"""Table 1's foolbox attacks, adapted to our registry: fixed-epsilon attacks become callables
(x, y, eps) -> (adversarials, success) for `minimal.minimal_epsilon`; minimisation attacks
(Boundary, Pointwise, Salt&Pepper) run with epsilons=None and return their adversarials as found.
Distances are never taken from foolbox: `verify` recomputes them from the images.
"""

from __future__ import annotations

from dataclasses import dataclass

import foolbox as fb
import torch
from torch import nn

from absnb.attacks.estimated import EstimatedGradientModel
from absnb.attacks.minimal import FixedEpsilonAttack
from absnb.attacks.registry import AttackSpec


@dataclass(frozen=True)
class Budget:
    """Steps and queries of the foolbox attacks (foolbox's defaults where the paper is silent)."""

    iterative_steps: int = 10
    gaussian_repeats: int = 100
    boundary_steps: int = 25000
    saltpepper_steps: int = 1000


def _fixed(name: str, budget: Budget) -> fb.attacks.base.FixedEpsilonAttack:
    base = name.removesuffix(" w/ GE")
    if base == "FGM":
        return fb.attacks.L2FastGradientAttack()
    if base == "FGSM":
        return fb.attacks.LinfFastGradientAttack()
    if base == "L2 BIM":
        return fb.attacks.L2BasicIterativeAttack(steps=budget.iterative_steps)
    if base == "BIM":
        return fb.attacks.LinfBasicIterativeAttack(steps=budget.iterative_steps)
    if base == "MIM":
        return fb.attacks.LinfMomentumIterativeFastGradientMethod(steps=budget.iterative_steps)
    if base == "Gaussian Noise":
        return fb.attacks.L2RepeatedAdditiveGaussianNoiseAttack(repeats=budget.gaussian_repeats)
    raise ValueError(f"{name!r} is not a fixed-epsilon foolbox attack")


def _minimization(name: str, budget: Budget) -> fb.attacks.base.MinimizationAttack:
    if name == "Boundary Attack":
        return fb.attacks.BoundaryAttack(steps=budget.boundary_steps)
    if name == "Pointwise Attack":
        return fb.attacks.PointwiseAttack()
    if name == "Salt&Pepper Noise":
        return fb.attacks.SaltAndPepperNoiseAttack(steps=budget.saltpepper_steps)
    raise ValueError(f"{name!r} is not a minimisation foolbox attack")


def foolbox_model(model: nn.Module, spec: AttackSpec, ge_step: float | None = None,
                  queries_per_batch: int = 200) -> fb.PyTorchModel:
    """The model as foolbox sees it: with estimated gradients for the "w/ GE" attacks."""
    if spec.gradient == "estimated":
        if ge_step is None:
            raise ValueError(f"{spec.name} needs a finite-difference step")
        model = EstimatedGradientModel(model, ge_step, queries_per_batch)
    return fb.PyTorchModel(model.eval(), bounds=(0, 1))


def fixed_epsilon(spec: AttackSpec, fmodel: fb.PyTorchModel, budget: Budget) -> FixedEpsilonAttack:
    """(x, y, eps) -> (clipped adversarials, foolbox's success mask) for one fixed-epsilon attack."""
    attack = _fixed(spec.name, budget)

    def run(x: torch.Tensor, y: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
        _, clipped, success = attack(fmodel, x, y, epsilons=float(eps))
        return clipped, success

    return run


def minimization(spec: AttackSpec, fmodel: fb.PyTorchModel, x: torch.Tensor, y: torch.Tensor,
                 budget: Budget, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Adversarials found by a minimisation attack (epsilons=None: foolbox's Pointwise Attack fails
    with numeric epsilons) and foolbox's success mask."""
    torch.manual_seed(seed)
    _, clipped, success = _minimization(spec.name, budget)(fmodel, x, y, epsilons=None)
    return clipped, success
