"""Table 1 from stored results: the paper's layout, the "All" rows, and the differs-from-paper cue."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from absnb import artifacts, table1
from absnb.attacks.registry import ATTACKS, applies
from absnb.vocabulary import PAPER_MODELS


@pytest.mark.parametrize("ours_median, ours_acc, paper_median, paper_acc, expected", [
    (1.0, 50.0, 1.1, 55.0, False),  # within both tolerances
    (1.0, 50.0, 1.1, 70.0, True),  # accuracy 20 points apart
    (1.0, 50.0, 2.0, 50.0, True),  # medians a factor 2 apart
    (math.inf, 90.0, 5.0, 90.0, True),  # never broken vs. broken at 5
    (math.inf, 90.0, math.inf, 91.0, False),
    (math.nan, math.nan, 1.0, 50.0, False),  # an empty cell of ours is not a difference
])
def test_differs_uses_the_stated_tolerance(ours_median, ours_acc, paper_median, paper_acc, expected):
    assert table1.differs(ours_median, ours_acc, paper_median, paper_acc) is expected


def _synthetic(tmp_path, monkeypatch) -> pd.DataFrame:
    """Stored results for every applicable (norm, attack, model) on 4 samples, distances by design."""
    monkeypatch.setattr(artifacts, "ARTIFACTS_DIR", tmp_path)
    rows = []
    for norm, specs in ATTACKS.items():
        for i, spec in enumerate(specs):
            for model in PAPER_MODELS:
                if applies(spec, model):
                    for sample, d in enumerate([0.0, 1.0 + i, 2.0 + i, np.inf]):
                        rows.append({"model": model, "norm": norm, "attack": spec.name, "sample": sample,
                                     "label": sample, "prediction": sample, "distance": d,
                                     "success": np.isfinite(d), "rejected": False})
    frame = pd.DataFrame(rows)
    for model in PAPER_MODELS:
        artifacts.save_json({"samples": 300, "accuracy": 0.75},
                            artifacts.results_path("t", f"clean/{model}.json"))
    return frame


def test_all_rows_take_the_best_attack_per_sample(tmp_path, monkeypatch):
    frame = _synthetic(tmp_path, monkeypatch)
    ours = table1.ours("t", frame).set_index(["norm", "attack", "model"])
    # the first attack of each norm has distances 0, 1, 2, inf: the best per sample; median 1.5
    assert ours.loc[("L2", "All L2 Attacks", "CNN"), "median_distance"] == 1.5
    assert ours.loc[("L2", "All L2 Attacks", "CNN"), "accuracy_percent"] == 50.0  # 2 and inf > 1.5
    assert ours.loc[("L0", "All L0 Attacks", "ABS"), "accuracy_percent"] == 25.0  # only inf > 12
    assert ours.loc[("clean", "Clean", "ABS"), "accuracy_percent"] == 75.0


def test_wide_table_has_every_cell_the_paper_has(tmp_path, monkeypatch):
    frame = _synthetic(tmp_path, monkeypatch)
    comp = table1.comparison("t", frame)
    wide = table1.wide(comp)
    paper = table1.paper().dropna(subset=["accuracy_percent"])
    assert list(wide.columns) == ["CNN", "Binary CNN", "Nearest Neighbor", "Madry et al.", "Binary ABS",
                                  "ABS"]
    for row in paper.itertuples():
        cell = wide.loc[(row.norm, row.attack), row.model]
        assert cell and not cell.startswith(" "), (row.norm, row.attack, row.model)
    # cells the paper leaves empty stay empty: no real-gradient FGM for Nearest Neighbour
    assert wide.loc[("L2", "FGM"), "Nearest Neighbor"] == ""
    assert "Latent Descent" in wide.loc["L2"].index and wide.loc[("L2", "Latent Descent"), "CNN"] == ""
    marked = table1.flags(comp)
    assert int(marked.to_numpy().sum()) == int(comp["differs"].sum())
    assert marked.loc[("clean", "Clean"), "CNN"], "75% clean vs the paper's 99.1% must be flagged"
    assert "background-color: #fde2c8" in table1.styled(comp).to_html()


def test_adaptive_attacks_count_only_in_the_incl_adaptive_row(tmp_path, monkeypatch):
    frame = _synthetic(tmp_path, monkeypatch)
    fmn = (frame["norm"] == "l2") & (frame["attack"] == "FMN") & (frame["model"] == "abs")
    frame.loc[fmn, "distance"] = [0.0, 0.1, 0.2, 0.3]  # far below every paper attack
    ours = table1.ours("t", frame).set_index(["norm", "attack", "model"])
    assert ours.loc[("L2", "All L2 Attacks", "ABS"), "median_distance"] == 1.5  # the paper's attacks only
    assert ours.loc[("L2", "All L2 incl. adaptive", "ABS"), "median_distance"] == pytest.approx(0.15)
    assert ours.loc[("L2", "All L2 incl. adaptive", "ABS"), "accuracy_percent"] == 0.0
    rows = table1.row_order()
    assert rows.index(("L2", "All L2 Attacks")) < rows.index(("L2", "FMN")) < \
        rows.index(("L2", "All L2 incl. adaptive"))
    headline = table1.headline_table(table1.comparison("t", frame))
    assert headline.loc["all l2 incl. adaptive, ours", "ABS"] == "0.15 / 0%"
    assert "all l2 incl. adaptive, paper" not in headline.index  # the paper has no such row
    assert headline.loc["all l2, paper", "ABS"] != "–"


def test_one_step_ge_rows_are_marked(tmp_path, monkeypatch):
    frame = _synthetic(tmp_path, monkeypatch)
    for model, steps in (("abs", 1), ("nearest", 10)):
        artifacts.save_json({"budget": {"ge_iterative_steps": steps}},
                            artifacts.results_path("t", f"attacks/linf/{model}/bim_w__ge.json"))
    wide = table1.wide(table1.comparison("t", frame))
    assert wide.loc[("Linf", "BIM w/ GE"), "ABS"].split("  ")[0].endswith(table1.ONE_STEP_MARK)
    assert table1.ONE_STEP_MARK not in wide.loc[("Linf", "BIM w/ GE"), "Nearest Neighbor"]
    assert table1.ONE_STEP_MARK not in wide.loc[("Linf", "FGSM w/ GE"), "ABS"]  # one step by design
