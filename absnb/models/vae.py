"""One class-conditional VAE of the ABS model (latent dimension 8) and its training loss.

Encoder: convs with kernels 5, 4, 3, 5, channels 32, 32, 64, 16 (8 means, 8 log-variances), strides
1, 2, 2, 1 (28 -> 24 -> 11 -> 5 -> 1). Decoder: transposed convs with kernels 4, 5, 5, 4, channels 32,
16, 16, 1, strides 1, 2, 2, 1 (1 -> 4 -> 11 -> 25 -> 28), sigmoid output. BatchNorm + ELU after all
but the last layer of each.
"""

from __future__ import annotations

import torch
from torch import nn

LATENT_DIM = 8
ENCODER = ((32, 5, 1), (32, 4, 2), (64, 3, 2), (2 * LATENT_DIM, 5, 1))  # (channels, kernel, stride)
DECODER = ((32, 4, 1), (16, 5, 2), (16, 5, 2), (1, 4, 1))


def _stack(conv: type[nn.Module], spec: tuple, in_ch: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (out_ch, k, s) in enumerate(spec):
        layers.append(conv(in_ch, out_ch, k, stride=s))
        if i < len(spec) - 1:
            layers += [nn.BatchNorm2d(out_ch), nn.ELU()]
        in_ch = out_ch
    return nn.Sequential(*layers)


class Decoder(nn.Module):
    """Maps latents (..., 8) to images (..., 784) in [0, 1]."""

    def __init__(self) -> None:
        super().__init__()
        self.net = _stack(nn.ConvTranspose2d, DECODER, LATENT_DIM)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        lead = z.shape[:-1]
        out = self.net(z.reshape(-1, LATENT_DIM, 1, 1))
        return torch.sigmoid(out).reshape(*lead, 784)


class VAE(nn.Module):
    """Encoder q(z|x) (used in training only) and decoder p(x|z) of one class."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = _stack(nn.Conv2d, ENCODER, 1)
        self.decoder = Decoder()

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.encoder(x).flatten(1)
        return out[:, :LATENT_DIM], out[:, LATENT_DIM:]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        return self.decoder(z), mu, logvar


def vae_loss(x: torch.Tensor, recon: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
             kl_weight: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Batch means of the squared error (Gaussian likelihood) and of the KL to N(0, I); returns
    (loss to minimise = SE + kl_weight * KL, SE). With stacked VAEs (recon (B, G, 784)), the sums of
    the G VAEs' batch means, so each VAE gets exactly the gradient of its own loss."""
    se = (x.reshape(recon.shape) - recon).pow(2).sum(-1).mean(0).sum()
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(-1).mean(0).sum()
    return se + kl_weight * kl, se
