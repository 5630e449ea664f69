"""The numbers the introduction quotes from the released-model page (`released_page.findings`)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from absnb import artifacts, released_page, results, table1


def _frame(model: str, norm: str, attack: str, distances: list[float]) -> pd.DataFrame:
    n = len(distances)
    return pd.DataFrame({"model": model, "norm": norm, "attack": attack, "sample": range(n), "label": 0,
                         "prediction": 1, "distance": distances, "success": np.isfinite(distances),
                         "rejected": False, "margin": 0.1})


def test_findings_are_the_runs_numbers_and_nan_where_it_has_none(monkeypatch, tmp_path):
    monkeypatch.setattr(artifacts, "ARTIFACTS_DIR", tmp_path)
    artifacts.save_json({"accuracy": 0.9903, "samples": 10000}, artifacts.clean_path("p", "abs_released"))
    frame = pd.concat([_frame("abs_released", "l2", "DDN", [1.0, 2.0, 3.0, 4.0, float("inf")]),
                       _frame("abs_released", "l2", "Latent Descent", [2.0, 2.5, 3.5, 5.0, 6.0])])
    found = released_page.findings("p", results.both_all_rows(frame), table1.paper())
    assert found["clean_abs_released"] == 99.03
    assert found["abs_released_l2_median"] == 3.0  # per sample the best: 1, 2, 3, 4, 6
    assert found["abs_released_l2_accuracy"] == 80.0  # 2, 3, 4 and 6 are above ε = 1.5
    assert found["abs_released_l2_n"] == 5
    assert found["abs_released_l2_median_paper_attacks"] == 3.5  # Latent Descent alone: the paper's attacks
    assert found["abs_released_l2_accuracy_paper_attacks"] == 100.0
    assert found["paper_abs_l2_median"] == 2.3 and found["paper_binary_abs_linf_accuracy"] == 77
    assert math.isnan(found["clean_abs"]) and math.isnan(found["abs_released_l0_median"])
    assert math.isnan(found["binary_abs_released_linf_accuracy"])
