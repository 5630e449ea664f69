"""The primer's attacks do what the chapter says: Szegedy's targeted search and FGSM, on a real CNN."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from quick_train import quick_train

from absnb import primer
from absnb.data import load_split
from absnb.models.cnn import CNN

C_GRID = [3.0, 1.0, 0.3]
STEPS = 20
ETAS = [0.0, 0.05, 0.1, 0.3]


@pytest.fixture(scope="module")
def trained():
    """A CNN trained for a few dozen Adam steps on 4,000 images (~90% test accuracy) and 500 test images."""
    model = quick_train(CNN())
    tx, ty = load_split("test")
    return model, tx[:500], ty[:500]


@pytest.fixture(scope="module")
def problems(trained):
    """Four correctly classified test images, each with two targets other than its class."""
    model, x, y = trained
    ok = (primer.classify(model, x)[0] == y).nonzero().squeeze(1)[:4]
    xs = x[ok].repeat(2, 1, 1, 1)
    source = y[ok].repeat(2)
    target = torch.cat([(y[ok] + 1) % 10, (y[ok] + 5) % 10])
    return model, xs, source, target


@pytest.fixture(scope="module")
def attacked(problems):
    model, x, _, target = problems
    return primer.szegedy_attack(model, x, target, C_GRID, STEPS)


def test_szegedy_successes_are_the_target_and_in_the_box(problems, attacked):
    model, x, _, target = problems
    adv, success, c_used = attacked
    assert success.float().mean() >= 0.75, "the attack should reach most targets of a weak CNN"
    with torch.no_grad():
        pred = model(adv).argmax(1)
    assert torch.equal(pred[success], target[success])
    assert adv.min() >= 0 and adv.max() <= 1
    assert torch.equal(adv[~success], x[~success]) and c_used[~success].isnan().all()
    assert torch.isin(c_used[success], torch.tensor(C_GRID)).all()


def test_szegedy_keeps_the_smallest_successful_norm_over_c(problems, attacked):
    model, x, _, target = problems
    adv, success, _ = attacked
    single = []
    for c in C_GRID:
        a, s, _ = primer.szegedy_attack(model, x, target, [c], STEPS)
        single.append(torch.where(s, primer.l2_norms(x, a), torch.tensor(float("inf"))))
    expected = torch.stack(single).min(0).values
    assert torch.equal(success, torch.isfinite(expected))
    torch.testing.assert_close(primer.l2_norms(x, adv)[success], expected[success])


def test_larger_c_trades_a_smaller_perturbation_for_a_larger_loss(problems):
    model, x, _, target = problems
    norms, losses = [], []
    for c in C_GRID:  # decreasing c
        adv = primer.lbfgs_minimiser(model, x, target, c, STEPS)
        norms.append(primer.l2_norms(x, adv))
        with torch.no_grad():
            losses.append(F.cross_entropy(model(adv), target, reduction="none"))
    norms, losses = torch.stack(norms), torch.stack(losses)
    assert (norms[1:] >= norms[:-1] - 1e-3).all(), "a larger c must not give a larger perturbation"
    assert (losses[1:] <= losses[:-1] + 1e-3).all(), "a smaller c must not give a larger target loss"


def test_bisection_only_improves_on_the_grid(problems, attacked):
    model, x, _, target = problems
    adv, success, _ = attacked
    adv_b, success_b, c_b = primer.szegedy_attack(model, x, target, C_GRID, STEPS, bisect_steps=2)
    assert (success_b >= success).all()
    assert (primer.l2_norms(x, adv_b)[success] <= primer.l2_norms(x, adv)[success] + 1e-6).all()
    with torch.no_grad():
        assert torch.equal(model(adv_b).argmax(1)[success_b], target[success_b])
    assert (c_b[success_b] <= max(C_GRID)).all() and (c_b[success_b] >= min(C_GRID)).all()


def test_szegedy_direction_matters_more_than_its_size(problems, attacked):
    """Random noise of the adversarial's norm keeps the source class: the attack found a special direction."""
    model, x, source, _ = problems
    adv, success, _ = attacked
    torch.manual_seed(1)
    noise = torch.randn_like(x)
    noise *= (primer.l2_norms(x, adv) / noise.flatten(1).norm(dim=1)).view(-1, 1, 1, 1)
    kept = primer.classify(model, (x + noise).clamp(0, 1))[0] == source
    assert kept[success].float().mean() >= 0.75


def test_fgsm_is_a_clipped_signed_gradient_step(trained):
    model, x, y = trained
    x, y = x[:16], y[:16]
    advs = primer.fgsm_sweep(model, x, y, ETAS)
    assert advs.shape == (len(ETAS), *x.shape)
    assert torch.equal(advs[0], x)
    xg = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(F.cross_entropy(model(xg), y), xg)
    sign = grad.sign()
    for eta, adv in zip(ETAS[1:], advs[1:]):
        r = adv - x
        assert adv.min() >= 0 and adv.max() <= 1
        free = (sign != 0) & ((x + eta * sign) >= 0) & ((x + eta * sign) <= 1)
        torch.testing.assert_close(r[free].abs(), torch.full_like(r[free], eta))
        assert torch.equal(r[free].sign(), sign[free])
        assert r.abs().max() <= eta + 1e-6
        clipped = (sign != 0) & ~free
        assert ((adv[clipped] == 0) | (adv[clipped] == 1)).all()


def test_fgsm_lowers_accuracy_as_eta_grows(trained):
    model, x, y = trained
    accuracy = primer.fgsm_accuracy(model, x[:200], y[:200], ETAS, batch_size=100)
    clean = 100 * (primer.classify(model, x[:200])[0] == y[:200]).float().mean()
    assert accuracy[0] == pytest.approx(float(clean))
    assert accuracy[-1] < accuracy[0] - 30


def test_targeted_grid_and_figures(trained):
    model, x, y = trained
    sources = primer.one_per_class(model, x, y, seed=0)
    assert torch.equal(primer.classify(model, sources)[0], torch.arange(10))
    grid = primer.targeted_grid(model, sources, [1.0, 0.1], steps=10)
    eye = torch.eye(10, dtype=torch.bool)
    assert torch.equal(grid.advs[eye], sources) and (grid.norms[eye] == 0).all()
    assert not grid.success[eye].any()
    cols = torch.arange(10).expand(10, 10)
    assert torch.equal(grid.predictions[grid.success], cols[grid.success])
    assert grid.success[~eye].float().mean() >= 0.75
    assert torch.isinf(grid.norms[~eye & ~grid.success]).all()
    assert grid.advs.min() >= 0 and grid.advs.max() <= 1
    assert "Run again" in primer.grid_summary(grid, sources)
    fig = primer.targeted_grid_figure(sources, grid.advs, grid.predictions)
    assert isinstance(fig, Figure) and len(fig.axes) == 100
    advs = primer.fgsm_sweep(model, sources[:2], torch.arange(2), ETAS)
    pc = [primer.classify(model, a) for a in advs]
    fig = primer.fgsm_figure(sources[:2], advs, ETAS, torch.stack([p for p, _ in pc]),
                             torch.stack([c for _, c in pc]))
    assert isinstance(fig, Figure) and len(fig.axes) == 2 * 2 * len(ETAS)
