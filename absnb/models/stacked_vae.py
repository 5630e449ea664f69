"""The ten class-conditional VAEs of ABS as one network of grouped convolutions, for training.

Group g of every layer is VAE g: a batch holds one image per class in each of its ten channels, so
all ten VAEs train together on class-balanced batches in a single pass. BatchNorm normalises each
channel on its own, so the groups never mix. Every weight, bias and BatchNorm statistic of the
stacked network is the concatenation of the ten VAEs' along its first axis: `stack_states` and
`split_state` convert between the two layouts, so the saved weights stay ten ordinary VAEs.
"""

from __future__ import annotations

import torch
from torch import nn

from absnb.models.vae import DECODER, ENCODER, LATENT_DIM, VAE

N_PIXELS = 784


def _grouped(conv: type[nn.Module], spec: tuple, in_ch: int, groups: int) -> nn.Sequential:
    """The layers of `absnb.models.vae._stack`, each widened to `groups` independent groups."""
    layers: list[nn.Module] = []
    for i, (out_ch, k, s) in enumerate(spec):
        layers.append(conv(in_ch * groups, out_ch * groups, k, stride=s, groups=groups))
        if i < len(spec) - 1:
            layers += [nn.BatchNorm2d(out_ch * groups), nn.ELU()]
        in_ch = out_ch
    return nn.Sequential(*layers)


class StackedVAE(nn.Module):
    """`groups` VAEs in one pass: images (B, G, 28, 28), image g of a row belonging to class g."""

    def __init__(self, groups: int = 10, posterior_mean: str = "linear") -> None:
        """`posterior_mean`: "tanh" squashes the encoder's means into (-1, 1), as the authors' released
        VAEs do (the encoders serve training only, so the saved VAEs are the same either way)."""
        super().__init__()
        self.groups = groups
        self.squash = posterior_mean == "tanh"
        self.encoder = _grouped(nn.Conv2d, ENCODER, 1, groups)
        # keyed like `Decoder` (decoder.net.*), so the two layouts share every state-dict key
        self.decoder = nn.ModuleDict({"net": _grouped(nn.ConvTranspose2d, DECODER, LATENT_DIM, groups)})

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstructions (B, G, 784) and posterior means and log-variances (B, G, 8)."""
        b, g = x.shape[:2]
        stats = self.encoder(x).reshape(b, g, 2 * LATENT_DIM)
        mu, logvar = stats[..., :LATENT_DIM], stats[..., LATENT_DIM:]
        mu = torch.tanh(mu) if self.squash else mu
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        out = self.decoder["net"](z.reshape(b, g * LATENT_DIM, 1, 1))
        return torch.sigmoid(out).reshape(b, g, N_PIXELS), mu, logvar


def stack_states(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The StackedVAE state of VAE states (the same keys): tensors concatenated along axis 0."""
    return {key: torch.cat([s[key] for s in states]) if states[0][key].dim() else states[0][key]
            for key in states[0]}


def split_state(state: dict[str, torch.Tensor], groups: int) -> list[dict[str, torch.Tensor]]:
    """The VAE states of a StackedVAE state: every tensor cut into `groups` equal parts on axis 0."""
    parts: list[dict[str, torch.Tensor]] = [{} for _ in range(groups)]
    for key, value in state.items():
        pieces = value.chunk(groups) if value.dim() else [value] * groups
        for part, piece in zip(parts, pieces):
            part[key] = piece.clone()
    return parts


def to_vaes(stacked: StackedVAE) -> list[VAE]:
    """Ten ordinary VAEs with the stacked network's weights and BatchNorm statistics."""
    vaes = [VAE() for _ in range(stacked.groups)]
    for vae, state in zip(vaes, split_state(stacked.state_dict(), stacked.groups)):
        vae.load_state_dict(state)
    return vaes


def from_vaes(vaes: list[VAE]) -> StackedVAE:
    """The stacked network of a list of VAEs (the inverse of `to_vaes`)."""
    stacked = StackedVAE(len(vaes))
    stacked.load_state_dict(stack_states([v.state_dict() for v in vaes]))
    return stacked
