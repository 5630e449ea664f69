"""The paper's claims hold on the paper's own Table 1, and each check fails when its numbers change."""

from __future__ import annotations

import pandas as pd
import pytest

from absnb import claims, table1


def _as_ours(table: pd.DataFrame) -> pd.DataFrame:
    """A comparison table whose "ours" columns are the given table and "paper" columns the paper's."""
    paper = table1.paper()
    comp = table.merge(paper, on=["norm", "attack", "model"], suffixes=("", "_paper"))
    return comp


def _set(table: pd.DataFrame, norm: str, attack: str, model: str, **values: float) -> pd.DataFrame:
    table = table.copy()
    row = (table["norm"] == norm) & (table["attack"] == attack) & (table["model"] == model)
    assert row.sum() == 1
    for column, value in values.items():
        table.loc[row, column] = value
    return table


def test_every_claim_holds_on_the_papers_table():
    result = claims.check(_as_ours(table1.paper()))
    assert result["holds in the paper"].all() and result["holds here"].all()
    assert len(result) == len(claims.CLAIMS)


@pytest.mark.parametrize("norm, attack, model, values, broken", [
    ("L2", "All L2 Attacks", "ABS", {"median_distance": 1.0}, "L2: ABS beats"),
    ("L2", "All L2 Attacks", "Nearest Neighbor", {"accuracy_percent": 85.0}, "L2: ABS beats"),
    ("Linf", "All Linf Attacks", "Madry et al.", {"median_distance": 0.5}, "L∞: Binary ABS"),
    ("Linf", "All Linf Attacks", "Binary ABS", {"accuracy_percent": 95.0}, "L∞: at ε = 0.3"),
    ("L0", "All L0 Attacks", "ABS", {"median_distance": 40.0}, "L0: both ABS models"),
    ("L0", "All L0 Attacks", "Madry et al.", {"median_distance": 9.5}, "L0: Madry et al. is the least"),
    ("L2", "Boundary Attack", "ABS", {"median_distance": 3.2}, "the Boundary Attack is the strongest"),
    ("clean", "Clean", "Madry et al.", {"accuracy_percent": 97.0}, "close to 99%"),
])
def test_a_claim_fails_when_its_numbers_change(norm, attack, model, values, broken):
    paper = table1.paper()
    ours = _set(paper, norm, attack, model, **{k: v for k, v in values.items()})
    result = claims.check(_as_ours(ours)).set_index("claim")
    failed = result.index[~result["holds here"]].tolist()
    assert len(failed) == 1 and broken in failed[0], failed
    assert result["holds in the paper"].all()


def test_all_attacks_no_better_than_the_best_single_one_is_not_often():
    table = table1.paper()
    for norm in ("L2", "Linf", "L0"):
        single = table[(table["norm"] == norm) & ~table["attack"].str.startswith("All ")]
        best = single.groupby("model")["median_distance"].min()
        for model, value in best.items():
            table = _set(table, norm, f"All {norm} Attacks", model, median_distance=value)
    comp = table.merge(table1.paper(), on=["norm", "attack", "model"], how="outer", suffixes=("", "_paper"))
    result = claims.check(comp).set_index("claim")
    assert not result.loc[result.index.str.startswith('"All"'), "holds here"].iloc[0]


def test_adaptive_rows_are_judged_apart_from_the_papers():
    """With "incl. adaptive" rows, the claims are also checked on them: a much stronger attack on ABS
    breaks "ABS beats every other model in L2" there only, and adaptive single attacks stay out of the
    paper-attacks check."""
    paper = table1.paper()
    extra = paper[paper["attack"].str.startswith("All ")].copy()
    extra["attack"] = extra["attack"].str.replace(" Attacks", " incl. adaptive")
    fmn = paper[(paper["norm"] == "L2") & (paper["attack"] == "Boundary Attack")].assign(attack="FMN")
    ours = pd.concat([paper, extra, fmn], ignore_index=True)
    ours = _set(ours, "L2", "All L2 incl. adaptive", "ABS", median_distance=0.5)
    ours = _set(ours, "L2", "FMN", "ABS", median_distance=0.5)
    comp = ours.merge(paper, on=["norm", "attack", "model"], how="left", suffixes=("", "_paper"))
    result = claims.check(comp).set_index("claim")
    assert result["holds here"].all(), "the paper-attack view ignores the adaptive rows"
    broken = result.index[~result["holds incl. adaptive"]].tolist()
    assert any("L2: ABS beats" in c for c in broken)
    assert any("Boundary Attack is the strongest" in c for c in broken)  # FMN beats it on ABS


def test_the_released_models_stand_in_for_ours_and_ours_never_count_as_other_models():
    """Released rows that copy the paper's ABS rows hold every claim; our ABS, made weak, does not
    matter then; without released rows, ours judged as "other models" would break the ABS claims."""
    paper = table1.paper()
    abs_rows = paper[paper["model"].isin(["ABS", "Binary ABS"])]
    released = abs_rows.assign(model=abs_rows["model"] + " (released)")
    weak_ours = paper.assign(median_distance=paper["median_distance"].where(
        ~paper["model"].isin(["ABS", "Binary ABS"]), 0.01))
    comp = _as_ours(weak_ours)
    comp = pd.concat([comp, released.assign(median_distance_paper=float("nan"),
                                            accuracy_percent_paper=float("nan"))], ignore_index=True)
    on_released = claims.check(comp, released=True)
    assert on_released["holds here"].all()
    on_ours = claims.check(comp)
    assert not on_ours.set_index("claim").loc[claims.CLAIMS[1][0], "holds here"]  # L2: ABS beats
    assert on_ours["holds in the paper"].all()


def test_a_claim_whose_cells_are_missing_is_not_measured_not_failed():
    table = table1.paper()
    table = table[~((table["attack"] == "Boundary Attack") & (table["model"] == "ABS"))]
    comp = table.merge(table1.paper(), on=["norm", "attack", "model"], how="outer", suffixes=("", "_paper"))
    result = claims.check(comp).set_index("claim")
    row = result.loc["L2: the Boundary Attack is the strongest single attack on Madry et al. and ABS"]
    assert row["holds here"] is None and "not measured" in row["ours"]
    assert claims.held(result, "holds here") == len(claims.CLAIMS) - 1
    assert "–" in claims.styled(result.reset_index()).to_html()
