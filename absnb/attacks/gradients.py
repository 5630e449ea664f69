"""Gradients for the attacks: coordinate-wise finite differences (the paper's "w/ GE") and autograd.

The estimate is per sample: every query perturbs one pixel of one image, so samples of a batch never
mix (foolbox's own estimator does mix them). Queries run in batches, which is what makes it
affordable for the ABS models, whose every query is a full latent optimisation.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def cross_entropy_loss(model: Callable[[torch.Tensor], torch.Tensor]) -> Loss:
    """Per-sample cross-entropy of the model's logits: the quantity the untargeted attacks ascend."""
    return lambda x, y: F.cross_entropy(model(x), y, reduction="none")


def autograd_gradient(loss: Loss, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """d loss / d x by automatic differentiation (straight-through where the model binarises)."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(loss(x, y).sum(), x)
    return grad


def coordinate_jacobian(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x: torch.Tensor,
                        step: float, queries_per_batch: int = 200) -> torch.Tensor:
    """Central differences of a vector output along every pixel, inside [0, 1], per sample:
    J[n, :, i] = (f(x + h e_i) - f(x - h e_i)) / (clip(x_i + h) - clip(x_i - h)), two queries per pixel.

    `fn(images, owner)` returns one row of outputs per image; `owner` is each image's sample index.
    Returns shape (n, outputs, *image shape)."""
    n, shape = len(x), x.shape[1:]
    flat = x.detach().reshape(n, -1)
    dims = flat.shape[1]
    chunk = max(1, queries_per_batch // (2 * n))
    columns = []
    with torch.no_grad():
        for start in range(0, dims, chunk):
            idx = torch.arange(start, min(start + chunk, dims), device=x.device)
            basis = torch.zeros(len(idx), dims, device=x.device, dtype=x.dtype)
            basis[torch.arange(len(idx)), idx] = step
            plus = (flat[:, None] + basis).clamp(0, 1)
            minus = (flat[:, None] - basis).clamp(0, 1)
            queries = torch.stack([plus, minus], 1).reshape(-1, *shape)  # (n, 2, len(idx)) order
            owner = torch.arange(n, device=x.device).repeat_interleave(2 * len(idx))
            values = fn(queries, owner).to(x.dtype).reshape(n, 2, len(idx), -1)
            width = (plus[:, torch.arange(len(idx)), idx] - minus[:, torch.arange(len(idx)), idx])[..., None]
            diff = values[:, 0] - values[:, 1]
            columns.append(torch.where(width > 0, diff / width.clamp_min(1e-12), torch.zeros_like(diff)))
    return torch.cat(columns, 1).transpose(1, 2).reshape(n, -1, *shape)


def coordinate_gradient(loss: Loss, x: torch.Tensor, y: torch.Tensor, step: float,
                        queries_per_batch: int = 200) -> torch.Tensor:
    """The coordinate-wise estimate of d loss / d x (see `coordinate_jacobian`), per sample."""
    jac = coordinate_jacobian(lambda images, owner: loss(images, y[owner])[:, None], x, step,
                              queries_per_batch)
    return jac[:, 0]
