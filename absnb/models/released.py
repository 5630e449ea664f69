"""The authors' released ABS weights: ten class VAEs, shipped unchanged in data/released/ and checked.

The files are PyTorch 0.4 state dicts of bethgelab/AnalysisBySynthesis (commit daa5a3d, Apache-2.0;
see data/released/NOTICE). Their layers are ours one to one: ``Encoder.conv_k`` / ``Encoder.bn_k``
are the k-th Conv2d / BatchNorm2d of `VAE.encoder`, ``Decoder.conv_k`` / ``Decoder.bn_k`` the k-th
ConvTranspose2d / BatchNorm2d of `Decoder.net`. Every file's SHA-256 is checked on every load, and a
missing or unexpected tensor is an error, so nothing is ever scored on weights we did not verify.
"""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

import torch
from torch import nn

from absnb.data import DataIntegrityError
from absnb.models.vae import VAE
from absnb.paths import DATA_DIR

RELEASED_DIR = DATA_DIR / "released"
SOURCE = "https://github.com/bethgelab/AnalysisBySynthesis/raw/daa5a3d/exp/VAE_swarm_MSE/nets/"
FILES = tuple(f"ABS_{c}.net" for c in range(10))
# The class scalars of the authors' Binary ABS (abs_models/models.py, ELBOVAE_binary): a fact of
# the released model, used unchanged for Binary ABS (released).
GAMMA = (1.0, 0.96, 1.001, 1.06, 0.98, 0.96, 1.03, 1.0, 1.0, 1.0)
_KEY = re.compile(r"(Encoder|Decoder)\.(conv|bn)_(\d+)\.(\w+)")


def expected_digests(root: Path = RELEASED_DIR) -> dict[str, str]:
    """File name -> SHA-256, from the SHA256SUMS kept beside the files."""
    sums = Path(root) / "SHA256SUMS"
    if not sums.exists():
        raise DataIntegrityError(f"{sums} is missing; restore it with `git checkout -- {root}`")
    pairs = (line.split() for line in sums.read_text().splitlines() if line.strip())
    return {name: digest for digest, name in pairs}


def verified_bytes(name: str, root: Path = RELEASED_DIR) -> bytes:
    """The bytes of one released file, or an error naming it and how to restore it."""
    path = Path(root) / name
    restore = f"restore it with `git checkout -- {path}` or download {SOURCE}{name}"
    if not path.exists():
        raise DataIntegrityError(f"{path}: the released ABS weights file is missing; {restore}")
    raw = path.read_bytes()
    digest, expected = hashlib.sha256(raw).hexdigest(), expected_digests(root).get(name)
    if digest != expected:
        raise DataIntegrityError(f"{path}: SHA-256 {digest}, expected {expected}: the file is "
                                 f"corrupted or not the released one; {restore}")
    return raw


def digest(root: Path = RELEASED_DIR) -> str:
    """One SHA-256 over the ten verified files: the released models' weights digest."""
    sha = hashlib.sha256()
    for name in FILES:
        sha.update(verified_bytes(name, root))
    return sha.hexdigest()


def convert_state(original: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A released VAE's state dict in our `VAE`'s names; a missing or extra tensor is an error."""
    vae = VAE()
    layers = {("Encoder", kind): [m for m in vae.encoder if isinstance(m, cls)]
              for kind, cls in (("conv", nn.Conv2d), ("bn", nn.BatchNorm2d))}
    layers |= {("Decoder", kind): [m for m in vae.decoder.net if isinstance(m, cls)]
               for kind, cls in (("conv", nn.ConvTranspose2d), ("bn", nn.BatchNorm2d))}
    names = {module: name for name, module in vae.named_modules()}
    state = {}
    for key, tensor in original.items():
        match = _KEY.fullmatch(key)
        if match is None:
            raise DataIntegrityError(f"unexpected tensor {key!r} in a released VAE")
        part, kind, index, field = match.groups()
        modules = layers[(part, kind)]
        if int(index) >= len(modules):
            raise DataIntegrityError(f"unexpected tensor {key!r}: our VAE has {len(modules)} "
                                     f"{part} {kind} layers")
        state[f"{names[modules[int(index)]]}.{field}"] = tensor
    for module in layers[("Encoder", "bn")] + layers[("Decoder", "bn")]:
        state.setdefault(f"{names[module]}.num_batches_tracked", torch.tensor(0))  # torch 0.4 had none
    ours = vae.state_dict()
    missing, extra = sorted(set(ours) - set(state)), sorted(set(state) - set(ours))
    if missing or extra:
        raise DataIntegrityError(f"released VAE does not match ours: missing {missing}, extra {extra}")
    for key, tensor in state.items():
        if tensor.shape != ours[key].shape:
            raise DataIntegrityError(f"released tensor {key}: shape {tuple(tensor.shape)}, ours "
                                     f"{tuple(ours[key].shape)}")
    return state


def load_vaes(root: Path = RELEASED_DIR) -> list[VAE]:
    """The ten released VAEs (class 0 to 9) in eval mode, every file verified first."""
    vaes = []
    for name in FILES:
        original = torch.load(io.BytesIO(verified_bytes(name, root)), map_location="cpu", weights_only=True)
        vae = VAE()
        vae.load_state_dict(convert_state(original))
        vaes.append(vae.eval())
    return vaes
