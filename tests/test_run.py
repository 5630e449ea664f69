"""Every attack of every norm, run the way the suite runs it, returns only adversarials that the model
really misclassifies, inside [0, 1], at the distance recomputed from the images; binarising models get
post-processed adversarials; the transfer line search finds the smallest step."""

from __future__ import annotations

import dataclasses

import foolbox as fb
import pytest
import torch
from quick_train import quick_train
from torch import nn

from absnb import profiles
from absnb.attacks import transfer
from absnb.attacks.estimated import EstimatedGradientModel
from absnb.attacks.registry import ATTACKS, applies
from absnb.attacks.run import Shared, Target, attack_batch
from absnb.data import load_split
from absnb.models.binarize import binarize
from absnb.models.cnn import CNN

BUDGET = dataclasses.replace(profiles.load("smoke").attacks, boundary_steps=30, saltpepper_steps=30,
                             adaptive_steps=50, bb_steps=20)


@pytest.fixture(scope="module")
def setup():
    tx, ty = load_split("test")
    return {"cnn": quick_train(CNN(), 0, 3000), "binary_cnn": quick_train(CNN(binary=True), 1, 3000),
            "substitute": quick_train(CNN((8, 8, 16)), 2, 3000), "x": tx[:3], "y": ty[:3]}


PAIRS = [(s, name) for norm in ATTACKS for s in ATTACKS[norm] for name in ("cnn", "binary_cnn")
         if s.family != "latent-descent" and applies(s, name)]


@pytest.mark.parametrize(("spec", "name"), PAIRS,
                         ids=lambda p: p if isinstance(p, str) else f"{p.norm}-{p.name}")
def test_attack_returns_only_verified_adversarials(setup, spec, name):
    model, x, y = setup[name], setup["x"], setup["y"]
    result = attack_batch(spec, Target(name, model), x, y, BUDGET, Shared(), setup["substitute"])
    assert result.success.any(), f"{spec.name} broke nothing on {name}"
    with torch.no_grad():
        predicted = model(result.adv).argmax(1)
    broken = result.success
    assert (predicted[broken] != y[broken]).all()
    assert result.adv.min() >= 0 and result.adv.max() <= 1
    torch.testing.assert_close(result.distance[broken], spec.norm.distance(x[broken], result.adv[broken]))
    assert torch.isinf(result.distance[~broken]).all()
    if name == "binary_cnn":  # post-processed: every changed pixel sits at the threshold's edge
        moved = result.adv != x
        assert (binarize(result.adv)[moved] != binarize(x)[moved]).all()
        assert ((result.adv[moved] - 0.5).abs() < 1e-6).all()


def test_line_search_finds_the_smallest_step():
    """A model that says "1" once the mean pixel exceeds 0.5: from 0.2 along +1, the step is 0.3."""
    class MeanThreshold(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            m = x.flatten(1).mean(1, keepdim=True)
            return torch.cat([0.5 - m, m - 0.5], 1)

    x = torch.full((2, 1, 4, 4), 0.2)
    delta = torch.ones_like(x)
    delta[1] = -1  # pointing away from the boundary: never adversarial
    fine = dataclasses.replace(BUDGET, bisect_steps=12)
    adv, found = transfer.line_search(MeanThreshold(), x, torch.zeros(2, dtype=torch.long), delta, fine)
    assert found.tolist() == [True, False]
    step = (adv[0] - x[0]).max().item()
    assert 0.3 <= step < 0.3 * 1.01, step


def test_estimates_are_computed_once_per_image():
    torch.manual_seed(0)
    calls = []

    class Counting(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = CNN().eval()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            calls.append(len(x))
            return self.net(x)

    wrapped = EstimatedGradientModel(Counting(), step=0.01, queries_per_batch=784)
    x = torch.rand(2, 1, 28, 28)
    first = wrapped.jacobian(x)
    queries = sum(calls)
    assert queries == 2 + 2 * 2 * 784  # f(x) once per image, then two queries per pixel
    again = wrapped.jacobian(x.flip(0))
    assert sum(calls) == queries, "cached estimates are reused"
    torch.testing.assert_close(again, first.flip(0))


def test_pointwise_repeats_keep_the_best_run(setup):
    """More Pointwise runs never lose: the first repeat is the single run, and the best is kept."""
    spec = next(s for s in ATTACKS["l0"] if s.name == "Pointwise Attack")
    target, x, y = Target("cnn", setup["cnn"]), setup["x"], setup["y"]
    once = attack_batch(spec, target, x, y, dataclasses.replace(BUDGET, pointwise_repeats=1), Shared())
    thrice = attack_batch(spec, target, x, y, dataclasses.replace(BUDGET, pointwise_repeats=3), Shared())
    assert once.success.all() and thrice.success.all()
    assert (thrice.distance <= once.distance).all()
    assert thrice.rejected == 0


def test_pointwise_repeats_start_from_fresh_salt_and_pepper(setup, monkeypatch):
    """With a start for every sample, the first Pointwise run begins there and each further repeat
    from a fresh Salt&Pepper adversarial (its local minimum depends on the start); none ends worse
    than the start."""
    spec = next(s for s in ATTACKS["l0"] if s.name == "Pointwise Attack")
    target, x, y = Target("cnn", setup["cnn"]), setup["x"], setup["y"]
    saltpepper = next(s for s in ATTACKS["l0"] if s.name == "Salt&Pepper Noise")
    start = attack_batch(saltpepper, target, x, y, BUDGET, Shared())
    assert start.success.all()
    calls = []
    run = fb.attacks.SaltAndPepperNoiseAttack.run
    monkeypatch.setattr(fb.attacks.SaltAndPepperNoiseAttack, "run",
                        lambda self, *a, **k: calls.append(1) or run(self, *a, **k))
    result = attack_batch(spec, target, x, y, dataclasses.replace(BUDGET, pointwise_repeats=3), Shared(),
                          start=(start.adv, start.success))
    assert len(calls) == 2, "two of the three runs start from fresh Salt&Pepper adversarials"
    assert result.success.all() and result.rejected == 0
    assert (result.distance <= start.distance).all()


@pytest.mark.parametrize("norm, name", [("l2", "Boundary Attack"), ("l0", "Pointwise Attack"),
                                        ("l2", "Brendel-Bethge"), ("linf", "Brendel-Bethge")])
def test_started_attacks_never_end_worse_than_their_start(setup, norm, name):
    """From a deliberately poor start (a far verified adversarial), the result per sample is verified
    and never further than the start; a sample without a start falls back to the initial attack."""
    spec = next(s for s in ATTACKS[norm] if s.name == name)
    target, x, y = Target("cnn", setup["cnn"]), setup["x"], setup["y"]
    first = {"l2": "FGM", "linf": "FGSM", "l0": "Salt&Pepper Noise"}[norm]
    far = attack_batch(next(s for s in ATTACKS[norm] if s.name == first), target, x, y, BUDGET, Shared())
    assert far.success.all()
    found = torch.tensor([True, True, False])
    result = attack_batch(spec, target, x, y, BUDGET, Shared(), setup["substitute"], (far.adv, found))
    assert result.success.all() and result.rejected == 0
    with torch.no_grad():
        assert (setup["cnn"](result.adv).argmax(1) != y).all()
    assert (result.distance[found] <= far.distance[found]).all()


@pytest.mark.parametrize("name", ["DDN", "FMN"])
def test_adaptive_attacks_use_the_nearest_neighbours_autograd_gradient(name):
    """Nearest Neighbour's −distance logits have a gradient almost everywhere: the adaptive attacks
    reach verified adversarials close to the distance to the nearest training image of another class."""
    from absnb.models.nearest import NearestNeighbour

    tx, ty = load_split("train")
    model = NearestNeighbour(tx[:2000], ty[:2000])
    x, y = load_split("test")[0][:3], load_split("test")[1][:3]
    spec = next(s for s in ATTACKS["l2"] if s.name == name)
    result = attack_batch(spec, Target("nearest", model), x, y, BUDGET, Shared())
    assert result.success.all() and result.rejected == 0
    with torch.no_grad():
        assert (model(result.adv).argmax(1) != y).all()
        other = -model(x).scatter(1, y[:, None], float("-inf")).max(1).values  # to the nearest other
    assert (result.distance < other).all(), "no better than jumping to the nearest training image"


@pytest.mark.parametrize("binary", [False, True])
def test_adaptive_attack_on_abs_with_its_envelope_gradient(binary):
    """FMN on a small ABS model (random high-contrast decoders) through the envelope gradient: one
    query per step, and only verified adversarials come back (Binary ABS's post-processed)."""
    from small_abs import contrast_abs

    model = contrast_abs(binary)
    x = load_split("test")[0][:2]
    with torch.no_grad():
        y = model(x).argmax(1)  # the model's own decisions: every clean image "correct"
    spec = next(s for s in ATTACKS["l2"] if s.name == "FMN")
    before = model.queries
    result = attack_batch(spec, Target("binary_abs" if binary else "abs", model), x, y,
                          dataclasses.replace(BUDGET, adaptive_steps=20), Shared())
    assert result.success.all() and result.rejected == 0
    with torch.no_grad():
        assert (model(result.adv).argmax(1) != y).all()
    assert model.queries - before < 2 * 40 + 20, "about one query per image and step, not ~1,600"
