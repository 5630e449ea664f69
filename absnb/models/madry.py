"""The network of Madry et al. (2018) for MNIST and the L-infinity PGD attack it is trained against."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MadryNet(nn.Module):
    """conv 5x5 32 ReLU, max-pool 2, conv 5x5 64 ReLU, max-pool 2, FC 1024 ReLU, FC 10 ('same' padding)."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(7 * 7 * 64, 1024), nn.ReLU(), nn.Linear(1024, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def pgd_linf(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int,
             step_size: float, random_start: bool = True,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Projected gradient ascent on the cross-entropy inside the L-inf ball of radius eps, in [0, 1]."""
    x = x.detach()
    delta = torch.zeros_like(x)
    if random_start:
        delta = (torch.rand(x.shape, generator=generator, device=x.device) * 2 - 1) * eps
    x_adv = (x + delta).clamp(0, 1)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        loss = F.cross_entropy(model(x_adv), y)
        (grad,) = torch.autograd.grad(loss, x_adv)
        x_adv = x_adv.detach() + step_size * grad.sign()
        x_adv = torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0, 1)
    return x_adv.detach()
