"""Table 1's foolbox attacks, adapted to our registry: fixed-epsilon attacks become callables
(x, y, eps) -> (adversarials, success) for `minimal.minimal_epsilon`; minimisation attacks
(Boundary, Pointwise, Salt&Pepper) run with epsilons=None and return their adversarials as found.
Distances are never taken from foolbox: `verify` recomputes them from the images.
"""

from __future__ import annotations

import foolbox as fb
import torch
from torch import nn

from absnb.attacks.minimal import FixedEpsilonAttack
from absnb.attacks.registry import AttackSpec
from absnb.profiles import AttackBudget

# The Boundary Attack's start: blend towards uniform noise in steps of 1/BLEND_STEPS until adversarial.
# foolbox's default of 1,000 steps costs up to 1,000 queries per sample (minutes on an ABS model) for
# a start that the Boundary Attack's own steps refine anyway.
BLEND_STEPS = 100


def _fixed(name: str, budget: AttackBudget) -> fb.attacks.base.FixedEpsilonAttack:
    base = name.removesuffix(" w/ GE")
    steps = budget.ge_iterative_steps if name.endswith(" w/ GE") else budget.iterative_steps
    # foolbox's default walks 10 steps of 0.2 eps; fewer steps keep that path length of 2 eps.
    iterative = {"steps": steps, "rel_stepsize": min(1.0, 2.0 / steps)}
    if base == "FGM":
        return fb.attacks.L2FastGradientAttack()
    if base == "FGSM":
        return fb.attacks.LinfFastGradientAttack()
    if base == "L2 BIM":
        return fb.attacks.L2BasicIterativeAttack(**iterative)
    if base == "BIM":
        return fb.attacks.LinfBasicIterativeAttack(**iterative)
    if base == "MIM":
        return fb.attacks.LinfMomentumIterativeFastGradientMethod(**iterative)
    if base == "Gaussian Noise":
        return fb.attacks.L2RepeatedAdditiveGaussianNoiseAttack(repeats=budget.gaussian_repeats)
    raise ValueError(f"{name!r} is not a fixed-epsilon foolbox attack")


def _minimization(name: str, budget: AttackBudget) -> tuple[fb.attacks.base.MinimizationAttack,
                                                          fb.attacks.base.MinimizationAttack | None]:
    """The attack and the attack that finds its starting points (None if it needs none)."""
    saltpepper = fb.attacks.SaltAndPepperNoiseAttack(steps=budget.saltpepper_steps)
    if name == "Boundary Attack":
        return fb.attacks.BoundaryAttack(steps=budget.boundary_steps), \
            fb.attacks.LinearSearchBlendedUniformNoiseAttack(steps=BLEND_STEPS)
    if name == "Pointwise Attack":  # scored in L0 only: its final L2 refinement would not change L0
        return fb.attacks.PointwiseAttack(l2_binary_search=False), saltpepper
    if name == "Salt&Pepper Noise":
        return saltpepper, None
    raise ValueError(f"{name!r} is not a minimisation foolbox attack")


def foolbox_model(model: nn.Module) -> fb.PyTorchModel:
    """The model as foolbox sees it (wrap it in EstimatedGradientModel first for the "w/ GE" rows)."""
    return fb.PyTorchModel(model.eval(), bounds=(0, 1))


def fixed_epsilon(spec: AttackSpec, fmodel: fb.PyTorchModel, budget: AttackBudget) -> FixedEpsilonAttack:
    """(x, y, eps) -> (clipped adversarials, foolbox's success mask) for one fixed-epsilon attack."""
    attack = _fixed(spec.name, budget)

    def run(x: torch.Tensor, y: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
        _, clipped, success = attack(fmodel, x, y, epsilons=float(eps))
        return clipped, success

    return run


def minimization(spec: AttackSpec, fmodel: fb.PyTorchModel, x: torch.Tensor, y: torch.Tensor,
                 budget: AttackBudget) -> tuple[torch.Tensor, torch.Tensor]:
    """Adversarials found by a minimisation attack and foolbox's success mask. Runs with
    epsilons=None (foolbox's Pointwise Attack fails with numeric epsilons). Boundary and Pointwise
    start from their initial attack's adversarials; samples it cannot break count as failures
    (foolbox would raise for the whole batch)."""
    attack, init = _minimization(spec.name, budget)
    if init is None:
        _, clipped, success = attack(fmodel, x, y, epsilons=None)
        return clipped, success
    _, start, found = init(fmodel, x, y, epsilons=None)
    adv, found = start.clone(), found.clone()
    if found.any():
        _, out, success = attack(fmodel, x[found], y[found], epsilons=None, starting_points=start[found])
        adv[found] = out
        found[found.clone()] = success
    return adv, found
