"""A model wrapped with estimated gradients behaves like the real one under foolbox's attacks."""

from __future__ import annotations

import foolbox as fb
import torch
import torch.nn.functional as F

from absnb.attacks.estimated import EstimatedGradientModel
from absnb.models.cnn import CNN


def _cnn() -> CNN:
    torch.manual_seed(0)
    return CNN().eval().double()


def test_wrapped_gradient_matches_autograd():
    model = _cnn()
    x = (torch.rand(2, 1, 28, 28, dtype=torch.float64) * 0.8 + 0.1).requires_grad_(True)
    y = torch.tensor([4, 9])
    (exact,) = torch.autograd.grad(F.cross_entropy(model(x), y), x)
    wrapped = EstimatedGradientModel(model, step=1e-4, queries_per_batch=800)
    (estimate,) = torch.autograd.grad(F.cross_entropy(wrapped(x), y), x)
    assert (F.cosine_similarity(estimate.flatten(1), exact.flatten(1)) > 0.9999).all()
    torch.testing.assert_close(wrapped(x), model(x))


def test_foolbox_fgsm_runs_on_the_wrapped_model_like_on_the_real_one():
    model = _cnn()
    x = torch.rand(3, 1, 28, 28, dtype=torch.float64) * 0.8 + 0.1
    y = model(x).argmax(1)
    attack = fb.attacks.FGSM()
    real = fb.PyTorchModel(model, bounds=(0, 1))
    wrapped = EstimatedGradientModel(model, step=1e-4, queries_per_batch=800)
    estimated = fb.PyTorchModel(wrapped, bounds=(0, 1))
    _, adv_real, _ = attack(real, x, y, epsilons=0.05)
    _, adv_est, _ = attack(estimated, x, y, epsilons=0.05)
    agree = (adv_real == adv_est).double().mean()
    assert agree > 0.99, agree
