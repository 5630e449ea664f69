"""From fixed-epsilon attacks to per-sample minimal adversarial distances.

A fixed-epsilon attack (FGSM, BIM, MIM, ...) answers "is there an adversarial within eps?". For
each sample we want the smallest eps at which it succeeds: run the attack over an ascending grid of
eps (each sample stops at its first success), then bisect each sample's bracketing interval. Samples
that share an eps run as one batch, so every call stays batched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

# attack(x, y, eps) -> (candidate adversarials, success mask), for a batch sharing one eps
FixedEpsilonAttack = Callable[[torch.Tensor, torch.Tensor, float], tuple[torch.Tensor, torch.Tensor]]


# run(index, eps) -> (candidates, success mask) for the samples `index` of a batch, sharing one eps
IndexedAttack = Callable[[torch.Tensor, float], tuple[torch.Tensor, torch.Tensor]]


def _run_grouped(run: IndexedAttack, index: torch.Tensor, eps: torch.Tensor,
                 like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the attack once per distinct eps, on the samples that carry it."""
    adv = like.clone()
    success = torch.zeros(len(index), dtype=torch.bool, device=like.device)
    for value in eps.unique().tolist():
        pos = (eps == value).nonzero().squeeze(1)
        out, ok = run(index[pos], value)
        adv[pos], success[pos] = out, ok.bool()
    return adv, success


def smallest_epsilon(run: IndexedAttack, x: torch.Tensor, grid: Sequence[float],
                     bisect_steps: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per sample of `x`: the candidate at the smallest successful eps found, that eps (inf if none),
    and a success mask. The grid is sorted; each sample stops at its first success, then bisects."""
    best = x.clone()
    found_eps = torch.full((len(x),), float("inf"), dtype=torch.float64, device=x.device)
    lower = torch.zeros(len(x), dtype=torch.float64, device=x.device)
    for value in sorted(grid):
        todo = torch.isinf(found_eps).nonzero().squeeze(1)
        if len(todo) == 0:
            break
        adv, ok = run(todo, value)
        ok = ok.bool()
        best[todo[ok]], found_eps[todo[ok]] = adv[ok], value
        lower[todo[~ok]] = value
    for _ in range(bisect_steps):
        open_ = torch.isfinite(found_eps).nonzero().squeeze(1)
        if len(open_) == 0:
            break
        mid = (lower[open_] + found_eps[open_]) / 2
        adv, ok = _run_grouped(run, open_, mid, x[open_])
        hit, miss = open_[ok], open_[~ok]
        best[hit], found_eps[hit] = adv[ok], mid[ok]
        lower[miss] = mid[~ok]
    return best, found_eps, torch.isfinite(found_eps)


def minimal_epsilon(attack: FixedEpsilonAttack, x: torch.Tensor, y: torch.Tensor,
                    grid: Sequence[float], bisect_steps: int) -> tuple[torch.Tensor, torch.Tensor,
                                                                       torch.Tensor]:
    """`smallest_epsilon` for an attack that takes the images and labels themselves."""
    return smallest_epsilon(lambda index, eps: attack(x[index], y[index], eps), x, grid, bisect_steps)


def geometric_grid(low: float, high: float, points: int) -> list[float]:
    """`points` values from `low` to `high`, evenly spaced on a log scale."""
    if points == 1:
        return [high]
    return torch.logspace(torch.log10(torch.tensor(low)), torch.log10(torch.tensor(high)),
                          points, dtype=torch.float64).tolist()
