"""One attack of Table 1 against one model on one batch of test images, verified.

`attack_batch` dispatches on the attack's family (fixed-epsilon with real or estimated gradients,
minimisation, transfer, Latent Descent, adaptive, Flip Search), post-processes adversarials for the
binarising models, and passes everything through `verify`, so what it returns is what gets recorded.
Work shared between attacks (the substitute's transfer directions, Latent Descent's adversarials, the
gradient estimates at the clean images) comes from a `Shared` cache, which notebooks/03_attacks keeps on disk.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from absnb.attacks import foolbox_attacks as fa
from absnb.attacks import transfer
from absnb.attacks.estimated import EstimatedGradientModel
from absnb.attacks.flip_search import flip_search
from absnb.attacks.latent_descent import latent_descent
from absnb.attacks.minimal import geometric_grid, minimal_epsilon
from absnb.attacks.postprocess import binary_postprocess
from absnb.attacks.registry import AttackSpec
from absnb.attacks.verify import Verified, best_of, verify
from absnb.profiles import AttackBudget
from absnb.vocabulary import ABS_MODELS, BINARY_MODELS, Norm

# Range of the epsilon grids of the fixed-epsilon attacks (geometric; refined by bisection).
GRID_RANGE = {"l2": (0.05, 28.0), "linf": (0.005, 1.0)}  # 28: the L2 diameter of the box


def budget_fields(spec: AttackSpec) -> tuple[str, ...]:
    """The budget settings an attack's results depend on (with the batch size, which sets the seeding
    unit): a stored result stays valid when any other setting of the budget changes."""
    if spec.family == "latent-descent":
        own = ("latent_descent_steps", "bisect_steps")
    elif spec.family == "transfer":
        own = ("iterative_steps", "grid_points", "bisect_steps")
    elif spec.family == "minimization":
        own = {"Boundary Attack": ("boundary_steps",), "Salt&Pepper Noise": ("saltpepper_steps",),
               "Pointwise Attack": ("saltpepper_steps", "pointwise_repeats")}[spec.name]
    elif spec.family == "adaptive":
        own = ("bb_steps",) if spec.name == "Brendel-Bethge" else ("adaptive_steps",)
    elif spec.family == "flip-search":
        own = ("flip_steps", "flip_per_step", *(("bisect_steps",) if spec.norm == "linf" else ()))
    elif spec.gradient == "estimated":
        own = ("ge_step_sizes", "ge_iterative_steps", "ge_grid_points", "ge_bisect_steps")
    else:
        own = ("grid_points", "bisect_steps",
               "gaussian_repeats" if spec.name == "Gaussian Noise" else "iterative_steps")
    return ("batch_size", *own)


@dataclass
class Target:
    """The model under attack, by name (binary post-processing depends on it)."""

    name: str
    model: nn.Module

    @property
    def binary(self) -> bool:
        return self.name in BINARY_MODELS


class Shared:
    """Work reused across attacks of one batch: `get(key, compute)` computes once. Subclassed on disk."""

    def __init__(self) -> None:
        self.memory: dict[str, object] = {}

    def get(self, key: str, compute: Callable[[], object]) -> object:
        if key not in self.memory:
            self.memory[key] = compute()
        return self.memory[key]


def attack_batch(spec: AttackSpec, target: Target, x: torch.Tensor, y: torch.Tensor,
                 budget: AttackBudget, shared: Shared, substitute: nn.Module | None = None,
                 start: fa.Start | None = None) -> Verified:
    """Verified minimal adversarials of `spec` against `target` for the images x with labels y; an
    attack with a start (Boundary, Pointwise, Brendel-Bethge) begins at `start`'s adversarials.
    Seeds torch and NumPy first, so the random attacks (noise, Boundary, Pointwise) repeat exactly."""
    torch.manual_seed(0)
    np.random.seed(0)  # foolbox's Pointwise Attack shuffles pixels with NumPy's global generator
    if spec.family == "latent-descent":
        key = f"latent_descent/{target.name}/{budget.latent_descent_steps}-{budget.bisect_steps}"
        adv, found = shared.get(key, lambda: latent_descent(
            target.model, x, y, max_steps=budget.latent_descent_steps, search_steps=budget.bisect_steps))
        return _checked(target, x, y, adv, found, spec.norm)
    if spec.family == "transfer":
        if substitute is None:
            raise ValueError("transfer attacks need the substitute model")
        deltas = shared.get(f"transfer/directions/{budget.iterative_steps}",
                            lambda: transfer.directions(substitute, x, y, budget.iterative_steps))
        return best_of([_checked(target, x, y, *transfer.line_search(target.model, x, y, d, budget),
                                 spec.norm) for d in deltas])
    if spec.family == "minimization":
        fmodel = fa.foolbox_model(target.model)
        return best_of([_checked(target, x, y, *fa.minimization(spec, fmodel, x, y, budget, s), spec.norm)
                        for s in _starts(spec, budget, start)])
    if spec.family == "flip-search":
        adv, found = flip_search(target.model, x, y, spec.norm, budget.flip_steps, budget.flip_per_step,
                                 budget.bisect_steps)
        return _checked(target, x, y, adv, found, spec.norm)
    if spec.family == "adaptive":
        adv, found = fa.adaptive(spec, fa.foolbox_model(adaptive_logits(target)), x, y, budget, start)
        return _checked(target, x, y, adv, found, spec.norm)
    if spec.gradient == "estimated":
        return best_of([_estimated(spec, target, x, y, budget, shared, h) for h in budget.ge_step_sizes])
    grid = geometric_grid(*GRID_RANGE[spec.norm], budget.grid_points)
    attack = fa.fixed_epsilon(spec, fa.foolbox_model(target.model), budget)
    adv, _, found = minimal_epsilon(attack, x, y, grid, budget.bisect_steps)
    return _checked(target, x, y, adv, found, spec.norm)


class SoftmaxLogits(nn.Module):
    """An ABS model's logits times its α: the logits of its own softmax p(y|x) (`ABS.probabilities`).
    Its raw logits are per-pixel ELBOs, whose differences (~0.01) make a cross-entropy nearly flat."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model, self.scale = model, model.cfg.alpha

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * self.model(x)


def adaptive_logits(target: Target) -> nn.Module:
    """What the adaptive attacks (beyond the paper) see: an ABS model's softmax logits, any other
    model's own. The paper's attacks keep the ABS models' raw logits, as the paper's did."""
    return SoftmaxLogits(target.model) if target.name in ABS_MODELS else target.model


def _starts(spec: AttackSpec, budget: AttackBudget, start: fa.Start | None) -> list[fa.Start | None]:
    """Where each run of a minimisation attack begins: the Pointwise Attack once from `start` and
    then from fresh Salt&Pepper starts (None), since its greedy pixel resets end in a local minimum
    that depends on the start; every other attack runs once from `start`."""
    if spec.name != "Pointwise Attack":
        return [start]
    return [start] + [None] * (budget.pointwise_repeats - 1)


def _estimated(spec: AttackSpec, target: Target, x: torch.Tensor, y: torch.Tensor, budget: AttackBudget,
               shared: Shared, step: float) -> Verified:
    """One "w/ GE" run with finite-difference step `step`; the wrapper (and its estimates) is shared."""
    wrapped = shared.get(f"estimator/{target.name}/{step:g}",
                         lambda: EstimatedGradientModel(target.model, step, budget.query_batch))
    fmodel = fa.foolbox_model(wrapped)
    grid = geometric_grid(*GRID_RANGE[spec.norm], budget.ge_grid_points)
    attack = fa.fixed_epsilon(spec, fmodel, budget)
    adv, _, found = minimal_epsilon(attack, x, y, grid, budget.ge_bisect_steps)
    return _checked(target, x, y, adv, found, spec.norm)


def _checked(target: Target, x: torch.Tensor, y: torch.Tensor, adv: torch.Tensor, found: torch.Tensor,
             norm: Norm) -> Verified:
    if target.binary:
        adv = binary_postprocess(x, adv)
    return verify(target.model, x, y, adv, found, norm)
