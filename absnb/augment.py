"""Light training augmentation for the ABS VAEs: random zoom, shear and a small elastic distortion.

Each transformation is applied to an image with probability `p`, independently of the others (the
recipe of a public ABS reimplementation that reaches the paper's accuracy, skew left out). All
selected transformations of an image are composed into one sampling grid and applied in one
bilinear resampling; images that draw none are returned untouched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Augmentation:
    """Probability of each transformation and its largest size."""

    p: float = 0.1
    zoom: float = 0.1  # scale factor drawn from [1 - zoom, 1 + zoom]
    shear_degrees: float = 6.0  # horizontal shear angle drawn from [-shear, shear]
    elastic_alpha: float = 20.0  # displacement scale, pixels, before Gaussian smoothing
    elastic_sigma: float = 4.0  # pixels


def _uniform(n: int, low: float, high: float, gen: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=gen)


def _smooth(field: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian smoothing of displacement fields (N, 2, H, W)."""
    radius = math.ceil(3 * sigma)
    t = torch.arange(-radius, radius + 1, dtype=field.dtype)
    kernel = (-(t**2) / (2 * sigma**2)).exp()
    kernel = kernel / kernel.sum()
    c = field.shape[1]
    horizontal = kernel.view(1, 1, 1, -1).repeat(c, 1, 1, 1)
    vertical = kernel.view(1, 1, -1, 1).repeat(c, 1, 1, 1)
    field = F.conv2d(F.pad(field, (radius, radius, 0, 0), mode="reflect"), horizontal, groups=c)
    return F.conv2d(F.pad(field, (0, 0, radius, radius), mode="reflect"), vertical, groups=c)


def augment(x: torch.Tensor, gen: torch.Generator, aug: Augmentation) -> torch.Tensor:
    """Images (N, 1, H, W) in [0, 1], each transformed with the probabilities of `aug`."""
    n, _, h, w = x.shape
    zoom, shear, elastic = (torch.rand(3, n, generator=gen) < aug.p).unbind(0)
    chosen = zoom | shear | elastic
    if not chosen.any():
        return x
    idx = chosen.nonzero().squeeze(1)
    m = len(idx)
    scale = torch.where(zoom[idx], _uniform(m, 1 - aug.zoom, 1 + aug.zoom, gen), torch.ones(m))
    angle = torch.where(shear[idx], _uniform(m, -aug.shear_degrees, aug.shear_degrees, gen),
                        torch.zeros(m))
    theta = torch.zeros(m, 2, 3)
    theta[:, 0, 0] = 1 / scale
    theta[:, 0, 1] = torch.tan(torch.deg2rad(angle)) / scale
    theta[:, 1, 1] = 1 / scale
    grid = F.affine_grid(theta, [m, 1, h, w], align_corners=False)
    noise = torch.rand(m, 2, h, w, generator=gen) * 2 - 1
    shift = _smooth(noise, aug.elastic_sigma) * aug.elastic_alpha  # pixels
    shift = shift * elastic[idx].float()[:, None, None, None]
    grid = grid + shift.permute(0, 2, 3, 1) * torch.tensor([2 / w, 2 / h])
    out = x.clone()
    out[idx] = F.grid_sample(x[idx], grid.to(x.dtype), mode="bilinear", padding_mode="zeros",
                             align_corners=False).clamp(0, 1)
    return out
