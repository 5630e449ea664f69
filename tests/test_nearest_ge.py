"""The closed-form "w/ GE" estimate of the Nearest Neighbour model equals the queried one."""

from __future__ import annotations

import pytest
import torch

import absnb.attacks.estimated as estimated
from absnb.attacks.estimated import EstimatedGradientModel
from absnb.attacks.gradients import coordinate_jacobian
from absnb.attacks.nearest_ge import nearest_jacobian
from absnb.data import load_split
from absnb.models.nearest import NearestNeighbour

TRAIN = 3000
STEPS = (0.1, 0.6)


@pytest.fixture(scope="module")
def data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A training subset, and test images plus two whose pixels sit at and near the box bounds."""
    train_x, train_y = load_split("train")
    test_x, _ = load_split("test")
    bounds = test_x[4].clone()
    bounds[0, :4] = 0.0  # exactly at the bounds: one step of each pair is clipped away
    bounds[0, 4:8] = 1.0
    near = test_x[5].clone()
    near[0, :3] = 0.04  # within h of 0 (both step sizes): the -h step is clipped
    near[0, 3:6] = 0.97  # within h of 1: the +h step is clipped
    near[0, 6:9] = 0.5  # within 0.6 of both bounds: both steps are clipped at h = 0.6
    x = torch.cat([test_x[:4], bounds[None], near[None]])
    return train_x[:TRAIN], train_y[:TRAIN], x


def _float64_model(train_x: torch.Tensor, train_y: torch.Tensor) -> NearestNeighbour:
    """The model in float64 throughout (its squared norms are otherwise summed in float32)."""
    model = NearestNeighbour(train_x, train_y).double()
    model.train_sq = model.train_x.pow(2).sum(1)
    return model


def _queried(model: NearestNeighbour, x: torch.Tensor, step: float) -> torch.Tensor:
    return coordinate_jacobian(lambda images, owner: model(images), x, step, queries_per_batch=2000)


@pytest.mark.parametrize("step", STEPS)
def test_closed_form_equals_the_queried_estimate_in_float64(data, step):
    train_x, train_y, x = data
    model = _float64_model(train_x, train_y)
    x = x.double()
    queried = _queried(model, x, step)
    closed = nearest_jacobian(model, x, step)
    assert closed.shape == queried.shape == (len(x), 10, 1, 28, 28)
    assert closed.dtype == torch.float64
    assert (queried != 0).float().mean() > 0.5  # a real comparison, not of zeros
    torch.testing.assert_close(closed, queried, rtol=0, atol=1e-10)  # measured: <= 1e-13


@pytest.mark.parametrize("step", STEPS)
def test_closed_form_matches_the_float32_model_up_to_its_rounding(data, step):
    """As the pipeline runs it: the float32 model's squared distances carry rounding of ~1e-5, which
    the queried estimate divides by the step width (>= step here); the closed form does not."""
    train_x, train_y, x = data
    model = NearestNeighbour(train_x, train_y)
    closed = nearest_jacobian(model, x, step)
    assert closed.dtype == torch.float32
    torch.testing.assert_close(closed, _queried(model, x, step), rtol=0, atol=1e-4 / step)


def test_closed_form_at_a_training_image_is_exact(data):
    """At a training image its own class's distance is |d| after a one-pixel step d, so that class's
    estimate is (|v- - x_i| - |v+ - x_i|) / width: 0 inside, -1 at 0, +1 at 1 (pixels at the bounds)."""
    train_x, train_y, _ = data
    model = _float64_model(train_x, train_y)
    x, label, step = train_x[:1].double(), int(train_y[0]), 0.1
    flat = x.flatten()
    up, down = (flat + step).clamp(0, 1), (flat - step).clamp(0, 1)
    expected = ((flat - down) - (up - flat)) / (up - down)
    closed = nearest_jacobian(model, x, step)[0, label].flatten()
    torch.testing.assert_close(closed, expected, rtol=0, atol=1e-12)
    # the queried model's distance to the image itself is sqrt(clamp_min(0) of the rounding of
    # |x|^2 + |t|^2 - 2 x.t), which depends on the BLAS and thread count: a sum of n products is off
    # by at most n eps sum|x_i t_i|, so the distance by sqrt(4 n eps |x|^2), divided by the width
    rounding = (4 * flat.numel() * torch.finfo(torch.float64).eps * flat.pow(2).sum()).sqrt() / step
    queried = _queried(model, x, step)[0, label].flatten()
    torch.testing.assert_close(closed, queried, rtol=0, atol=float(rounding))


def test_pruning_bound_is_not_needed_for_the_result(data, monkeypatch):
    """With the pruning switched off (every training image a candidate) the numbers are the same."""
    train_x, train_y, x = data
    model = _float64_model(train_x, train_y)
    pruned = nearest_jacobian(model, x.double(), 0.6)
    monkeypatch.setattr("absnb.attacks.nearest_ge._in_box", lambda images: False)
    full = nearest_jacobian(model, x.double(), 0.6, elements_per_chunk=1 << 20)
    torch.testing.assert_close(pruned, full, rtol=0, atol=1e-12)


def test_the_wrapper_uses_the_closed_form_for_nearest_neighbour(data, monkeypatch):
    train_x, train_y, x = data
    model = NearestNeighbour(train_x, train_y)
    expected = _queried(model, x, 0.1)

    def refuse(*args, **kwargs):
        raise AssertionError("the Nearest Neighbour estimate should not query the model")

    monkeypatch.setattr(estimated, "coordinate_jacobian", refuse)
    wrapped = EstimatedGradientModel(model, step=0.1)
    jac = wrapped.jacobian(x)
    torch.testing.assert_close(jac, expected, rtol=0, atol=1e-3)
    torch.testing.assert_close(jac, nearest_jacobian(model, x, 0.1), rtol=0, atol=0)
    assert len(wrapped.cache) == len(x)
    # the backward pass returns J^T v with the closed-form J
    images = x.clone().requires_grad_(True)
    weights = torch.randn(len(x), 10)
    (grad,) = torch.autograd.grad((wrapped(images) * weights).sum(), images)
    torch.testing.assert_close(grad, torch.einsum("nk,nk...->n...", weights, jac))
    # other models still query
    with pytest.raises(AssertionError, match="should not query"):
        EstimatedGradientModel(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10)),
                               step=0.1).jacobian(x)
