"""Per-sample minimal epsilon from a fixed-epsilon attack: grid, then bisection, grouped by epsilon."""

from __future__ import annotations

import torch

from absnb.attacks.minimal import minimal_epsilon


def _threshold_attack(thresholds: torch.Tensor, calls: list):
    """A toy attack that succeeds on a sample iff eps >= its threshold; it moves the image by eps."""
    def attack(x: torch.Tensor, y: torch.Tensor, eps: float):
        calls.append(len(x))
        return x + eps, eps >= thresholds[y]
    return attack


def test_bisection_finds_each_samples_threshold():
    thresholds = torch.tensor([0.013, 0.2, 0.31, 0.7, 5.0], dtype=torch.float64)
    x = torch.zeros(5, 1)
    y = torch.arange(5)  # the label indexes the sample's threshold
    calls: list = []
    adv, eps, ok = minimal_epsilon(_threshold_attack(thresholds, calls), x, y,
                                   grid=[0.01, 0.1, 0.3, 1.0], bisect_steps=12)
    assert ok.tolist() == [True, True, True, True, False]
    finite = eps[:4]
    assert ((finite >= thresholds[:4]) & (finite - thresholds[:4] < 1e-3)).all(), finite
    torch.testing.assert_close(adv[:4, 0], finite.float())
    assert torch.isinf(eps[4]) and adv[4, 0] == 0


def test_samples_stop_at_their_first_successful_grid_value():
    thresholds = torch.tensor([0.05, 0.5])
    calls: list = []
    minimal_epsilon(_threshold_attack(thresholds, calls), torch.zeros(2, 1), torch.arange(2),
                    grid=[0.1, 0.2, 0.5], bisect_steps=0)
    assert calls == [2, 1, 1]
