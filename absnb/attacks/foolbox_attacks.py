"""Table 1's foolbox attacks and the adaptive ones, adapted to our registry: fixed-epsilon attacks
become callables (x, y, eps) -> (adversarials, success) for `minimal.minimal_epsilon`; minimisation
attacks (Boundary, Pointwise, Salt&Pepper, DDN, FMN, Brendel-Bethge) run with epsilons=None and return
their adversarials as found, those with a start from the given starting points. Distances are never
taken from foolbox: `verify` recomputes them from the images.
"""

from __future__ import annotations

import eagerpy as ep
import foolbox as fb
import torch
from foolbox.attacks.gradient_descent_base import normalize_lp_norms
from torch import nn

from absnb.attacks.minimal import FixedEpsilonAttack
from absnb.attacks.registry import AttackSpec
from absnb.profiles import AttackBudget
from absnb.vocabulary import Norm

# The Boundary Attack's start: blend towards uniform noise in steps of 1/BLEND_STEPS until adversarial.
# foolbox's default of 1,000 steps costs up to 1,000 queries per sample (minutes on an ABS model) for
# a start that the Boundary Attack's own steps refine anyway.
BLEND_STEPS = 100
# Adversarials per sample (images, found mask) that an attack starts from.
Start = tuple[torch.Tensor, torch.Tensor]


class DongMIM(fb.attacks.LinfMomentumIterativeFastGradientMethod):
    """MIM as Dong et al. (2018): momentum accumulates the L1-normalised gradient, the step is its sign.
    foolbox 3's version accumulates sign(gradient) instead, which is BIM with a smoothed sign."""

    def normalize(self, gradients: ep.Tensor, *, x: ep.Tensor, bounds: tuple[float, float]) -> ep.Tensor:
        return normalize_lp_norms(gradients, p=1)


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
        return DongMIM(**iterative)
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
                 budget: AttackBudget, start: Start | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Adversarials found by a minimisation attack and foolbox's success mask. Runs with
    epsilons=None (foolbox's Pointwise Attack fails with numeric epsilons). Boundary and Pointwise
    start from `start` where it holds an adversarial, else from their initial attack's; samples
    neither breaks count as failures (foolbox would raise for the whole batch)."""
    attack, init = _minimization(spec.name, budget)
    if init is None:
        _, clipped, success = attack(fmodel, x, y, epsilons=None)
        return clipped, success
    return _from_starts(attack, init, fmodel, x, y, start, spec.norm)


def adaptive(spec: AttackSpec, fmodel: fb.PyTorchModel, x: torch.Tensor, y: torch.Tensor,
             budget: AttackBudget, start: Start | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """An adaptive minimal-norm attack (DDN, FMN, Brendel-Bethge) with the model's own gradients;
    Brendel-Bethge starts from `start` (else from blended noise, foolbox's default)."""
    steps = budget.adaptive_steps
    if spec.name == "DDN":
        attack = fb.attacks.DDNAttack(steps=steps)
    elif spec.name == "FMN":
        attack = {"l2": fb.attacks.L2FMNAttack, "linf": fb.attacks.LInfFMNAttack,
                  "l0": fb.attacks.L0FMNAttack}[spec.norm](steps=steps)
    elif spec.name == "Brendel-Bethge":
        attack = {"l2": fb.attacks.L2BrendelBethgeAttack, "linf": fb.attacks.LinfinityBrendelBethgeAttack,
                  "l0": fb.attacks.L0BrendelBethgeAttack}[spec.norm](steps=budget.bb_steps)
        return _from_starts(attack, fb.attacks.LinearSearchBlendedUniformNoiseAttack(steps=BLEND_STEPS),
                            fmodel, x, y, start, spec.norm)
    else:
        raise ValueError(f"{spec.name!r} is not an adaptive attack")
    _, clipped, success = attack(fmodel, x, y, epsilons=None)
    return clipped, success


def _from_starts(attack: fb.attacks.base.MinimizationAttack, init: fb.attacks.base.MinimizationAttack,
                 fmodel: fb.PyTorchModel, x: torch.Tensor, y: torch.Tensor,
                 start: Start | None, norm: Norm) -> tuple[torch.Tensor, torch.Tensor]:
    """Run `attack` from the adversarials of `start` (checked again on this model), and from `init`'s
    for the samples without one; the result per sample is never worse than its start in the attack's
    distance (`norm`), because a start the attack did not improve on is kept."""
    adv, found = (x.clone(), torch.zeros(len(x), dtype=torch.bool, device=x.device)) if start is None \
        else (start[0].clone(), start[1].clone())
    with torch.no_grad():
        found &= fmodel(adv).argmax(1) != y
    if not found.all():
        rest = ~found
        _, init_adv, init_found = init(fmodel, x[rest], y[rest], epsilons=None)
        adv[rest], found[rest] = init_adv, init_found
    if not found.any():
        return adv, found
    _, out, success = attack(fmodel, x[found], y[found], epsilons=None, starting_points=adv[found])
    closer = norm.distance(x[found], out) < norm.distance(x[found], adv[found])
    keep = success & closer
    rows = found.nonzero().squeeze(1)
    adv[rows[keep]] = out[keep]
    return adv, found
