"""How finely the epsilon search (geometric grid, then bisection) resolves a per-sample distance.

The oracle "attack" succeeds exactly when eps reaches the sample's true threshold and returns a
candidate at distance eps, so the search's answer can be compared with the truth. With the "w/ GE"
settings of 5 grid points and 2 bisections, a true L2 distance of 1.3 comes back as 2.33 (the issue);
10 points and 8 bisections resolve it, and every threshold of the range, to well within 5%.
"""

from __future__ import annotations

import math

import pytest
import torch

from absnb.attacks.minimal import geometric_grid, minimal_epsilon
from absnb.attacks.run import GRID_RANGE

THRESHOLDS = {"l2": [1.3], "linf": [0.27, 0.35, 0.44]}
SHAPE = (1, 28, 28)


def _direction(norm: str) -> torch.Tensor:
    """A perturbation of norm 1 in `norm`: every pixel moved alike."""
    pixels = math.prod(SHAPE)
    return torch.full(SHAPE, 1 / math.sqrt(pixels) if norm == "l2" else 1.0)


def _distance(a: torch.Tensor, b: torch.Tensor, norm: str) -> torch.Tensor:
    diff = (a - b).flatten(1).double()
    return diff.norm(dim=1) if norm == "l2" else diff.abs().amax(1)


def _search(norm: str, thresholds: list[float], points: int, bisections: int) -> torch.Tensor:
    """The eps found per sample by `minimal_epsilon` on the threshold oracle, with GRID_RANGE's range.
    The labels carry each sample's index into the thresholds; the candidates are checked to sit at
    the distance reported."""
    truth = torch.tensor(thresholds, dtype=torch.float64)
    x = torch.rand(len(truth), *SHAPE, generator=torch.Generator().manual_seed(0)) * 0.1
    direction = _direction(norm)

    def oracle(images: torch.Tensor, index: torch.Tensor, eps: float):
        return images + eps * direction, eps >= truth[index]

    grid = geometric_grid(*GRID_RANGE[norm], points)
    adv, found, ok = minimal_epsilon(oracle, x, torch.arange(len(truth)), grid, bisections)
    assert ok.all()
    assert (found >= truth).all(), "the oracle never succeeds below the threshold"
    torch.testing.assert_close(_distance(adv, x, norm), found, rtol=1e-5, atol=1e-6)
    return found


def _relative_error(found: torch.Tensor, thresholds: list[float]) -> torch.Tensor:
    return found / torch.tensor(thresholds, dtype=torch.float64) - 1


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_ten_points_and_eight_bisections_resolve_the_distance_within_5_percent(norm):
    error = _relative_error(_search(norm, THRESHOLDS[norm], 10, 8), THRESHOLDS[norm])
    assert (error < 0.05).all(), error
    # in fact within the bound of the search: one grid ratio's bracket halved 8 times
    low, high = GRID_RANGE[norm]
    ratio = (high / low) ** (1 / 9)
    assert (error <= (ratio - 1) / 2**8 + 1e-9).all(), error


def test_five_points_and_two_bisections_do_not_in_l2():
    found = _search("l2", [1.3], 5, 2)
    assert found.item() == pytest.approx(2.33, abs=0.01)  # the value of the issue
    assert _relative_error(found, [1.3]).item() > 0.05


def test_five_points_and_two_bisections_do_not_in_linf():
    """0.27 and 0.35 come back as 0.449 (66% and 28% too large). 0.44 comes back as the same 0.449,
    within 5% only because it happens to lie just under that bisection midpoint."""
    found = _search("linf", THRESHOLDS["linf"], 5, 2)
    torch.testing.assert_close(found, torch.full((3,), 0.4495, dtype=torch.float64), rtol=0, atol=5e-4)
    error = _relative_error(found, THRESHOLDS["linf"])
    assert (error[:2] > 0.05).all() and error[2] < 0.05, error


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_the_resolution_holds_across_the_whole_range(norm):
    """Any threshold inside the grid's range, not just the few above, is found within 5%."""
    low, high = GRID_RANGE[norm]
    thresholds = torch.logspace(math.log10(low) + 0.01, math.log10(high) - 0.01, 200,
                                dtype=torch.float64).tolist()
    error = _relative_error(_search(norm, thresholds, 10, 8), thresholds)
    assert error.max() < 0.05, error.max()
