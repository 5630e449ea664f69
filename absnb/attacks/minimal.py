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


def _run_grouped(attack: FixedEpsilonAttack, x: torch.Tensor, y: torch.Tensor,
                 eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the attack once per distinct eps, on the samples that carry it."""
    adv = x.clone()
    success = torch.zeros(len(x), dtype=torch.bool, device=x.device)
    for value in eps.unique().tolist():
        idx = (eps == value).nonzero().squeeze(1)
        out, ok = attack(x[idx], y[idx], value)
        adv[idx], success[idx] = out, ok.bool()
    return adv, success


def minimal_epsilon(attack: FixedEpsilonAttack, x: torch.Tensor, y: torch.Tensor,
                    grid: Sequence[float], bisect_steps: int) -> tuple[torch.Tensor, torch.Tensor,
                                                                       torch.Tensor]:
    """Per sample: the adversarial at the smallest successful eps found, that eps (inf if none), and
    a success mask. The grid must be ascending."""
    grid = sorted(grid)
    best = x.clone()
    found_eps = torch.full((len(x),), float("inf"), dtype=torch.float64, device=x.device)
    lower = torch.zeros(len(x), dtype=torch.float64, device=x.device)
    for value in grid:
        todo = torch.isinf(found_eps).nonzero().squeeze(1)
        if len(todo) == 0:
            break
        adv, ok = attack(x[todo], y[todo], value)
        hit = todo[ok.bool()]
        best[hit], found_eps[hit] = adv[ok.bool()], value
        lower[todo[~ok.bool()]] = value
    for _ in range(bisect_steps):
        open_ = torch.isfinite(found_eps).nonzero().squeeze(1)
        if len(open_) == 0:
            break
        mid = (lower[open_] + found_eps[open_]) / 2
        adv, ok = _run_grouped(attack, x[open_], y[open_], mid)
        hit, miss = open_[ok], open_[~ok]
        best[hit], found_eps[hit] = adv[ok], mid[ok]
        lower[miss] = mid[~ok]
    return best, found_eps, torch.isfinite(found_eps)
