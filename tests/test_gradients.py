"""The gradient estimator of the "w/ GE" attacks against autograd, and the straight-through gradient."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from absnb.attacks.gradients import (
    autograd_gradient,
    coordinate_gradient,
    coordinate_jacobian,
    cross_entropy_loss,
)
from absnb.models.cnn import CNN


def _cnn() -> CNN:
    torch.manual_seed(0)
    return CNN().eval().double()


def test_coordinate_estimate_matches_autograd_on_the_cnn():
    model = _cnn()
    x = torch.rand(2, 1, 28, 28, dtype=torch.float64) * 0.8 + 0.1  # away from the box edges
    y = torch.tensor([3, 7])
    loss = cross_entropy_loss(model)
    exact = autograd_gradient(loss, x, y)
    estimate = coordinate_gradient(loss, x, y, step=1e-4, queries_per_batch=800)
    cosine = F.cosine_similarity(estimate.flatten(1), exact.flatten(1))
    assert (cosine > 0.9999).all(), cosine


def test_estimate_is_per_sample():
    """Each sample's estimate depends only on that sample, whatever shares its batch."""
    model = _cnn()
    loss = cross_entropy_loss(model)
    x = torch.rand(3, 1, 28, 28, dtype=torch.float64)
    y = torch.tensor([1, 2, 3])
    together = coordinate_gradient(loss, x, y, step=1e-3, queries_per_batch=600)
    alone = coordinate_gradient(loss, x[1:2], y[1:2], step=1e-3, queries_per_batch=600)
    torch.testing.assert_close(together[1:2], alone)


def test_estimate_stays_inside_the_box():
    """At a pixel on the boundary, the difference uses the clipped step, not the nominal one."""
    x = torch.zeros(1, 1, 2, 2, dtype=torch.float64)
    x[0, 0, 0, 0] = 1.0
    weights = torch.tensor([2.0, -1.0, 0.5, 3.0], dtype=torch.float64)

    def loss(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        assert images.min() >= 0 and images.max() <= 1
        return images.flatten(1) @ weights

    grad = coordinate_gradient(loss, x, torch.zeros(1, dtype=torch.long), step=0.1)
    torch.testing.assert_close(grad.flatten(), weights)


def test_straight_through_gradient_is_nonzero_through_binarisation():
    torch.manual_seed(0)
    model = CNN(binary=True).eval()
    x = torch.rand(2, 1, 28, 28)
    grad = autograd_gradient(cross_entropy_loss(model), x, torch.tensor([0, 1]))
    assert grad.abs().sum() > 0
    # ... while the binarised model's finite-difference gradient is zero almost everywhere.
    estimate = coordinate_gradient(cross_entropy_loss(model), x, torch.tensor([0, 1]), step=1e-4,
                                   queries_per_batch=1568)
    assert (estimate != 0).float().mean() < 0.02


def test_clipped_steps_are_not_queried_again_and_change_nothing():
    """Pixels at 0 (or 1) cost one query, not two, and the estimate equals the one that queries both."""
    model = _cnn()
    x = torch.rand(2, 1, 28, 28, dtype=torch.float64)
    x[:, :, :20] = 0.0  # most of the image at 0, like MNIST's background
    x[:, :, 20:22] = 1.0
    calls = []

    def logits(images: torch.Tensor, owner: torch.Tensor) -> torch.Tensor:
        calls.append(len(images))
        return model(images)

    jac = coordinate_jacobian(logits, x, step=0.05, queries_per_batch=500)
    moved = 2 * x.numel() - int((x == 0).sum()) - int((x == 1).sum())
    assert sum(calls) == len(x) + moved
    h = 0.05
    for n, i in [(0, 5), (1, 600), (0, 17 * 28 + 3), (1, 21 * 28 + 9), (0, 783)]:
        e = torch.zeros(784, dtype=torch.float64)
        e[i] = 1
        img = x[n].flatten()
        plus, minus = (img + h * e).clamp(0, 1), (img - h * e).clamp(0, 1)
        with torch.no_grad():
            out = model(torch.stack([plus, minus]).view(2, 1, 28, 28))
        expected = (out[0] - out[1]) / (plus[i] - minus[i])
        torch.testing.assert_close(jac[n, :, 0, i // 28, i % 28], expected)
