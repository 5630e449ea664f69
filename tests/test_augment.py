"""Training augmentation: untouched when nothing is drawn, a real and bounded change when it is."""

from __future__ import annotations

import torch

from absnb.augment import Augmentation, augment


def _digits(n: int = 64) -> torch.Tensor:
    from absnb import data

    return data.load_split("train")[0][:n]


def test_probability_zero_returns_the_images_unchanged():
    x = _digits()
    assert torch.equal(augment(x, torch.Generator().manual_seed(0), Augmentation(p=0.0)), x)


def test_about_the_chosen_fraction_of_images_changes_and_the_rest_is_untouched():
    x = _digits(400)
    out = augment(x, torch.Generator().manual_seed(1), Augmentation(p=0.1))
    changed = (out - x).flatten(1).abs().amax(1) > 1e-6
    # P(at least one of three transformations) = 1 - 0.9^3 = 0.271
    assert 0.18 < changed.float().mean().item() < 0.36
    assert out.min() >= 0 and out.max() <= 1


def test_transformations_are_small_and_reproducible():
    x = _digits()
    aug = Augmentation(p=1.0)
    a = augment(x, torch.Generator().manual_seed(2), aug)
    b = augment(x, torch.Generator().manual_seed(2), aug)
    assert torch.equal(a, b)
    change = (a - x).flatten(1).norm(dim=1) / x.flatten(1).norm(dim=1)
    assert (change > 0.02).all()  # every image moved
    assert change.median() < 0.8  # but stays the same digit-sized drawing, not noise
    mass = a.flatten(1).sum(1) / x.flatten(1).sum(1)
    assert ((mass > 0.6) & (mass < 1.6)).all()  # zoom scales the area by up to 1.21


def test_zoom_alone_scales_the_drawing_about_the_centre():
    x = torch.zeros(1, 1, 28, 28)
    x[..., 10:18, 10:18] = 1.0
    zoom_in = Augmentation(p=1.0, zoom=0.1, shear_degrees=0.0, elastic_alpha=0.0)
    gen = torch.Generator().manual_seed(3)
    out = augment(x.repeat(200, 1, 1, 1), gen, zoom_in)
    ratio = out.flatten(1).sum(1) / x.sum()
    assert ratio.min() > 0.75 and ratio.max() < 1.3  # area scales by s^2, s in [0.9, 1.1]
    assert ratio.std() > 0.05
