"""A few dozen Adam steps on the first training images: a small model that classifies well enough
for attacks to have work to do, shared by the attack and primer tests."""

from __future__ import annotations

import torch
from torch import nn

from absnb.data import load_split


def quick_train(model: nn.Module, seed: int = 0, images: int = 4000) -> nn.Module:
    """`model` trained with Adam (lr 2e-3, batch 64) on a seeded shuffle of `images` training images."""
    torch.manual_seed(seed)
    x, y = load_split("train")
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    for idx in torch.randperm(images).split(64):
        loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()
