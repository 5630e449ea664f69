"""Latent Descent finds adversarials that the ABS models really misclassify, as close as bisection gets."""

from __future__ import annotations

import pytest
import torch

from absnb.attacks.latent_descent import latent_descent
from absnb.data import load_split
from absnb.models.abs import ABS, InferenceConfig
from absnb.models.binarize import THRESHOLD, binarize
from absnb.models.vae import VAE


@pytest.fixture(scope="module")
def images():
    x, _ = load_split("test")
    return x[:6]


def _abs(binary: bool) -> ABS:
    """Random VAEs whose decoders draw high-contrast images (random ones draw uniform grey, which no
    binarised image can move towards)."""
    torch.manual_seed(0)
    vaes = [VAE().eval() for _ in range(10)]
    for vae in vaes:
        vae.decoder.net[-1].weight.data *= 30
    return ABS(vaes, InferenceConfig(n_samples=60, n_candidates=70, steps=2), binary=binary)


@pytest.mark.parametrize("binary", [False, True])
def test_found_adversarials_are_misclassified(images, binary):
    model = _abs(binary)
    with torch.no_grad():
        y = model(images).argmax(1)  # the model's own decisions: clean images all "correct"
    adv, found = latent_descent(model, images, y, eps=0.05, max_steps=200, search_steps=8)
    assert found.all()
    with torch.no_grad():
        assert (model(adv).argmax(1) != y).all()
    assert adv.min() >= 0 and adv.max() <= 1


def test_bisection_shrinks_the_perturbation(images):
    model = _abs(False)
    with torch.no_grad():
        y = model(images).argmax(1)
    coarse, _ = latent_descent(model, images, y, eps=0.05, max_steps=200, search_steps=0)
    fine, _ = latent_descent(model, images, y, eps=0.05, max_steps=200, search_steps=8)
    assert ((fine - images).flatten(1).norm(dim=1) <= (coarse - images).flatten(1).norm(dim=1) + 1e-6).all()


def test_binary_adversarials_move_only_pixels_that_flip(images):
    model = _abs(True)
    with torch.no_grad():
        y = model(images).argmax(1)
    adv, found = latent_descent(model, images, y, eps=0.05, max_steps=200, search_steps=8)
    flipped = binarize(adv) != binarize(images)
    moved = adv != images
    assert (moved == flipped).all(), "a pixel moved without changing its binarised value"
    just_above = torch.nextafter(torch.tensor(THRESHOLD), torch.tensor(1.0))
    crossing = adv[flipped]
    assert ((crossing == THRESHOLD) | (crossing == just_above)).all()
