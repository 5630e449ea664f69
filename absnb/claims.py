"""The paper's claims about Table 1 (its Section 6), each checked on the paper's numbers and on ours.

Every claim is a small function of one Table 1 (long form: norm, attack, model, median distance,
accuracy) that returns whether it holds and the numbers it rests on. Run on the paper's own table,
every claim holds (the tests check this); run on ours with the paper's attacks, it says what this
reproduction confirms; run with the adaptive attacks too (their "All incl. adaptive" rows standing in
for "All", their rows among the single attacks), it says what the stronger attacks do to the claims.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from absnb.attacks.registry import ATTACKS
from absnb.results import distance_text as text
from absnb.vocabulary import DISPLAY_NAMES, PAPER_DISPLAY_NAMES, RELEASED

MODELS = tuple(PAPER_DISPLAY_NAMES.values())
# "All" beats the best single attack on at least this share of (model, norm) pairs: "often".
OFTEN = 0.25

Evidence = tuple[bool, str]


def _all(table: pd.DataFrame, norm: str) -> pd.DataFrame:
    label = {"L2": "All L2 Attacks", "Linf": "All Linf Attacks", "L0": "All L0 Attacks"}[norm]
    return table[(table["norm"] == norm) & (table["attack"] == label)].set_index("model")


def _largest(table: pd.DataFrame, norm: str, column: str, winner: str) -> Evidence:
    cells = _all(table, norm)[column]
    others = cells.drop(winner)
    unit = "%" if column == "accuracy" else ""
    return bool(cells[winner] > others.max()), \
        f"{winner} {text(cells[winner])}{unit}; next {others.idxmax()} {text(others.max())}{unit}"


def abs_best_in_l2(table: pd.DataFrame) -> Evidence:
    median, why_m = _largest(table, "L2", "median", "ABS")
    accuracy, why_a = _largest(table, "L2", "accuracy", "ABS")
    return median and accuracy, f"median: {why_m}; accuracy: {why_a}"


def binary_abs_best_linf_median(table: pd.DataFrame) -> Evidence:
    return _largest(table, "Linf", "median", "Binary ABS")


def madry_best_linf_accuracy(table: pd.DataFrame) -> Evidence:
    return _largest(table, "Linf", "accuracy", "Madry et al.")


def abs_models_best_in_l0(table: pd.DataFrame) -> Evidence:
    medians = _all(table, "L0")["median"]
    others = medians.drop(["ABS", "Binary ABS"])
    holds = min(medians["ABS"], medians["Binary ABS"]) > others.max() \
        and medians["Binary ABS"] > medians["ABS"]
    return bool(holds), (f"Binary ABS {text(medians['Binary ABS'])}, ABS {text(medians['ABS'])}; "
                         f"best other {others.idxmax()} {text(others.max())}")


def madry_weakest_in_l0(table: pd.DataFrame) -> Evidence:
    medians = _all(table, "L0")["median"]
    return bool(medians["Madry et al."] < medians.drop("Madry et al.").min()), \
        f"Madry et al. {text(medians['Madry et al.'])}, CNN {text(medians['CNN'])}"


def boundary_strongest_on_madry_and_abs(table: pd.DataFrame) -> Evidence:
    """Against the other single attacks of the table, not Latent Descent (not among the paper's
    comparison; here the Boundary Attack starts from the best of the others, so it cannot be worse)."""
    single = table[(table["norm"] == "L2") & ~table["attack"].str.startswith("All ")
                   & (table["attack"] != "Latent Descent")]
    parts, holds = [], True
    for model in ("Madry et al.", "ABS"):
        cells = single[single["model"] == model].dropna(subset=["median"]).set_index("attack")["median"]
        others = cells.drop("Boundary Attack")
        holds &= bool(cells["Boundary Attack"] < others.min())
        parts.append(f"{model}: Boundary {text(cells['Boundary Attack'])}, "
                     f"next {others.idxmin()} {text(others.min())}")
    return holds, "; ".join(parts)


def all_often_beats_every_single_attack(table: pd.DataFrame) -> Evidence:
    wins = total = 0
    for norm in ("L2", "Linf", "L0"):
        rows = table[table["norm"] == norm].dropna(subset=["median"])
        for _, cells in rows.groupby("model"):
            best = cells[cells["attack"].str.startswith("All ")]["median"]
            single = cells[~cells["attack"].str.startswith("All ")]["median"]
            if len(best) and len(single):
                wins += int(best.iloc[0] < single.min())
                total += 1
    return wins >= OFTEN * total, f"{wins} of {total} (model, norm) pairs"


def clean_close_to_99(table: pd.DataFrame) -> Evidence:
    clean = table[table["norm"] == "clean"].set_index("model")["accuracy"]
    others = clean.drop("Nearest Neighbor")
    return bool(others.min() >= 98.0 and clean["Nearest Neighbor"] < others.min()), \
        f"lowest besides NN: {others.idxmin()} {others.min():.1f}%; NN {clean['Nearest Neighbor']:.1f}%"


CLAIMS: list[tuple[str, Callable[[pd.DataFrame], Evidence]]] = [
    ("All models but Nearest Neighbour are close to 99% clean accuracy (≥ 98%)", clean_close_to_99),
    ("L2: ABS beats every other model by median and by accuracy at ε", abs_best_in_l2),
    ("L∞: Binary ABS has the largest median adversarial distance", binary_abs_best_linf_median),
    ("L∞: at ε = 0.3, Madry et al. has the highest accuracy", madry_best_linf_accuracy),
    ("L0: both ABS models beat every other model by median, Binary ABS more than ABS",
     abs_models_best_in_l0),
    ("L0: Madry et al. is the least robust model, below the CNN", madry_weakest_in_l0),
    ("L2: the Boundary Attack is the strongest single attack on Madry et al. and ABS",
     boundary_strongest_on_madry_and_abs),
    (f"\"All\" beats the best single attack often (≥ {OFTEN:.0%} of model/norm pairs)",
     all_often_beats_every_single_attack),
]


ADAPTIVE = " incl. adaptive"


def _view(comparison: pd.DataFrame, suffix: str, adaptive: bool = False) -> pd.DataFrame:
    """One Table 1 in long form: the paper's rows (adaptive=False), or with the adaptive attacks among
    the single attacks and their "All ... incl. adaptive" rows as the "All" rows (adaptive=True)."""
    table = comparison.rename(columns={f"median_distance{suffix}": "median",
                                       f"accuracy_percent{suffix}": "accuracy"})[
        ["norm", "attack", "model", "median", "accuracy"]]
    is_all = table["attack"].str.startswith("All ")
    with_adaptive = is_all & table["attack"].str.endswith(ADAPTIVE)
    if not adaptive:
        return table[~with_adaptive & (~table["attack"].isin(ADAPTIVE_NAMES) | is_all)]
    table = table[~is_all | with_adaptive].copy()
    table["attack"] = table["attack"].str.replace(ADAPTIVE, " Attacks", regex=False)
    return table


ADAPTIVE_NAMES = tuple(sorted({s.name for specs in ATTACKS.values() for s in specs if not s.paper}))


def check(comparison: pd.DataFrame, released: bool = False) -> pd.DataFrame:
    """Each claim on the paper's table, on ours with the paper's attacks, and on ours with the adaptive
    attacks too (where the run has them; `table1.comparison` has all three). With `released`, the
    authors' released ABS models stand in for our ABS and Binary ABS. A claim whose cells the run
    does not have holds neither way: None, and what is missing."""
    paper = _view(_paper_models(comparison), "_paper")
    mine = released_as_paper(comparison) if released else _paper_models(comparison)
    ours = _view(mine, "")
    stronger = _view(mine, "", adaptive=True) if mine["attack"].str.endswith(ADAPTIVE).any() else None
    rows = []
    for claim, test in CLAIMS:
        paper_holds, paper_why = test(paper)
        ours_holds, ours_why = _tried(test, ours)
        row = {"claim": claim, "paper": paper_why, "ours": ours_why,
               "holds in the paper": paper_holds, "holds here": ours_holds}
        if stronger is not None:
            row["ours incl. adaptive"], row["holds incl. adaptive"] = _tried(test, stronger)[::-1]
        rows.append(row)
    return pd.DataFrame(rows)


def _tried(test: Callable[[pd.DataFrame], Evidence], table: pd.DataFrame) -> tuple[bool | None, str]:
    try:
        return test(table)
    except KeyError as missing:
        return None, f"not measured in this run ({missing.args[0]} missing)"


def _paper_models(comparison: pd.DataFrame) -> pd.DataFrame:
    return comparison[comparison["model"].isin(MODELS)]


def released_as_paper(comparison: pd.DataFrame) -> pd.DataFrame:
    """Our table with the released ABS models in place of ours, under the paper's names."""
    names = {DISPLAY_NAMES[r]: DISPLAY_NAMES[p] for r, p in RELEASED.items()}
    kept = comparison[~comparison["model"].isin(names.values())]
    return _paper_models(kept.assign(model=kept["model"].replace(names)))


VERDICTS = ("holds in the paper", "holds here", "holds incl. adaptive")


def held(checked: pd.DataFrame, column: str) -> int:
    """How many claims hold in one verdict column (a claim not measured does not count)."""
    return int(checked[column].eq(True).sum()) if column in checked else 0


def styled(checked: pd.DataFrame) -> pd.io.formats.style.Styler:
    """The checked claims with their verdicts as yes (green), no (red) or – (not measured)."""
    verdicts = [c for c in VERDICTS if c in checked]

    def word(ok: bool | None) -> str:
        return "–" if ok is None else "yes" if ok else "no"

    def colour(ok: bool | None) -> str:
        return "color: #888" if ok is None else f"color: {'#2ca02c' if ok else '#d62728'}; font-weight: bold"

    return checked.style.hide(axis="index").format(word, subset=verdicts).map(colour, subset=verdicts)
