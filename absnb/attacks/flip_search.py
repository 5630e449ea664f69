"""Flip Search: a minimal-norm attack that sees through input binarisation (beyond the paper).

A binarising model is f(x) = g(b(x)) with b(x)_i = [x_i > 0.5], and g (the CNN on {0, 1} images, or
the ABS inference) has exact gradients. Only the set S of pixels whose binarised value changes matters
to f, and the cheapest image that changes exactly S moves each pixel of S just across 0.5
(`binary_postprocess`), at cost c_i = |x_i - 0.5| per pixel: L2 ‖c_S‖₂, L∞ max c_S, L0 |S|. So the
attack searches over flip sets, guided by g's gradient at the current binary image u, where the
straight-through gradient is g's exact gradient:

1. greedy: flipping pixel i moves u_i by 1 - 2u_i, which changes the margin (best wrong logit minus
   the true one) by ≈ grad_i (1 - 2u_i); flip the `per_step` unflipped pixels with the largest gain
   per unit of cost (L2: c_i², L0 and L∞: 1), recompute the gradient, repeat until g misclassifies
   u or no flip gains anything;
2. prune: drop every flip that is not needed, most expensive first (one query per flip);
3. L∞ only: the greedy may flip only pixels with c_i <= t; t is bisected over the image's cost
   values (MNIST's 256 grey levels give at most 128), keeping the smallest t at which it succeeds.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from tqdm import tqdm

from absnb.attacks.postprocess import binary_postprocess
from absnb.attacks.verify import margin
from absnb.models.binarize import THRESHOLD, binarize
from absnb.vocabulary import Norm

Model = Callable[[torch.Tensor], torch.Tensor]


def flip_search(model: Model, x: torch.Tensor, y: torch.Tensor, norm: Norm, steps: int = 100,
                per_step: int = 1, bisect_steps: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Adversarials for a batch of images x with labels y against a binarising `model` (each just
    across 0.5 where its binarised image changes) and a mask of the ones found."""
    norm, shape = Norm(norm), x.shape[1:]
    flat = x.detach().flatten(1)
    cost = (flat - THRESHOLD).abs()
    weight = cost.pow(2).clamp_min(1e-12) if norm == "l2" else torch.ones_like(cost)
    if norm == "linf":
        flips, found = _threshold_search(model, flat, y, cost, weight, shape, steps, per_step,
                                         bisect_steps)
    else:
        flips, found = greedy_flips(model, flat, y, weight, torch.ones_like(flat, dtype=torch.bool),
                                    shape, steps, per_step)
    flips = prune(model, flat, y, flips, found, cost, shape)
    adv = binary_postprocess(flat, flipped(flat, flips)).view_as(x)
    return adv, found


def flipped(flat: torch.Tensor, flips: torch.Tensor) -> torch.Tensor:
    """The binarised images with the pixels in `flips` changed."""
    base = binarize(flat)
    return torch.where(flips, 1 - base, base)


def _scores(model: Model, u: torch.Tensor, y: torch.Tensor,
            shape: torch.Size) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's logits at the binary images u and the gradient of the margin there."""
    u = u.detach().view(-1, *shape).requires_grad_(True)
    with torch.enable_grad():
        logits = model(u)
        (grad,) = torch.autograd.grad(margin(logits, y).sum(), u)
    return logits.detach(), grad.flatten(1)


def greedy_flips(model: Model, flat: torch.Tensor, y: torch.Tensor, weight: torch.Tensor,
                 allowed: torch.Tensor, shape: torch.Size, steps: int,
                 per_step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Flip sets (bool, like `flat`) found greedily among the `allowed` pixels, and which of them make
    the model misclassify. Each step costs one model query (with gradient) per unfinished image."""
    flips = torch.zeros_like(flat, dtype=torch.bool)
    found = torch.zeros(len(flat), dtype=torch.bool, device=flat.device)
    stuck = torch.zeros_like(found)
    for _ in range(steps + 1):
        active = (~found & ~stuck).nonzero().squeeze(1)
        if len(active) == 0:
            break
        u = flipped(flat[active], flips[active])
        logits, grad = _scores(model, u, y[active], shape)
        fooled = logits.argmax(1) != y[active]
        found[active[fooled]] = True
        gain = grad * (1 - 2 * u)  # first-order growth of the margin when the pixel flips
        eligible = allowed[active] & ~flips[active] & (gain > 0) & ~fooled[:, None]
        score = torch.where(eligible, gain / weight[active], float("-inf"))
        top = score.topk(min(per_step, score.shape[1]), dim=1)
        take = torch.zeros_like(eligible).scatter(1, top.indices, torch.isfinite(top.values))
        flips[active] |= take
        stuck[active[~fooled & ~take.any(1)]] = True
    return flips, found


def _threshold_search(model: Model, flat: torch.Tensor, y: torch.Tensor, cost: torch.Tensor,
                      weight: torch.Tensor, shape: torch.Size, steps: int, per_step: int,
                      bisect_steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """L∞: the greedy over all pixels, then bisection over each image's sorted distinct costs for the
    smallest threshold t at which the greedy, flipping only pixels with c_i <= t, still succeeds."""
    everything = torch.ones_like(flat, dtype=torch.bool)
    flips, found = greedy_flips(model, flat, y, weight, everything, shape, steps, per_step)
    levels = [torch.unique(row) for row in cost]
    lo = torch.full((len(flat),), -1, dtype=torch.long, device=flat.device)
    hi = torch.tensor([len(v) - 1 for v in levels], device=flat.device)
    for _ in range(bisect_steps):
        going = found & (hi - lo > 1)
        if not going.any():
            break
        mid = (lo + hi) // 2
        limit = torch.stack([levels[i][m.clamp_min(0)] for i, m in enumerate(mid)])
        idx = going.nonzero().squeeze(1)
        trial, ok = greedy_flips(model, flat[idx], y[idx], weight[idx],
                                 cost[idx] <= limit[idx, None], shape, steps, per_step)
        hi[idx[ok]], lo[idx[~ok]] = mid[idx[ok]], mid[idx[~ok]]
        flips[idx[ok]] = trial[ok]
    return flips, found


def prune(model: Model, flat: torch.Tensor, y: torch.Tensor, flips: torch.Tensor, found: torch.Tensor,
          cost: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """`flips` without every flip the misclassification does not need, trying the most expensive
    first: one query per flip of the found images, all images together."""
    flips = flips.clone()
    order = torch.where(flips, cost, float("-inf")).argsort(1, descending=True)
    counts = flips.sum(1) * found
    rows = torch.arange(len(flat), device=flat.device)
    for k in tqdm(range(int(counts.max()) if len(counts) else 0), desc="flip search: prune", leave=False):
        idx = (counts > k).nonzero().squeeze(1)
        trial = flips[idx].clone()
        trial[rows[: len(idx)], order[idx, k]] = False
        with torch.no_grad():
            still = model(flipped(flat[idx], trial).view(-1, *shape)).argmax(1) != y[idx]
        flips[idx[still]] = trial[still]
    return flips
