"""The six models of the paper, the substitute CNN and the authors' released ABS weights: names,
construction, loading of weights."""

from __future__ import annotations

import dataclasses
import hashlib

import torch
from torch import nn

from absnb import artifacts, data, profiles
from absnb.models import released
from absnb.models.abs import ABS, INFERENCE_VERSION, InferenceConfig, StackedDecoder, decode_bank, latent_bank
from absnb.models.cnn import CNN, SUBSTITUTE_CHANNELS
from absnb.models.madry import MadryNet
from absnb.models.nearest import NearestNeighbour
from absnb.models.vae import VAE
from absnb.profiles import Profile
from absnb.vocabulary import (
    ABS_MODELS,
    ALL_MODELS,
    BINARY_MODELS,
    RELEASED_MODELS,
    REQUIRES,
    TRAINED_MODELS,
)


def check_name(name: str, valid: tuple[str, ...] = ALL_MODELS) -> str:
    if name not in valid:
        raise ValueError(f"unknown model {name!r}; valid models: {', '.join(valid)}")
    return name


def inference_config(profile: Profile) -> InferenceConfig:
    a = profile.abs
    return InferenceConfig(n_samples=a.n_samples, n_candidates=a.n_candidates, steps=a.steps,
                           lr=a.inference_lr, radius=a.radius, alpha=a.alpha)


def inference_key(profile: Profile, name: str) -> dict | None:
    """What an ABS model's results depend on besides its weights: the inference settings and the
    inference code's version (None for the other models)."""
    if name not in ABS_MODELS:
        return None
    return dataclasses.asdict(inference_config(profile)) | {"version": INFERENCE_VERSION}


def build(name: str, profile: Profile) -> nn.Module:
    """A freshly initialised network (the ABS models are built from their VAEs at load time)."""
    check_name(name, TRAINED_MODELS)
    if name in ("cnn", "binary_cnn"):
        return CNN(binary=name == "binary_cnn")
    if name == "substitute":
        return CNN(SUBSTITUTE_CHANNELS)
    if name == "madry":
        return MadryNet()
    if name == "nearest":
        x, y = data.load_split("train")
        return NearestNeighbour(x[: profile.train_samples], y[: profile.train_samples])
    return nn.ModuleList(VAE() for _ in range(10))


def check_trained(name: str, profile: str) -> None:
    """A clear error, naming the training command, if `name` (or what it builds on) is not trained;
    for the released models, an error naming the file if one is missing or altered."""
    check_name(name)
    if name in RELEASED_MODELS:
        released.digest()
        return
    for needed in (*REQUIRES.get(name, ()), name):
        path = artifacts.weights_path(profile, needed)
        if not path.exists():
            raise FileNotFoundError(
                f"no weights for {needed!r} in profile {profile!r} ({path}); train them with "
                f"`make train-{needed} PROFILE={profile}` or notebooks/01_train with model={needed}")


def load(name: str, profile: Profile) -> nn.Module:
    """The trained model `name` of `profile` in eval mode; a clear error if it is not trained yet."""
    check_trained(name, profile.name)
    if name in ABS_MODELS:
        vaes = released.load_vaes() if name in RELEASED_MODELS else load_vaes(profile)
        cfg = inference_config(profile)
        bank = cached_bank(profile, vaes, cfg, weights_digest(profile.name, name.removeprefix("binary_")))
        return ABS(vaes, cfg, binary=name in BINARY_MODELS, gamma=_gamma(profile, name), bank_x=bank).eval()
    net = build(name, profile)
    net.load_state_dict(artifacts.load_torch(artifacts.weights_path(profile.name, name)))
    return net.eval()


def load_vaes(profile: Profile) -> list[VAE]:
    """The ten trained class-conditional VAEs of ABS (shared by Binary ABS)."""
    vaes = build("abs", profile)
    vaes.load_state_dict(artifacts.load_torch(artifacts.weights_path(profile.name, "abs")))
    return list(vaes.eval())


def _gamma(profile: Profile, name: str) -> torch.Tensor | None:
    """The class scalars of a Binary ABS model: fitted by us, or the authors' for the released one."""
    if name == "binary_abs":
        return artifacts.load_torch(artifacts.weights_path(profile.name, name))["gamma"]
    return torch.tensor(released.GAMMA) if name == "binary_abs_released" else None


def cached_bank(profile: Profile, vaes: list[VAE], cfg: InferenceConfig, vaes_digest: str) -> torch.Tensor:
    """The decoded latent bank of ten VAEs (digest `vaes_digest`), from a disk cache keyed by that
    digest and the bank's (decoding it costs ~10 s per load; ABS and Binary ABS share it)."""
    key = hashlib.sha256(vaes_digest.encode())
    key.update(repr((cfg.n_samples, cfg.n_candidates, cfg.seed)).encode())
    path = artifacts.cache_path(profile.name, f"abs_bank_{key.hexdigest()[:16]}.pt")
    if path.exists():
        return artifacts.load_torch(path)
    bank = decode_bank(StackedDecoder([v.decoder for v in vaes]), latent_bank(cfg))
    artifacts.save_torch(bank, path)
    return bank


def weights_digest(profile: str, model: str) -> str:
    """SHA-256 over the contents of the weights a model's results depend on (Binary ABS: the ABS VAEs
    too; Nearest Neighbour, whose file holds no tensors: its training-set size; the released models:
    the ten verified files)."""
    if model in RELEASED_MODELS:
        return released.digest()
    digest = hashlib.sha256()
    for needed in (*REQUIRES.get(model, ()), model):
        stored = artifacts.load_torch(artifacts.weights_path(profile, needed))
        digest.update(artifacts.content_digest(stored).encode())
    if model == "nearest":
        digest.update(f"train_samples={profiles.load(profile).train_samples}".encode())
    return digest.hexdigest()
