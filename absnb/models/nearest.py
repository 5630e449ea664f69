"""L2 1-nearest-neighbour over the training set as a classifier with logits.

The logit of a class is minus the smallest L2 distance to a training image of that class, computed
with matrix products in chunks of the training set (no loop over samples).
"""

from __future__ import annotations

import torch
from torch import nn


class NearestNeighbour(nn.Module):
    """Batched 1-NN; the training images are buffers, not learned weights."""

    def __init__(self, train_x: torch.Tensor, train_y: torch.Tensor, chunk: int = 20000) -> None:
        super().__init__()
        self.register_buffer("train_x", train_x.reshape(len(train_x), -1).float(), persistent=False)
        self.register_buffer("train_y", train_y.long(), persistent=False)
        self.register_buffer("train_sq", self.train_x.pow(2).sum(1), persistent=False)
        self.chunk = chunk

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(len(x), -1)
        x_sq = flat.pow(2).sum(1, keepdim=True)
        best = flat.new_full((len(x), 10), float("inf"))
        for start in range(0, len(self.train_x), self.chunk):
            t = self.train_x[start:start + self.chunk]
            d2 = (x_sq + self.train_sq[start:start + self.chunk] - 2 * flat @ t.T).clamp_min(0)
            labels = self.train_y[start:start + self.chunk].expand(len(x), -1)
            best = best.scatter_reduce(1, labels, d2, reduce="amin")
        return -best.sqrt()
