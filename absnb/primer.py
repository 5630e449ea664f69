"""The primer chapter: what an adversarial example is, shown on our CNN with the two classic attacks.

Szegedy et al. (2014, "Intriguing properties of neural networks") find, for a target class l, the
smallest perturbation r with f(x + r) = l and x + r in [0, 1] by minimising c·‖r‖² + CE(f(x + r), l)
with box-constrained L-BFGS and a search over c. Goodfellow et al. (2015) take one step of size η along
the sign of the input gradient of the loss (FGSM). Every adversarial returned here has been run through
the model again: success is what the model predicts on the returned image, never the optimiser's claim.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn

from absnb.inference import predict

OK, FAIL = "#2ca02c", "#d62728"


def classify(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's class and its softmax probability per image (the re-check of every adversarial)."""
    conf, pred = F.softmax(predict(model, x), dim=1).max(1)
    return pred, conf


def l2_norms(x: torch.Tensor, adv: torch.Tensor) -> torch.Tensor:
    """The L2 norm of each perturbation adv - x, recomputed from the images."""
    return (adv - x).flatten(1).norm(dim=1)


def one_per_class(model: nn.Module, x: torch.Tensor, y: torch.Tensor, seed: int) -> torch.Tensor:
    """One random (seeded) test image per class 0..9 that the model classifies correctly, in class order."""
    pred, _ = classify(model, x)
    gen = torch.Generator().manual_seed(seed)
    picks = []
    for cls in range(10):
        pool = ((y == cls) & (pred == cls)).nonzero().squeeze(1)
        if len(pool) == 0:
            raise ValueError(f"the model classifies no test image of class {cls} correctly")
        picks.append(pool[torch.randint(len(pool), (1,), generator=gen)])
    return x[torch.cat(picks)]


def lbfgs_minimiser(model: nn.Module, x: torch.Tensor, target: torch.Tensor, c: float | torch.Tensor,
                    steps: int) -> torch.Tensor:
    """clip(x + r) for r minimising Σ_i c_i·‖r_i‖² + CE(f(clip(x_i + r_i)), l_i), by L-BFGS from r = 0."""
    c = torch.as_tensor(c, dtype=x.dtype).expand(len(x)).reshape(-1, *[1] * (x.dim() - 1))
    r = torch.zeros_like(x, requires_grad=True)
    opt = torch.optim.LBFGS([r], lr=1, max_iter=steps, history_size=20, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-9, tolerance_change=1e-12)

    def closure() -> torch.Tensor:
        adv = (x + r).clamp(0, 1)
        loss = (c * r.pow(2)).sum() + F.cross_entropy(model(adv), target, reduction="sum")
        (r.grad,) = torch.autograd.grad(loss, r)  # gradients of the input only, never of the weights
        return loss.detach()

    opt.step(closure)
    return (x + r.detach()).clamp(0, 1)


def szegedy_attack(model: nn.Module, x: torch.Tensor, target: torch.Tensor, c_grid: Sequence[float],
                   steps: int, bisect_steps: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Targeted minimal-L2 adversarials of Szegedy et al.: (adv, success, c_used) per sample.

    For every c of `c_grid`, L-BFGS (`steps` iterations, strong-Wolfe line search, from r = 0) minimises
    c·‖r‖² + CE(f(clip(x + r)), target). The box x + r ∈ [0, 1] is handled by the clip: projecting any r
    onto the box leaves f(clip(x + r)) unchanged and shrinks every |r_i| (the box contains x), so this
    unconstrained problem has the minimisers of the box-constrained one, and the penalty on the raw r pulls
    coordinates that leave the box back to its face. A larger c weights the norm more: smaller r, less
    likely to reach the target. `bisect_steps` then refine each sample's c geometrically between the
    largest grid c that reached the target and the next larger one. All samples (e.g. 10 sources x 10
    targets) are solved as one sum of independent terms (shared curvature estimate and line search,
    separate minimisers). Per sample, the smallest-norm image over every c tried that the model, run
    again, assigns to `target` is kept; where none is, adv is x, success False and c_used NaN.
    """
    best = x.clone()
    best_norm = torch.full((len(x),), float("inf"))
    c_used = torch.full((len(x),), float("nan"))

    def attempt(idx: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """Minimise for the samples idx with their c, keep improvements; return which reached the target."""
        adv = lbfgs_minimiser(model, x[idx], target[idx], c, steps)
        norm = l2_norms(x[idx], adv)
        reached = classify(model, adv)[0] == target[idx]
        better = reached & (norm < best_norm[idx])
        keep = idx[better]
        best[keep], best_norm[keep], c_used[keep] = adv[better], norm[better], c[better]
        return reached

    everyone = torch.arange(len(x))
    grid = sorted((float(c) for c in c_grid), reverse=True)
    lo = torch.full((len(x),), float("nan"))  # largest c that reached the target
    hi = torch.full((len(x),), float("nan"))  # the grid value above it, which did not
    for k, c in enumerate(grid):
        first = attempt(everyone, torch.full((len(x),), c)) & lo.isnan()
        lo[first] = c
        if k > 0:
            hi[first] = grid[k - 1]
    for _ in range(bisect_steps):
        idx = (~hi.isnan()).nonzero().squeeze(1)
        if len(idx) == 0:
            break
        mid = (lo[idx] * hi[idx]).sqrt()
        reached = attempt(idx, mid)
        lo[idx[reached]], hi[idx[~reached]] = mid[reached], mid[~reached]
    return best, torch.isfinite(best_norm), c_used


@dataclass
class TargetedGrid:
    """Szegedy adversarials of one source image per class (rows) towards every class (columns)."""

    advs: torch.Tensor  # (10, 10, 1, 28, 28); the diagonal and failed cells hold the clean source
    predictions: torch.Tensor  # (10, 10) the model's class on each cell's image, re-checked
    success: torch.Tensor  # (10, 10) bool, off-diagonal cells the model assigns to their target
    norms: torch.Tensor  # (10, 10) L2 norm of r; 0 on the diagonal, inf where the attack failed
    c_used: torch.Tensor  # (10, 10) the c whose minimiser was kept; NaN where none reached the target


def targeted_grid(model: nn.Module, sources: torch.Tensor, c_grid: Sequence[float], steps: int,
                  bisect_steps: int = 0) -> TargetedGrid:
    """Attack each of the 10 sources (one per class, in class order) towards the 9 other classes at once."""
    n = len(sources)
    rows, cols = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    off = rows != cols
    x, target = sources[rows[off]], cols[off]
    adv, success, c_used = szegedy_attack(model, x, target, c_grid, steps, bisect_steps)
    advs = sources.unsqueeze(1).repeat(1, n, 1, 1, 1)
    advs[off] = adv
    pred, _ = classify(model, advs.flatten(0, 1))
    predictions = pred.view(n, n)
    ok = torch.zeros(n, n, dtype=torch.bool)
    ok[off] = success & (predictions[off] == target)
    norms = l2_norms(sources[rows.flatten()], advs.flatten(0, 1)).view(n, n)
    norms[off & ~ok] = float("inf")
    used = torch.full((n, n), float("nan"))
    used[off] = c_used
    return TargetedGrid(advs, predictions, ok, norms, used)


def grid_summary(grid: TargetedGrid, sources: torch.Tensor) -> str:
    """One sentence on the grid: targets reached and the typical size of r, computed from the results."""
    off = ~torch.eye(len(grid.success), dtype=torch.bool)
    reached = grid.success[off]
    norms = grid.norms[off][reached]
    text = (f"Run again on the {len(reached)} off-diagonal images, the model predicts the target class "
            f"for {int(reached.sum())}.")
    if len(norms):
        text += (f" Their perturbations have a median L2 norm of {norms.median():.2f} (range "
                 f"{norms.min():.2f}–{norms.max():.2f}); for scale, the clean source images have a median L2 "
                 f"norm of {sources.flatten(1).norm(dim=1).median():.1f}.")
    return text


def fgsm_sweep(model: nn.Module, x: torch.Tensor, y: torch.Tensor, etas: Sequence[float]) -> torch.Tensor:
    """FGSM for each η: clip(x + η·sign(∇ₓ CE(f(x), y)), 0, 1), stacked as (len(etas), *x.shape).

    The direction does not depend on η, so one gradient serves the whole sweep.
    """
    x = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(model(x), y, reduction="sum"), x)
    x, step = x.detach(), grad.sign()
    return torch.stack([(x + float(eta) * step).clamp(0, 1) for eta in etas])


def fgsm_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, etas: Sequence[float],
                  batch_size: int = 500) -> list[float]:
    """Accuracy (%) on the FGSM images of each η, re-checked on the model, over all of x."""
    correct = torch.zeros(len(etas))
    for xb, yb in zip(x.split(batch_size), y.split(batch_size)):
        advs = fgsm_sweep(model, xb, yb, etas)
        correct += torch.stack([(classify(model, adv)[0] == yb).sum() for adv in advs]).float()
    return (100 * correct / len(x)).tolist()


def _show(ax: plt.Axes, image: torch.Tensor, **kwargs) -> None:
    """Draw one 28x28 image without ticks."""
    ax.imshow(image.squeeze().numpy(), **({"cmap": "gray", "vmin": 0, "vmax": 1} | kwargs))
    ax.set_xticks([])
    ax.set_yticks([])


def targeted_grid_figure(sources: torch.Tensor, advs: torch.Tensor, predictions: torch.Tensor) -> Figure:
    """The 10 x 10 grid: rows the source digits, columns the targets, each cell's prediction and ‖r‖."""
    n = len(sources)
    fig, axes = plt.subplots(n, n, figsize=(1.2 * n, 1.4 * n), squeeze=False)
    for i in range(n):
        for j in range(n):
            ax, pred = axes[i, j], int(predictions[i, j])
            _show(ax, advs[i, j])
            norm = float((advs[i, j] - sources[i]).norm())
            if i == j:
                ax.set_title(f"clean: {pred}", fontsize=7)
            else:
                ax.set_title(f"{pred} (‖r‖={norm:.2f})", fontsize=7, color=OK if pred == j else FAIL)
            if i == 0:
                ax.annotate(f"target {j}", (0.5, 1.3), xycoords="axes fraction", ha="center", fontsize=8,
                            weight="bold")
            if j == 0:
                ax.set_ylabel(f"source {i}", fontsize=8, weight="bold")
    fig.tight_layout(h_pad=0.4, w_pad=0.2)
    plt.close(fig)
    return fig


def fgsm_figure(x: torch.Tensor, advs: torch.Tensor, etas: Sequence[float], predictions: torch.Tensor,
                confidences: torch.Tensor) -> Figure:
    """For each image, a row of FGSM images and a row of their perturbations, one column per η."""
    n_img, n_eta = len(x), len(etas)
    top = max(float(max(etas)), 1e-8)
    fig, axes = plt.subplots(2 * n_img, n_eta, figsize=(1.5 * n_eta, 3.1 * n_img), squeeze=False)
    for k in range(n_img):
        clean = int(predictions[0, k]) if float(etas[0]) == 0 else None
        for e in range(n_eta):
            img_ax, pert_ax = axes[2 * k, e], axes[2 * k + 1, e]
            pred = int(predictions[e, k])
            _show(img_ax, advs[e, k])
            color = FAIL if clean is not None and pred != clean else "black"
            img_ax.set_title(f"{pred} ({100 * float(confidences[e, k]):.0f}%)", fontsize=8, color=color)
            _show(pert_ax, advs[e, k] - x[k], cmap="seismic", vmin=-top, vmax=top)
            if k == 0:
                img_ax.annotate(f"η = {float(etas[e]):g}", (0.5, 1.3), xycoords="axes fraction",
                                ha="center", fontsize=9, weight="bold")
            if e == 0:
                img_ax.set_ylabel("x + r", fontsize=8)
                pert_ax.set_ylabel("r", fontsize=8)
    fig.tight_layout(h_pad=0.5, w_pad=0.3)
    plt.close(fig)
    return fig
