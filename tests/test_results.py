"""Per-sample tables, the "All attacks" minimum, median distance and accuracy at ε on known answers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from absnb.attacks.verify import Verified
from absnb.results import (
    ALL_ADAPTIVE,
    ALL_PAPER,
    accuracy_curve,
    all_attacks,
    both_all_rows,
    per_sample_frame,
    summarise,
)

INF = math.inf


def _rows(model: str, norm: str, attack: str, distances: list[float]) -> pd.DataFrame:
    n = len(distances)
    return pd.DataFrame({"model": model, "norm": norm, "attack": attack, "sample": np.arange(n),
                         "label": np.arange(n) % 10, "prediction": np.zeros(n, dtype=int),
                         "distance": distances, "success": np.isfinite(distances)})


def _one(table: pd.DataFrame, **where) -> pd.Series:
    mask = np.logical_and.reduce([table[k] == v for k, v in where.items()])
    assert mask.sum() == 1
    return table[mask].iloc[0]


def test_median_and_accuracy_count_zero_and_inf():
    s = _one(summarise(_rows("abs", "l2", "A", [0, 1, 2, INF, INF])), attack="A")
    assert s.n == 5 and s.median_distance == 2
    assert s.accuracy_percent == pytest.approx(60)  # 2, inf, inf are > 1.5; 0 and 1 are broken


def test_all_inf_gives_median_inf_and_full_accuracy():
    s = summarise(_rows("abs", "linf", "A", [INF] * 4)).iloc[0]
    assert s.median_distance == INF and s.accuracy_percent == 100


def test_median_is_inf_when_half_or_more_are_inf():
    assert summarise(_rows("m", "l2", "A", [1, 2, INF, INF])).median_distance[0] == INF
    assert summarise(_rows("m", "l2", "A", [1, 2, 3, INF])).median_distance[0] == 2.5
    assert summarise(_rows("m", "l2", "A", [1, 2, INF, INF, INF])).median_distance[0] == INF


def test_a_sample_broken_at_exactly_eps_counts_as_broken():
    table = pd.concat([_rows("m", "l0", "A", [12, 13]), _rows("m", "linf", "A", [0.3, 0.31]),
                       _rows("m", "l2", "A", [1.5, 1.6])])
    assert summarise(table).accuracy_percent.tolist() == [50, 50, 50]


def test_float32_overshoot_of_an_eps_ball_counts_as_at_eps():
    """An L∞ attack clipped to x ± 0.3 in float32 measures a few ulps above 0.3: broken, not robust."""
    x = torch.arange(256, dtype=torch.float32).div(255).reshape(1, 256)
    adv = (x + 0.3).clamp(0, 1)
    d = (adv - x).abs().amax(1)
    assert d.item() > 0.3  # the rounding this guards against
    assert accuracy_curve(d.double().numpy(), [0.3]).tolist() == [0.0]


def test_accuracy_curve_is_fraction_above_each_size():
    curve = accuracy_curve([0, 1, 2, INF], [0, 0.5, 1, 2, 100])
    np.testing.assert_allclose(curve, [0.75, 0.75, 0.5, 0.25, 0.25])


def test_all_attacks_takes_the_per_sample_minimum():
    a = _rows("cnn", "l2", "A", [0, 1.0, 3.0, INF, INF])
    b = _rows("cnn", "l2", "B", [0, 2.0, 0.5, 4.0, INF])
    other = _rows("abs", "l2", "A", [9.0, 9.0, 9.0, 9.0, 9.0])
    best = all_attacks(pd.concat([a, b, other]))  # repeated row labels must not matter
    cnn = best[best.model == "cnn"].set_index("sample")
    assert cnn.distance.tolist() == [0, 1.0, 0.5, 4.0, INF]
    assert cnn.best_attack.tolist()[1:4] == ["A", "B", "B"]
    assert cnn.best_attack.isna()[[0, 4]].all()  # misclassified when clean; nothing broke it
    assert (best.attack == "All").all() and cnn.label.tolist() == [0, 1, 2, 3, 4]
    assert len(best) == 10 and best[best.model == "abs"].distance.tolist() == [9.0] * 5
    s = _one(summarise(best), model="cnn")
    assert s.median_distance == 1.0 and s.accuracy_percent == pytest.approx(40)


def test_all_attacks_refuses_attacks_on_different_samples():
    a = _rows("cnn", "l2", "A", [1.0, 2.0, 3.0])
    b = _rows("cnn", "l2", "B", [1.0, 2.0])
    with pytest.raises(ValueError, match="same samples"):
        all_attacks(pd.concat([a, b]))


def test_costly_attacks_on_fewer_samples_the_paper_row_on_their_samples_the_adaptive_row_on_all():
    """A costly paper attack (Boundary) on the first 2 of 4 samples: "All" (paper) is over those 2, where
    every paper attack ran; "All incl. adaptive" over all 4, each the best of the attacks that ran."""
    gaussian = _rows("abs", "l2", "Gaussian Noise", [3.0, 4.0, 5.0, 6.0])
    boundary = _rows("abs", "l2", "Boundary Attack", [1.0, 5.0])
    ddn = _rows("abs", "l2", "DDN", [2.0, 2.0, 7.0, 2.0])
    frame = pd.concat([gaussian, boundary, ddn])
    with pytest.raises(ValueError, match="same samples"):
        all_attacks(frame)
    best = both_all_rows(frame)
    paper = best[best.attack == ALL_PAPER].set_index("sample")
    assert paper.distance.to_dict() == {0: 1.0, 1: 4.0}
    adaptive = best[best.attack == ALL_ADAPTIVE].set_index("sample")
    assert adaptive.distance.tolist() == [1.0, 2.0, 5.0, 2.0]
    assert adaptive.best_attack.tolist() == ["Boundary Attack", "DDN", "Gaussian Noise", "DDN"]


def test_per_sample_frame_and_rejected_counts():
    v = Verified(adv=torch.zeros(3, 1, 2, 2), success=torch.tensor([True, False, True]),
                 distance=torch.tensor([0.5, INF, 0.0]), prediction=torch.tensor([7, 1, 4]),
                 refused=torch.tensor([False, True, False]), margin=torch.tensor([0.2, -1.0, 0.3]))
    frame = per_sample_frame("abs", "l2", "Boundary", torch.tensor([10, 11, 12]), [1, 1, 2], v)
    assert list(frame.columns) == ["model", "norm", "attack", "sample", "label", "prediction",
                                   "distance", "success", "rejected", "margin"]
    assert frame["sample"].tolist() == [10, 11, 12] and frame.distance.tolist() == [0.5, INF, 0.0]
    table = summarise(pd.concat([frame, all_attacks(frame)]))
    assert table.attack.tolist() == ["Boundary", "All"]
    assert table.rejected[0] == 1 and table.rejected.isna()[1]
    assert table.accuracy_percent[0] == pytest.approx(100 / 3)


@pytest.mark.parametrize("fn", [summarise, all_attacks])
def test_nan_or_negative_distances_are_refused(fn):
    for bad in (float("nan"), -1.0):
        with pytest.raises(ValueError, match="NaN"):
            fn(_rows("m", "l2", "A", [1.0, bad]))


def test_attack_wins_count_the_attack_behind_each_all_distance():
    from absnb.report import attack_wins

    frame = pd.concat([_rows("cnn", "l2", "Boundary Attack", [1.0, 2.0, INF, 0.0]),
                       _rows("cnn", "l2", "FGM", [3.0, 1.5, INF, 0.0]),
                       _rows("abs", "l2", "FGM w/ GE", [0.5, 0.5, 0.5, 0.5])], ignore_index=True)
    wins = attack_wins(frame)
    assert list(wins.index) == ["Boundary Attack", "FGM", "FGM w/ GE"], "registry order"
    assert wins.loc["Boundary Attack", "CNN"] == 1 and wins.loc["FGM", "CNN"] == 1
    assert wins["CNN"].sum() == 2, "a sample broken at 0 or never broken has no winner"
    assert wins.loc["FGM w/ GE", "ABS"] == 4


def test_wilson_interval_on_known_values():
    from absnb.results import wilson_interval

    low, high = wilson_interval(5, 10)
    assert abs(low - 0.2366) < 1e-3 and abs(high - 0.7634) < 1e-3
    assert wilson_interval(0, 10)[0] < 1e-12 and abs(wilson_interval(0, 10)[1] - 0.2775) < 1e-3
    assert wilson_interval(100, 100)[1] > 1 - 1e-12


def test_uncertainty_brackets_the_all_row_and_narrows_with_samples():
    from absnb.results import uncertainty

    few = all_attacks(_rows("cnn", "l2", "FGM", [0.5, 1.0, 2.0, 3.0]))
    many = all_attacks(_rows("cnn", "l2", "FGM", [0.5, 1.0, 2.0, 3.0] * 25))
    a, b = uncertainty(few).iloc[0], uncertainty(many).iloc[0]
    assert a.median_low <= a.median_distance <= a.median_high
    assert a.accuracy_percent == 50.0 and a.accuracy_low < 50 < a.accuracy_high
    assert (b.accuracy_high - b.accuracy_low) < (a.accuracy_high - a.accuracy_low) / 3
    unbroken = uncertainty(all_attacks(_rows("abs", "l0", "Pointwise Attack", [INF, INF, 5.0])))
    assert unbroken.iloc[0].median_high == INF


def test_contribution_compares_the_best_without_and_with_one_attack():
    from absnb.report import attack_contribution
    from absnb.results import contribution

    frame = pd.concat([_rows("binary_cnn", "l2", "FMN", [1.0, 2.0, 3.0, INF]),
                       _rows("binary_cnn", "l2", "Flip Search", [1.5, 1.0, 3.0, 2.0]),
                       _rows("cnn", "l2", "FMN", [0.1, 0.2, 0.3, 0.4])], ignore_index=True)
    table = contribution(frame, "Flip Search")
    assert set(table["model"]) == {"binary_cnn"}, "only the models it ran on"
    before, after = _one(table, attack="before"), _one(table, attack="after")
    assert before.median_distance == 2.5 and after.median_distance == 1.5
    assert after.improved == 2, "sample 1 (2.0 -> 1.0) and sample 3 (inf -> 2.0); a tie is no improvement"
    assert before.accuracy_percent == 75 and after.accuracy_percent == 50, "robust above ε = 1.5"
    shown = attack_contribution(frame, "Flip Search")
    assert shown.loc[("Binary CNN", "L2"), "samples improved"] == 2
    assert shown.loc[("Binary CNN", "L2"), "median before"].startswith("2.5 [")
    assert contribution(frame, "Boundary Attack").empty, "an attack that did not run adds nothing"
    assert attack_contribution(frame, "Boundary Attack").empty
