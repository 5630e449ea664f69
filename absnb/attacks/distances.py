"""Per-sample distances of adversarials in the three norms of the paper's evaluation."""

from __future__ import annotations

import torch

from absnb.vocabulary import check_norm


def distance(x: torch.Tensor, adv: torch.Tensor, norm: str) -> torch.Tensor:
    """Distance of each adversarial from its clean image (batch dim first, any image shape).

    L2 is the Euclidean norm of the difference, L∞ its largest absolute entry, and L0 the number of
    entries that differ at all (|diff| > 0), which is how foolbox's L0 counts nonzero entries; for
    MNIST's single channel an entry is a pixel.
    """
    check_norm(norm)
    if x.shape != adv.shape:
        raise ValueError(f"images {tuple(x.shape)} and adversarials {tuple(adv.shape)} differ in shape")
    diff = (adv - x).flatten(1)
    if norm == "l2":
        return diff.norm(dim=1)
    if norm == "linf":
        return diff.abs().amax(dim=1)
    return (diff != 0).sum(dim=1).to(diff.dtype)
