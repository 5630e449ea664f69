"""Small ABS models for the tests: random VAEs built to exercise what the trained ones would."""

from __future__ import annotations

import torch
from torch import nn

from absnb.models.abs import ABS, InferenceConfig
from absnb.models.vae import VAE


def random_vae(seed: int, decoder_scale: float = 1.0) -> VAE:
    """A random VAE whose BatchNorms have non-trivial running stats and affine params; scaling its
    decoder weights makes the decoded image depend strongly on z (plain random decoders barely do)."""
    torch.manual_seed(seed)
    vae = VAE()
    with torch.no_grad():
        for m in vae.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.5)
                m.running_var.uniform_(0.3, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.3)
        for m in vae.decoder.modules():
            if isinstance(m, nn.ConvTranspose2d):
                m.weight.mul_(decoder_scale)
    return vae.eval()


def contrast_abs(binary: bool) -> ABS:
    """A tiny ABS whose random decoders draw high-contrast images (random ones draw uniform grey, which
    no binarised image can move towards), cheap enough to attack in a test."""
    torch.manual_seed(0)
    vaes = [VAE().eval() for _ in range(10)]
    for vae in vaes:
        vae.decoder.net[-1].weight.data *= 30
    return ABS(vaes, InferenceConfig(n_samples=60, n_candidates=70, steps=2), binary=binary)
