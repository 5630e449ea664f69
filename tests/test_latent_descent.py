"""Latent Descent finds adversarials that the ABS models really misclassify, as close as bisection gets."""

from __future__ import annotations

import pytest
import torch
from small_abs import contrast_abs

from absnb.attacks.latent_descent import latent_descent
from absnb.data import load_split
from absnb.models.binarize import THRESHOLD, binarize


@pytest.fixture(scope="module")
def images():
    x, _ = load_split("test")
    return x[:6]


@pytest.mark.parametrize("binary", [False, True])
def test_found_adversarials_are_misclassified(images, binary):
    model = contrast_abs(binary)
    with torch.no_grad():
        y = model(images).argmax(1)  # the model's own decisions: clean images all "correct"
    adv, found = latent_descent(model, images, y, eps=0.05, max_steps=200, search_steps=8)
    assert found.all()
    with torch.no_grad():
        assert (model(adv).argmax(1) != y).all()
    assert adv.min() >= 0 and adv.max() <= 1


def test_bisection_shrinks_the_perturbation(images):
    model = contrast_abs(False)
    with torch.no_grad():
        y = model(images).argmax(1)
    coarse, _ = latent_descent(model, images, y, eps=0.05, max_steps=200, search_steps=0)
    fine, _ = latent_descent(model, images, y, eps=0.05, max_steps=200, search_steps=8)
    assert ((fine - images).flatten(1).norm(dim=1) <= (coarse - images).flatten(1).norm(dim=1) + 1e-6).all()


def test_binary_adversarials_move_only_pixels_that_flip(images):
    model = contrast_abs(True)
    with torch.no_grad():
        y = model(images).argmax(1)
    adv, found = latent_descent(model, images, y, eps=0.05, max_steps=200, search_steps=8)
    flipped = binarize(adv) != binarize(images)
    moved = adv != images
    assert (moved == flipped).all(), "a pixel moved without changing its binarised value"
    just_above = torch.nextafter(torch.tensor(THRESHOLD), torch.tensor(1.0))
    crossing = adv[flipped]
    assert ((crossing == THRESHOLD) | (crossing == just_above)).all()


def test_bisection_shrinks_the_perturbation_on_a_binarising_model(images):
    """The bisection runs on the raw adversarial, then post-processes: on Binary ABS it must move (it
    cannot on a post-processed point, where every point short of it binarises back to the clean image)."""
    model = contrast_abs(True)
    with torch.no_grad():
        y = model(images).argmax(1)
    coarse, _ = latent_descent(model, images, y, eps=0.05, max_steps=200, search_steps=0)
    fine, found = latent_descent(model, images, y, eps=0.05, max_steps=200, search_steps=8)
    assert found.all()
    with torch.no_grad():
        assert (model(fine).argmax(1) != y).all()
    l0_coarse = (coarse != images).flatten(1).sum(1)
    l0_fine = (fine != images).flatten(1).sum(1)
    assert (l0_fine <= l0_coarse).all() and (l0_fine < l0_coarse).any(), (l0_coarse, l0_fine)
