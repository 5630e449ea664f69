"""Table 1 of the paper, regenerated from the stored per-sample attack results, beside the paper's.

Only stored results are read (artifacts/<profile>/results/attacks/ and results/clean/): building the
table never runs an attack. Each cell is "median distance / accuracy at ε"; "All <norm> Attacks" is
the per-sample best of the norm's paper attacks (comparable with the paper's row), "All <norm> incl.
adaptive" the best of every attack, the adaptive ones beyond the paper included. An iterative "w/ GE"
attack that ran a single step (where the gradient estimate is too expensive to iterate) is marked
ONE_STEP_MARK: it then equals its one-step counterpart (L2 BIM = FGM, BIM and MIM = FGSM) and says
so. A cell is flagged as differing from the paper when the accuracies differ by more than
ACC_TOLERANCE points, or the medians by more than a factor MEDIAN_FACTOR (a finite median against an
infinite one always differs).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from absnb import artifacts, results
from absnb.attacks import expected
from absnb.attacks.registry import ATTACKS
from absnb.paths import DATA_DIR
from absnb.vocabulary import DISPLAY_NAMES, MODELS, PAPER_MODELS, PAPER_NORM_LABELS, Norm

ACC_TOLERANCE = 15.0  # percentage points
MEDIAN_FACTOR = 1.5
ONE_STEP_MARK = "†"
ITERATIVE_GE = ("L2 BIM w/ GE", "BIM w/ GE", "MIM w/ GE")


def load_results(profile: str) -> pd.DataFrame:
    """The per-sample attack results of a full run of the profile, all norms, models and attacks: an
    error listing what is missing, stale or extra unless the store holds exactly those, fresh."""
    return expected.load(profile)


def ours(profile: str, frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """Our Table 1 in long form: norm, attack, model, median, accuracy, n (clean row first)."""
    frame = load_results(profile) if frame is None else frame
    best = results.both_all_rows(frame)
    best["attack"] = [all_label(norm, adaptive=attack == results.ALL_ADAPTIVE)
                      for norm, attack in zip(best["norm"], best["attack"], strict=True)]
    summary = results.summarise(pd.concat([frame, best], ignore_index=True))
    summary["one_step"] = [attack in ITERATIVE_GE and _steps(profile, norm, model, attack) == 1
                           for norm, model, attack in summary[["norm", "model", "attack"]].to_numpy()]
    summary["norm"] = summary["norm"].map(PAPER_NORM_LABELS)
    clean = [{"norm": "clean", "attack": "Clean", "model": m, "median_distance": np.nan, "n": s["samples"],
              "accuracy_percent": 100 * s["accuracy"]}
             for m in MODELS if (s := _clean(profile, m)) is not None]
    table = pd.concat([pd.DataFrame(clean), summary.drop(columns="rejected", errors="ignore")],
                      ignore_index=True)
    table["model"] = table["model"].map(DISPLAY_NAMES)
    return table


def all_label(norm: str, adaptive: bool) -> str:
    """The Table 1 name of a norm's "All" row: the paper's attacks only, or incl. the adaptive ones."""
    return f"All {Norm(norm).paper_label} {'incl. adaptive' if adaptive else 'Attacks'}"


def _steps(profile: str, norm: str, model: str, attack: str) -> int | None:
    """The "w/ GE" iterations a stored (model, attack) pair ran with (None if not recorded)."""
    path = artifacts.attack_path(profile, norm, model, attack, ".json")
    return artifacts.load_json(path)["budget"].get("ge_iterative_steps") if path.exists() else None


def _clean(profile: str, model: str) -> dict | None:
    path = artifacts.clean_path(profile, model)
    return artifacts.load_json(path) if path.exists() else None


def paper() -> pd.DataFrame:
    """The paper's Table 1 in the same long form (n/a cells are missing values)."""
    table = pd.read_csv(DATA_DIR / "paper_table1.csv", keep_default_na=False)
    for column in ("median_distance", "accuracy_percent"):
        table[column] = pd.to_numeric(table[column].replace({"n/a": np.nan, "": np.nan}))
    return table.drop(columns="epsilon")


def paper_all(paper: pd.DataFrame, norm: Norm, name: str) -> pd.DataFrame:
    """The paper's "All" row of `norm` for the model displayed as `name` (empty if it has none)."""
    return paper[(paper["norm"] == norm.paper_label) & (paper["model"] == name)
                 & (paper["attack"] == f"All {norm.paper_label} Attacks")]


def row_order() -> list[tuple[str, str]]:
    """(norm, attack) rows in the paper's order, our extra row (Latent Descent) before "All", then the
    adaptive attacks and "All incl. adaptive"."""
    rows = [("clean", "Clean")]
    for norm, specs in ATTACKS.items():
        label = norm.paper_label
        rows += [(label, s.name) for s in specs if s.paper] + [(label, all_label(norm, False))]
        rows += [(label, s.name) for s in specs if not s.paper] + [(label, all_label(norm, True))]
    return rows


def differs(ours_median: float, ours_acc: float, paper_median: float, paper_acc: float) -> bool:
    """Whether our cell and the paper's differ beyond the stated tolerance."""
    if math.isnan(paper_acc) or math.isnan(ours_acc):
        return False
    if abs(ours_acc - paper_acc) > ACC_TOLERANCE:
        return True
    if math.isnan(paper_median) or math.isnan(ours_median):
        return False
    if math.isinf(paper_median) or math.isinf(ours_median):
        return math.isinf(paper_median) != math.isinf(ours_median)
    low, high = sorted((max(ours_median, 1e-9), max(paper_median, 1e-9)))
    return high / low > MEDIAN_FACTOR


def comparison(profile: str, frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """Ours beside the paper's, long form, with a `differs` flag per cell."""
    merged = ours(profile, frame).merge(paper(), on=["norm", "attack", "model"], how="outer",
                                        suffixes=("", "_paper"))
    merged["differs"] = [differs(*vals) for vals in merged[["median_distance", "accuracy_percent",
                                                             "median_distance_paper",
                                                             "accuracy_percent_paper"]].to_numpy()]
    return merged


def _cell(median: float, acc: float) -> str:
    if math.isnan(acc):
        return ""
    if math.isnan(median):
        return f"{acc:.1f}%"
    return f"{'∞' if math.isinf(median) else f'{median:.3g}'} / {acc:.0f}%"


def _pair(ours_text: str, paper_text: str, html: bool) -> str:
    if not paper_text:
        return ours_text
    if html:
        return f'{ours_text or "–"}<br><span style="color:#888;font-size:85%">paper {paper_text}</span>'
    return f"{ours_text}  ({paper_text})"


def wide(comp: pd.DataFrame, html: bool = False) -> pd.DataFrame:
    """Paper layout: (norm, attack) rows, one column per model, cells "ours" with the paper's value
    (in parentheses, or below in grey for HTML)."""
    comp = comp.copy()
    marks = comp["one_step"].eq(True).map({True: f" {ONE_STEP_MARK}", False: ""}) \
        if "one_step" in comp else pd.Series("", index=comp.index)
    comp["text"] = [_pair(_cell(m, a) + (mark if _cell(m, a) else ""), _cell(pm, pa), html)
                    for m, a, pm, pa, mark in zip(*comp[["median_distance", "accuracy_percent",
                                                         "median_distance_paper", "accuracy_percent_paper"]]
                                                  .to_numpy().T, marks, strict=True)]
    table = comp.pivot(index=["norm", "attack"], columns="model", values="text")
    rows = [r for r in row_order() if r in table.index]
    models = [DISPLAY_NAMES[m] for m in PAPER_MODELS]
    return table.reindex(index=pd.MultiIndex.from_tuples(rows, names=["norm", "attack"]),
                         columns=models).fillna("")


def flags(comp: pd.DataFrame) -> pd.DataFrame:
    """The differs-from-paper flag of every cell of the wide table (False where there is no cell)."""
    table = wide(comp)
    marked = comp.pivot(index=["norm", "attack"], columns="model", values="differs")
    return marked.reindex(index=table.index, columns=table.columns).fillna(False).astype(bool)


def styled(comp: pd.DataFrame) -> pd.io.formats.style.Styler:
    """The wide table with differing cells shaded and the "All" rows in bold."""
    table, marked = wide(comp, html=True), flags(comp)

    def shade(frame: pd.DataFrame) -> pd.DataFrame:
        styles = pd.DataFrame("", index=frame.index, columns=frame.columns)
        styles[marked] = "background-color: #fde2c8"
        for row in frame.index:
            if row[1].startswith("All "):
                styles.loc[row] += "; font-weight: bold"
        return styles

    return table.style.apply(shade, axis=None)


def headline_table(comp: pd.DataFrame) -> pd.DataFrame:
    """The clean and "All" rows, ours above the paper's, one column per model: what the discussion
    chapter shows (via glue)."""
    rows = {}
    for norm, attack in row_order():
        if attack != "Clean" and not attack.startswith("All "):
            continue
        cells = comp[(comp["norm"] == norm) & (comp["attack"] == attack)].set_index("model")
        if cells.empty:
            continue
        label = "clean" if norm == "clean" else attack.removesuffix(" Attacks").lower()
        for who, suffix in (("ours", ""), ("paper", "_paper")):
            median, accuracy = cells[f"median_distance{suffix}"], cells[f"accuracy_percent{suffix}"]
            row = {m: _cell(median[m], accuracy[m]) or "–" for m in cells.index}
            if any(v != "–" for v in row.values()):  # the paper has no "incl. adaptive" rows
                rows[f"{label}, {who}"] = row
    models = [DISPLAY_NAMES[m] for m in PAPER_MODELS]
    return pd.DataFrame(rows).T.reindex(columns=models)
