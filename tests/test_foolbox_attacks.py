"""Every foolbox attack of Table 1 runs through our adapters and yields verified adversarials."""

from __future__ import annotations

from dataclasses import replace

import pytest
from quick_train import quick_train

from absnb import profiles
from absnb.attacks import foolbox_attacks as fa
from absnb.attacks.minimal import minimal_epsilon
from absnb.attacks.registry import ATTACKS
from absnb.attacks.verify import verify
from absnb.data import load_split
from absnb.models.cnn import CNN

SMALL = replace(profiles.load("smoke").attacks, iterative_steps=5, gaussian_repeats=5, boundary_steps=50,
                saltpepper_steps=50)
GRIDS = {"l2": [0.5, 1.0, 2.0, 4.0, 8.0, 16.0], "linf": [0.05, 0.1, 0.2, 0.4, 0.8], "l0": []}


@pytest.fixture(scope="module")
def trained():
    """A CNN trained for a few hundred steps: enough to classify, so attacks have work to do."""
    model = quick_train(CNN())
    tx, ty = load_split("test")
    return model.eval(), tx[:4], ty[:4]


# The "w/ GE" rows run the same foolbox code on an EstimatedGradientModel, whose gradient
# tests/test_estimated.py checks against autograd; here they would cost ~1,600 queries per step.
SPECS = [s for norm in ATTACKS for s in ATTACKS[norm]
         if s.family in ("fixed-epsilon", "minimization") and s.gradient != "estimated"]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.norm}-{s.name}")
def test_attack_yields_verified_adversarials(trained, spec):
    model, x, y = trained
    fmodel = fa.foolbox_model(model)
    if spec.family == "fixed-epsilon":
        adv, _, found = minimal_epsilon(fa.fixed_epsilon(spec, fmodel, SMALL), x, y, GRIDS[spec.norm], 3)
    else:
        adv, found = fa.minimization(spec, fmodel, x, y, SMALL)
    checked = verify(model, x, y, adv, found, spec.norm)
    assert checked.success.any(), f"{spec.name} broke no sample"
    assert checked.rejected == 0, f"{spec.name}: {checked.rejected} claimed adversarials were not"


def test_mim_accumulates_l1_normalised_gradients_as_dong_et_al():
    """Dong et al.'s MIM: g <- mu g + grad / ||grad||_1, step eps_step * sign(g). foolbox 3's own MIM
    accumulates sign(grad) instead; with gradients (3, -1) then (-1, 1e-3), Dong's g after two steps is
    (0.75 - 0.999, -0.25 + 0.001) -> sign (-, -), foolbox's (1 - 1, -1 + 1) -> (0, 0)."""
    import eagerpy as ep
    import torch

    from absnb.attacks.foolbox_attacks import DongMIM

    attack = DongMIM(steps=2)
    optimizer = attack.get_optimizer(ep.astensor(torch.zeros(1, 2)), stepsize=0.1)
    steps = [optimizer(attack.normalize(ep.astensor(torch.tensor(g)), x=None, bounds=(0, 1)))
             for g in ([[3.0, -1.0]], [[-1.0, 1e-3]])]
    assert steps[0].raw[0].tolist() == pytest.approx([0.1, -0.1])
    assert steps[1].raw[0].tolist() == pytest.approx([-0.1, -0.1])
