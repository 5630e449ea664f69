"""Distances, verification of claimed adversarials, and binary post-processing on hand-made cases."""

from __future__ import annotations

import pytest
import torch

from absnb.attacks.postprocess import binary_postprocess
from absnb.attacks.verify import verify
from absnb.models.binarize import binarize
from absnb.vocabulary import EPSILONS, NORMS, Norm

# --- distances --------------------------------------------------------------------------------


def test_norms_and_thresholds_are_the_papers():
    assert NORMS == ("l0", "l2", "linf")
    assert EPSILONS == {"l0": 12.0, "l2": 1.5, "linf": 0.3}


def test_a_norm_is_parsed_once_into_its_name_threshold_and_labels():
    norm = Norm("linf")
    assert norm == "linf" and {norm: 1}["linf"] == 1  # keys tables, paths and fingerprints as its name
    assert (norm.epsilon, norm.label, norm.paper_label) == (0.3, "L∞", "Linf")
    assert Norm(norm) is norm
    with pytest.raises(ValueError, match=r"unknown norm 'L2'; valid norms: l0, l2, linf"):
        Norm("L2")


def test_a_norm_survives_pickling_as_itself():
    import pickle

    norm = pickle.loads(pickle.dumps(Norm("l0")))
    assert isinstance(norm, Norm) and (norm, norm.epsilon, norm.label) == ("l0", 12.0, "L0")


def test_distance_on_hand_made_cases():
    x = torch.zeros(3, 1, 2, 2)
    adv = x.clone()
    adv[0, 0, 0, 0], adv[0, 0, 1, 1] = 0.3, -0.4  # two pixels: L2 0.5, L∞ 0.4, L0 2
    adv[1] = 1.0  # all four pixels: L2 2, L∞ 1, L0 4
    # sample 2 unchanged: 0 in every norm
    torch.testing.assert_close(Norm("l2").distance(x, adv), torch.tensor([0.5, 2.0, 0.0]))
    torch.testing.assert_close(Norm("linf").distance(x, adv), torch.tensor([0.4, 1.0, 0.0]))
    assert Norm("l0").distance(x, adv).tolist() == [2.0, 4.0, 0.0]


def test_l0_counts_any_change_however_small_and_works_on_flat_images():
    x = torch.full((1, 5), 0.5)
    adv = x.clone()
    adv[0, 1] = torch.nextafter(torch.tensor(0.5), torch.tensor(1.0))
    adv[0, 3] = 0.0
    assert Norm("l0").distance(x, adv).tolist() == [2.0]


def test_distance_refuses_unknown_norms_and_mismatched_shapes():
    x = torch.zeros(2, 4)
    with pytest.raises(ValueError, match="valid norms"):
        Norm("l1")
    with pytest.raises(ValueError, match="shape"):
        Norm("l2").distance(x, torch.zeros(2, 5))


# --- verification -----------------------------------------------------------------------------


def _mean_model(x: torch.Tensor) -> torch.Tensor:
    """Class 1 if the mean pixel is above 0.5, else class 0 (logits for 2 classes)."""
    m = x.flatten(1).mean(1)
    return torch.stack([0.5 - m, m - 0.5], dim=1)


def test_verify_accepts_rejects_and_recomputes():
    x = torch.tensor([[0.2, 0.2], [0.2, 0.2], [0.2, 0.2], [0.8, 0.8], [0.2, 0.2], [0.2, 0.2]])
    y = torch.tensor([0, 0, 0, 0, 0, 0])  # sample 3 is misclassified when clean (mean 0.8 -> 1)
    cand = x.clone()
    cand[0] = torch.tensor([0.9, 0.9])  # a real adversarial: mean 0.9 -> class 1
    cand[1] = torch.tensor([0.3, 0.3])  # still class 0: the attack's claim is false
    cand[2] = torch.tensor([1.5, 0.9])  # class 1 but outside [0, 1]
    cand[3] = torch.tensor([0.0, 0.0])  # clean misclassified: the candidate is ignored
    cand[4] = torch.tensor([0.9, 0.9])  # adversarial, but the attack did not claim it
    cand[5] = torch.tensor([float("nan"), 1.0])
    found = torch.tensor([True, True, True, True, False, True])
    v = verify(_mean_model, x, y, cand, found, Norm("l2"), batch_size=4)

    assert v.success.tolist() == [True, False, False, True, False, False]
    assert v.refused.tolist() == [False, True, True, False, False, True]
    assert v.rejected == 3
    # distance recomputed from the images: |(0.7, 0.7)| = 0.7·√2, whatever the attack claimed
    torch.testing.assert_close(v.distance[0], torch.tensor(0.7 * 2**0.5))
    assert v.distance[3] == 0
    assert torch.isinf(v.distance[[1, 2, 4, 5]]).all()
    assert torch.equal(v.adv[0], cand[0])
    assert torch.equal(v.adv[1:], x[1:])  # refused, unclaimed or clean-misclassified: the clean image
    assert v.prediction.tolist() == [1, 0, 0, 1, 0, 0]
    # margins on the recorded image: the adversarial's, else the clean image's (negative if right)
    torch.testing.assert_close(v.margin, torch.tensor([0.8, -0.6, -0.6, 0.6, -0.6, -0.6]))


def test_verify_requires_values_exactly_within_zero_one():
    x = torch.full((2, 3), 0.2)
    y = torch.zeros(2, dtype=torch.long)
    cand = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0 + 1e-6]])
    v = verify(_mean_model, x, y, cand, torch.ones(2, dtype=torch.bool), Norm("linf"))
    assert v.success.tolist() == [True, False]
    assert v.rejected == 1


def test_verify_rechecks_with_the_model_not_the_attack():
    """A model that classifies every image it sees correctly refuses every claimed adversarial."""
    x = torch.rand(4, 1, 3, 3, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([2, 0, 1, 2])
    always_right = lambda b: torch.nn.functional.one_hot(y[: len(b)], 3).float()  # noqa: E731
    v = verify(always_right, x, y, torch.rand_like(x), torch.ones(4, dtype=torch.bool), Norm("l0"),
               batch_size=4)
    assert not v.success.any() and v.rejected == 4 and torch.isinf(v.distance).all()


def test_verify_refuses_mismatched_shapes():
    x = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="shapes"):
        verify(_mean_model, x, torch.zeros(2, dtype=torch.long), torch.zeros(3, 3),
               torch.ones(2, dtype=torch.bool), Norm("l2"))


# --- binary post-processing -------------------------------------------------------------------

ABOVE_HALF = torch.nextafter(torch.tensor(0.5), torch.tensor(1.0)).item()


def test_binary_postprocess_known_case():
    x = torch.tensor([[0.1, 0.9, 0.3, 0.7, 0.5, 0.5, 0.0, 1.0]])
    adv = torch.tensor([[0.4, 0.6, 0.8, 0.2, 1.0, 0.5, 0.5, 0.5]])
    out = binary_postprocess(x, adv)
    # same side: clean value; crossed upwards: just above 0.5; crossed downwards: 0.5
    expected = torch.tensor([[0.1, 0.9, ABOVE_HALF, 0.5, ABOVE_HALF, 0.5, 0.0, 0.5]])
    assert torch.equal(out, expected)
    assert ABOVE_HALF > 0.5 and binarize(torch.tensor(ABOVE_HALF)) == 1


def test_binary_postprocess_keeps_binarisation_and_never_grows_a_distance():
    gen = torch.Generator().manual_seed(0)
    special = torch.tensor([0.0, 0.5, 1.0, ABOVE_HALF])
    x = torch.rand(64, 1, 6, 6, generator=gen)
    adv = torch.rand(64, 1, 6, 6, generator=gen)
    pick = lambda: torch.randint(0, 4, x.shape, generator=gen)  # noqa: E731
    x = torch.where(torch.rand(x.shape, generator=gen) < 0.3, special[pick()], x)
    adv = torch.where(torch.rand(x.shape, generator=gen) < 0.3, special[pick()], adv)
    adv[:8] = x[:8]  # unchanged images stay unchanged
    out = binary_postprocess(x, adv)
    assert torch.equal(binarize(out), binarize(adv))
    assert torch.equal(out[:8], x[:8])
    assert out.min() >= 0 and out.max() <= 1
    for norm in NORMS:
        assert (Norm(norm).distance(x, out) <= Norm(norm).distance(x, adv)).all(), norm
    assert (Norm("l2").distance(x, out) < Norm("l2").distance(x, adv)).any()  # it does shrink them
