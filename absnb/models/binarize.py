"""Input binarisation at 0.5, with the straight-through estimator for gradients."""

from __future__ import annotations

import torch

THRESHOLD = 0.5


def binarize(x: torch.Tensor) -> torch.Tensor:
    """Pixels above 0.5 become 1, the rest 0 (the paper: 0 if b <= 0.5, 1 if b > 0.5)."""
    return (x > THRESHOLD).to(x.dtype)


def binarize_ste(x: torch.Tensor) -> torch.Tensor:
    """Binarise in the forward pass; pass the gradient through unchanged (Bengio et al., 2013)."""
    return x + (binarize(x) - x).detach()
