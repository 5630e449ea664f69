"""The network of Madry et al. (2018) for MNIST and the L-infinity PGD attack it is trained against."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm


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


def pgd_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int,
                 step_size: float, restarts: int = 1, batch_size: int = 256,
                 generator: torch.Generator | None = None, desc: str | None = None) -> float:
    """Fraction of images classified correctly clean and under each of `restarts` PGD runs from
    random starts: an image counts as robust only if no run breaks it (each adversarial is checked to
    lie in the ε-ball and [0, 1], and is run through the model again). Restarts run only on the
    images still unbroken."""
    if generator is None:
        generator = torch.Generator(device=x.device).manual_seed(0)
    robust = torch.zeros(len(x), dtype=torch.bool, device=x.device)
    for start in tqdm(range(0, len(x), batch_size), desc=desc, leave=False, disable=desc is None):
        xb, yb = x[start:start + batch_size], y[start:start + batch_size]
        with torch.no_grad():
            alive = (model(xb).argmax(1) == yb).nonzero().squeeze(1)
        for _ in range(restarts):
            if len(alive) == 0:
                break
            adv = pgd_linf(model, xb[alive], yb[alive], eps, steps, step_size, generator=generator)
            if (adv - xb[alive]).abs().max() > eps + 1e-6 or adv.min() < 0 or adv.max() > 1:
                raise RuntimeError("PGD left the eps-ball or the [0, 1] box")
            with torch.no_grad():
                alive = alive[model(adv).argmax(1) == yb[alive]]
        robust[start + alive] = True
    return robust.float().mean().item()
