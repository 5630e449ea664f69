"""Flip Search against binarising models whose optimum is known: a linear g on eight pixels, where the
cheapest flip set can be found by trying all 256 of them."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from absnb.attacks.flip_search import flip_search, flipped
from absnb.attacks.postprocess import binary_postprocess
from absnb.attacks.registry import select
from absnb.attacks.run import Shared, Target, attack_batch
from absnb.flip_figure import figure, flip_map
from absnb.models.binarize import binarize_ste
from absnb.profiles import load
from absnb.vocabulary import Norm

SHAPE = (1, 2, 4)


class LinearBinary(nn.Module):
    """Two classes, logits linear in the binarised image: z = W b(x) + c."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        super().__init__()
        self.weight, self.bias = weight, bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return binarize_ste(x.flatten(1)) @ self.weight.T + self.bias


def optimum(model: nn.Module, x: torch.Tensor, y: int, norm: Norm) -> float:
    """The smallest distance of any flip set that makes the model misclassify x (inf if none does)."""
    flat = x.flatten()
    best = float("inf")
    for bits in itertools.product([False, True], repeat=flat.numel()):
        flips = torch.tensor(bits)[None]
        adv = binary_postprocess(flat[None], flipped(flat[None], flips))
        if model(adv.view(1, *SHAPE)).argmax(1).item() != y:
            best = min(best, norm.distance(flat[None], adv).item())
    return best


def instance(seed: int) -> tuple[LinearBinary, torch.Tensor, torch.Tensor]:
    """Random weights, four images, and per image the bias that makes the model call it class 0."""
    gen = torch.Generator().manual_seed(seed)
    weight = torch.randn(2, 8, generator=gen)
    levels = torch.randint(0, 256, (4, *SHAPE), generator=gen) / 255
    logits = binarize_ste(levels.flatten(1)) @ weight.T
    # per image, the bias that puts its margin (z1 - z0) at a random value in (-1.5, 0)
    bias = torch.stack([torch.zeros(4), logits[:, 0] - logits[:, 1] - 1.5 * torch.rand(4, generator=gen)])
    return weight, levels, bias.T


@pytest.mark.parametrize("norm", ["l0", "linf"])
@pytest.mark.parametrize("seed", range(4))
def test_finds_the_optimum_where_greedy_is_exact(norm: str, seed: int) -> None:
    """With a linear g, flipping by first-order gain is exact: the fewest flips (L0) are the largest
    gains, and for L∞ the greedy succeeds under a threshold whenever any flip set under it does."""
    weight, images, biases = instance(seed)
    for x, bias in zip(images, biases):
        model = LinearBinary(weight, bias)
        y = torch.tensor([0])
        adv, found = flip_search(model, x[None], y, Norm(norm), steps=20, per_step=1, bisect_steps=8)
        best = optimum(model, x, 0, Norm(norm))
        assert found.item() == (best < float("inf"))
        if found.item():
            assert model(adv).argmax(1).item() == 1
            assert Norm(norm).distance(x[None], adv).item() == pytest.approx(best, abs=1e-6)


def test_l2_prefers_many_cheap_flips_to_one_expensive_and_prunes_overshoot() -> None:
    """Three grey pixels (cost 0.1 each, gain 1) beat one black pixel (cost 0.5, gain 3) when the
    margin is 2.5; flipping five at a time overshoots to all four grey pixels and the black one, and
    pruning drops the black one and one grey one."""
    x = torch.tensor([0.4, 0.6, 0.4, 0.6, 0.0, 0.45, 0.0, 0.0]).view(1, *SHAPE)
    gains = torch.tensor([1.0, -1.0, 1.0, -1.0, 3.0, -0.5, 0.0, 0.0])  # flipping up adds w, down -w
    weight = torch.stack([torch.zeros(8), gains])
    model = LinearBinary(weight, torch.tensor([0.0, -2.5 + 2.0]))  # margin at the clean image: -2.5
    assert model(x).argmax(1).item() == 0
    best = optimum(model, x[0], 0, Norm("l2"))
    for per_step in (1, 5):
        adv, found = flip_search(model, x, torch.tensor([0]), Norm("l2"), steps=10, per_step=per_step)
        assert found.item() and model(adv).argmax(1).item() == 1
        assert Norm("l2").distance(x, adv).item() == pytest.approx(best, abs=1e-6)
    assert best == pytest.approx((3 * 0.1**2) ** 0.5, abs=1e-6)


@pytest.mark.parametrize("norm", ["l0", "l2", "linf"])
def test_never_better_than_possible_and_every_claim_verified(norm: str) -> None:
    """Through `attack_batch`: every accepted adversarial is misclassified on a re-run and no
    cheaper than the brute-force optimum; an image no flip set fools is reported unbroken."""
    weight, images, biases = instance(7)
    spec = select(norm, ["Flip Search"])[0]
    budget = load("smoke").budget("binary_cnn")
    for x, bias in zip(images, biases):
        model = LinearBinary(weight, bias)
        best = optimum(model, x, 0, Norm(norm))
        result = attack_batch(spec, Target("binary_cnn", model), x[None], torch.tensor([0]), budget,
                              Shared())
        assert result.success.item() == (best < float("inf")), (norm, best)
        if result.success.item():
            assert model(result.adv).argmax(1).item() == 1
            assert result.distance.item() >= best - 1e-6
    unfoolable = LinearBinary(torch.zeros(2, 8), torch.tensor([1.0, 0.0]))
    result = attack_batch(spec, Target("binary_cnn", unfoolable), images, torch.zeros(4, dtype=torch.long),
                          budget, Shared())
    assert not result.success.any() and torch.isinf(result.distance).all() and result.rejected == 0


def test_the_figure_marks_exactly_the_flipped_pixels() -> None:
    weight, images, biases = instance(3)
    model = LinearBinary(weight, biases[0])
    adv, found = flip_search(model, images[:1], torch.tensor([0]), Norm("l0"), steps=20)
    assert found.item()
    codes = flip_map(images[0], adv[0])
    assert ((codes >= 2).sum() == Norm("l0").distance(images[:1], adv).item())
    assert (codes == 2).sum() == ((adv > 0.5) & (images[:1] <= 0.5)).sum().item()
    assert len(figure(images[0], adv[0], "test").axes) == 4
