"""ABS and Binary ABS: class-conditional ELBOs maximised over the latents, all classes in one pass.

For an input x and class y, l_y(x) = max_z -(||x - D_y(z)||^2 + ||z||^2 / 2) / 784 (the ELBO per pixel
with a fixed posterior width, up to a constant). The search starts at the best of a fixed bank of
latents (decoded once per class and cached), then takes Adam steps on z, each followed by a
projection into the L2 ball of radius 5. The ten decoders run as one set of grouped convolutions.
With gradients enabled and an input that requires them, `elbo` (and so `forward`) is differentiable in
x by the envelope (Danskin) theorem: dl_y/dx = -2 (x - D_y(z*_y)) / 784 at the latent the search found.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from absnb.models.binarize import binarize, binarize_ste
from absnb.models.vae import DECODER, LATENT_DIM, VAE, Decoder

N_CLASSES = 10
N_PIXELS = 784
# Bump when a change here changes what the inference returns: every stored result of an ABS model
# (clean scores, attacks, distal adversarials, the Binary ABS scalars) is keyed by it.
INFERENCE_VERSION = 1


@dataclass(frozen=True)
class InferenceConfig:
    """ABS inference settings (the authors': 8,000 of 8,888 samples, 50 Adam steps of 0.05, radius 5)."""

    n_samples: int = 8000
    n_candidates: int = 8888
    steps: int = 50
    lr: float = 0.05
    radius: float = 5.0
    alpha: float = 440.0
    seed: int = 0


def latent_bank(cfg: InferenceConfig) -> torch.Tensor:
    """The n_samples latents of highest N(0, I) density (smallest norm) among n_candidates draws."""
    gen = torch.Generator().manual_seed(cfg.seed)
    z = torch.randn(cfg.n_candidates, LATENT_DIM, generator=gen)
    keep = z.norm(dim=1).argsort()[: cfg.n_samples]
    return z[keep]


def project_l2(z: torch.Tensor, radius: float) -> torch.Tensor:
    """Scale every latent whose norm exceeds `radius` back onto the sphere of that radius."""
    norm = z.norm(dim=-1, keepdim=True)
    return z * (radius / norm).clamp(max=1.0)


def bank_cost(bank_x: torch.Tensor, bank_z: torch.Tensor) -> torch.Tensor:
    """The image-independent part ||D_c(z)||^2 + ||z||^2 / 2 of the loss of every bank latent, (C, S)."""
    return bank_x.pow(2).sum(-1) + 0.5 * bank_z.pow(2).sum(-1)[None]


def bank_losses(x: torch.Tensor, bank_x: torch.Tensor, cost: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """For images x (B, 784), decoded banks (C, S, 784) and their `bank_cost`: the lowest loss
    ||x - D_c(z)||^2 + ||z||^2 / 2 over the bank, (C, B), and the index of the latent reaching it."""
    loss = cost[:, :, None] - 2 * torch.einsum("csp,bp->csb", bank_x, x)
    best, index = loss.min(dim=1)
    return best + x.pow(2).sum(-1), index


def best_bank_start(x: torch.Tensor, bank_x: torch.Tensor, bank_z: torch.Tensor,
                    cost: torch.Tensor) -> torch.Tensor:
    """The bank latent that minimises squared error + ||z||^2 / 2, per class and image, (C, B, 8)."""
    return bank_z[bank_losses(x, bank_x, cost)[1]]


def optimise_latents(decode: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                     z0: torch.Tensor, steps: int, lr: float, radius: float
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """Adam on z of the loss ||x - decode(z)||^2 + ||z||^2 / 2, projected after each step; returns
    the lowest loss visited per latent (shape z0.shape[:-1]) and the latent where it was reached.
    Elementwise Adam on the summed loss optimises every latent independently."""
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    z = z0.clone()
    m = torch.zeros_like(z)
    v = torch.zeros_like(z)
    best, best_z = None, z0.clone()
    with torch.enable_grad():
        for t in range(steps + 1):
            z.requires_grad_(True)
            loss = (x - decode(z)).pow(2).sum(-1) + 0.5 * z.pow(2).sum(-1)
            if best is None:
                best = loss.detach()
            else:
                better = loss.detach() < best
                best = torch.where(better, loss.detach(), best)
                best_z = torch.where(better[..., None], z.detach(), best_z)
            if t == steps:
                break
            (grad,) = torch.autograd.grad(loss.sum(), z)
            m = beta1 * m + (1 - beta1) * grad
            v = beta2 * v + (1 - beta2) * grad.pow(2)
            step = lr * (m / (1 - beta1 ** (t + 1))) / ((v / (1 - beta2 ** (t + 1))).sqrt() + eps)
            z = project_l2(z.detach() - step, radius)
    return best, best_z


def decode_bank(stacked: StackedDecoder, bank_z: torch.Tensor) -> torch.Tensor:
    """Every class's rendering of every bank latent, (C, S, 784); small chunks stay in the cache."""
    with torch.no_grad():
        return torch.cat([stacked(z.expand(stacked.n, -1, -1)) for z in bank_z.split(32)], 1)


class StackedDecoder(nn.Module):
    """Ten decoders as grouped transposed convolutions (eval-mode BatchNorm folded into the weights):
    maps latents (C, B, 8) to images (C, B, 784) in a single pass."""

    def __init__(self, decoders: list[Decoder]) -> None:
        super().__init__()
        self.n = len(decoders)
        layers: list[nn.Module] = []
        blocks = [_fold_bn(d.net) for d in decoders]
        for i, (_, k, s) in enumerate(DECODER):
            weights, biases = zip(*(b[i] for b in blocks))
            w = torch.cat(weights, 0)
            conv = nn.ConvTranspose2d(w.shape[0], w.shape[1] * self.n, k, stride=s, groups=self.n)
            conv.weight.data.copy_(w)
            conv.bias.data.copy_(torch.cat(biases))
            conv.requires_grad_(False)
            layers.append(conv)
            if i < len(DECODER) - 1:
                layers.append(nn.ELU())
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        c, b, _ = z.shape
        out = self.net(z.permute(1, 0, 2).reshape(b, c * LATENT_DIM, 1, 1))
        return torch.sigmoid(out).reshape(b, c, N_PIXELS).permute(1, 0, 2)


def _fold_bn(net: nn.Sequential) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(weight, bias) per transposed conv of a decoder with its following eval BatchNorm folded in."""
    convs = [m for m in net if isinstance(m, nn.ConvTranspose2d)]
    norms = [m for m in net if isinstance(m, nn.BatchNorm2d)] + [None]
    folded = []
    for conv, bn in zip(convs, norms):
        w, b = conv.weight.detach().clone(), conv.bias.detach().clone()
        if bn is not None:
            scale = bn.weight.detach() / (bn.running_var + bn.eps).sqrt()
            w = w * scale[None, :, None, None]
            b = (b - bn.running_mean) * scale + bn.bias.detach()
        folded.append((w, b))
    return folded


class ABS(nn.Module):
    """The ABS classifier: logits are gamma_y * l_y(x); `binary` binarises the input at test time."""

    # Images per batched search on a CPU: beyond a few dozen the grouped convolutions fall out of the
    # cache and run slower per image (measured by `make bench`); a GPU searches the whole batch.
    CPU_CHUNK = 16

    def __init__(self, vaes: list[VAE], cfg: InferenceConfig = InferenceConfig(),
                 binary: bool = False, gamma: torch.Tensor | None = None,
                 bank_x: torch.Tensor | None = None) -> None:
        """`bank_x`: the decoded bank (`decode_bank`) if already at hand, e.g. from a disk cache."""
        super().__init__()
        self.cfg = cfg
        self.binary = binary
        self.queries = 0  # images classified so far: every query of every attack goes through search
        self.vaes = nn.ModuleList(vaes).eval().requires_grad_(False)
        self.stacked = StackedDecoder([v.decoder for v in vaes])
        self.register_buffer("gamma", torch.ones(N_CLASSES) if gamma is None else gamma.float())
        self.register_buffer("bank_z", latent_bank(cfg), persistent=False)
        if bank_x is None:
            bank_x = decode_bank(self.stacked, self.bank_z)
        if bank_x.shape != (N_CLASSES, cfg.n_samples, N_PIXELS):
            raise ValueError(f"decoded bank of shape {tuple(bank_x.shape)} does not fit {cfg}")
        self.register_buffer("bank_x", bank_x, persistent=False)
        self.register_buffer("bank_cost", bank_cost(self.bank_x, self.bank_z), persistent=False)

    def search(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """l_y(x) per image and class, shape (B, 10), and the latents that reach it, (10, B, 8): all
        classes in one batched search, images in chunks of `CPU_CHUNK` on a CPU."""
        flat = self._prepare(x)
        self.queries += len(flat)
        size = self.CPU_CHUNK if flat.device.type == "cpu" else len(flat)
        parts = [self._search(chunk) for chunk in flat.split(max(size, 1))]
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts], 1)

    def _search(self, flat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z0 = best_bank_start(flat, self.bank_x, self.bank_z, self.bank_cost)
        best, best_z = optimise_latents(self.stacked, flat[None], z0, self.cfg.steps, self.cfg.lr,
                                        self.cfg.radius)
        return -best.T / N_PIXELS, best_z

    def bank_elbo(self, x: torch.Tensor) -> torch.Tensor:
        """The cheap inference: l_y(x) over the bank latents only (no Adam steps), shape (B, 10)."""
        flat = self._prepare(x)
        return -bank_losses(flat, self.bank_x, self.bank_cost)[0].T / N_PIXELS

    def elbo(self, x: torch.Tensor) -> torch.Tensor:
        """l_y(x) per image and class, shape (B, 10); differentiable in x if x requires grad."""
        best, best_z = self.search(x)
        if torch.is_grad_enabled() and x.requires_grad:
            best = best + self._envelope(x, best_z)
        return best

    def _envelope(self, x: torch.Tensor, best_z: torch.Tensor) -> torch.Tensor:
        """A zero (B, 10) whose gradient in x is the envelope gradient -2 (x - D_y(z*_y)) / 784.

        By Danskin's theorem the latent's dependence on x drops out at the optimum, so one decoder
        pass at the found latents gives the input gradient (the search itself is never unrolled).
        Binary ABS uses the binarised input and passes the gradient straight through the threshold.
        """
        flat = x.reshape(len(x), N_PIXELS)
        xin = binarize_ste(flat) if self.binary else flat
        with torch.no_grad():
            recon = self.stacked(best_z)
        s = -(xin[None] - recon).pow(2).sum(-1).T / N_PIXELS
        return s - s.detach()

    def reconstruct(self, z: torch.Tensor) -> torch.Tensor:
        """Images (B, 10, 784) that each class's decoder renders from latents (10, B, 8)."""
        with torch.no_grad():
            return self.stacked(z).transpose(0, 1)

    def elbo_loop(self, x: torch.Tensor) -> torch.Tensor:
        """Reference implementation of `elbo`: a plain loop over the ten decoders."""
        flat = self._prepare(x)
        columns = []
        for c, vae in enumerate(self.vaes):
            z0 = best_bank_start(flat, self.bank_x[c:c + 1], self.bank_z, self.bank_cost[c:c + 1])[0]
            columns.append(optimise_latents(vae.decoder, flat, z0, self.cfg.steps, self.cfg.lr,
                                            self.cfg.radius)[0])
        return -torch.stack(columns, 1) / N_PIXELS

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.elbo(x) * self.gamma

    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """p(y|x) = softmax(alpha * logits), alpha on the authors' per-pixel scale."""
        return torch.softmax(self.cfg.alpha * self(x), dim=1)

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        x = x.detach().reshape(len(x), N_PIXELS)
        return binarize(x) if self.binary else x


def fit_gamma(elbos: torch.Tensor, labels: torch.Tensor, grid: torch.Tensor,
              rounds: int = 3) -> torch.Tensor:
    """Class scalars gamma_y by coordinate-wise line search on accuracy of argmax(gamma * l(x)).

    Each round visits the classes in turn and keeps the grid value with the highest accuracy; ties go
    to the value closest to the current one, so gamma stays at 1 unless it helps.
    """
    gamma = torch.ones(elbos.shape[1], dtype=elbos.dtype)
    for _ in range(rounds):
        for y in range(len(gamma)):
            trial = gamma.repeat(len(grid), 1)
            trial[:, y] = grid
            correct = ((elbos[None] * trial[:, None]).argmax(-1) == labels).sum(1)
            tied = grid[correct == correct.max()]
            gamma[y] = tied[(tied - gamma[y]).abs().argmin()]
    return gamma
