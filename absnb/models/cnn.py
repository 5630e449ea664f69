"""The baseline CNN, the Binary CNN and the substitute CNN of the transfer attacks.

Four convolutions (kernels 5, 4, 3, 5; strides 1, 2, 2, 1; 28 -> 24 -> 11 -> 5 -> 1) with BatchNorm and
ELU after all but the last; the logits are the final 1x1 map.
"""

from __future__ import annotations

import torch
from torch import nn

from absnb.models.binarize import binarize_ste

KERNELS = (5, 4, 3, 5)
STRIDES = (1, 2, 2, 1)
CNN_CHANNELS = (20, 70, 256, 10)
SUBSTITUTE_CHANNELS = (32, 32, 64, 10)


class CNN(nn.Module):
    """Four-layer all-convolutional classifier; `binary` binarises the input (straight-through)."""

    def __init__(self, channels: tuple[int, ...] = CNN_CHANNELS, binary: bool = False) -> None:
        super().__init__()
        self.binary = binary
        layers: list[nn.Module] = []
        in_ch = 1
        for i, (out_ch, k, s) in enumerate(zip(channels, KERNELS, STRIDES)):
            layers.append(nn.Conv2d(in_ch, out_ch, k, stride=s))
            if i < len(channels) - 1:
                layers += [nn.BatchNorm2d(out_ch), nn.ELU()]
            in_ch = out_ch
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.binary:
            x = binarize_ste(x)
        return self.net(x).flatten(1)
