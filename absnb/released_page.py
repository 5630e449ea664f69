"""The book's page on the authors' released ABS weights: their files, their clean accuracy beside our
ABS models', and per norm the paper's "All" row beside the released and our models' strongest rows.

Everything here reads stored results (the clean scores, the per-sample attack results): nothing runs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from absnb import artifacts, results, table1
from absnb.models import released
from absnb.vocabulary import DISPLAY_NAMES, PAPER_ORDER, RELEASED, Norm

PAIRS = tuple((ours, mine) for mine, ours in RELEASED.items())[::-1]  # (ours, released): ABS first


def files_table() -> pd.DataFrame:
    """The ten released files with their verified SHA-256 (an altered file raises before this shows)."""
    digests = released.expected_digests()
    return pd.DataFrame({"file": released.FILES, "class": range(10),
                         "SHA-256 (verified)": [_verified(name, digests[name]) for name in released.FILES]})


def _verified(name: str, digest: str) -> str:
    released.verified_bytes(name)
    return digest


def clean_table(profile: str) -> pd.DataFrame:
    """Per ABS model, ours and released: test images, accuracy of the full inference, and of the bank
    start alone (the proxy the training curve reports), in percent."""
    rows = []
    for ours, mine in PAIRS:
        for model in (ours, mine):
            score = artifacts.load_json(artifacts.clean_path(profile, model))
            rows.append({"model": DISPLAY_NAMES[model], "test images": score["samples"],
                         "accuracy (%)": 100 * score["accuracy"],
                         "bank only (%)": 100 * score.get("bank_accuracy", np.nan)})
    return pd.DataFrame(rows)


def gamma_table(profile: str) -> pd.DataFrame:
    """Binary ABS (released)'s class scalars: the authors' beside our fit on their VAEs (classes as
    columns), and the training accuracy each gives on the fit's training images."""
    fit = artifacts.load_json(artifacts.results_path(profile, "released_gamma.json"))
    rows = {"γ = 1": [1.0] * 10 + [fit["accuracy_gamma_1"]],
            "the authors' γ (used)": [*fit["authors_gamma"], fit["accuracy_own"]],
            "our fit on their VAEs": [*fit["gamma"], fit["accuracy_fitted"]]}
    columns = [str(c) for c in range(10)] + [f"training accuracy (%, {fit['samples']:,} images)"]
    table = pd.DataFrame(rows, index=columns).T
    table[columns[-1]] *= 100
    return table


def comparison(best: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    """Per norm and ABS model: the paper's "All" row, the released model's "All" over the paper's
    attacks that ran and incl. the adaptive ones, and ours incl. adaptive; each with n, the median
    with its 95% bootstrap interval and the accuracy at ε with its 95% Wilson interval."""
    unc = results.uncertainty(best).set_index(["model", "norm", "attack"])
    rows = []
    for norm in map(Norm, PAPER_ORDER):
        for ours, mine in PAIRS:
            name = DISPLAY_NAMES[ours]
            cell = table1.paper_all(paper, norm, name)
            if len(cell):
                rows.append(_row(norm, name, "paper, All attacks", None, cell["median_distance"].iloc[0],
                                 None, cell["accuracy_percent"].iloc[0], None))
            for model, attack, label in ((mine, results.ALL_PAPER, "released, the paper's attacks run here"),
                                         (mine, results.ALL_ADAPTIVE, "released, incl. adaptive"),
                                         (ours, results.ALL_ADAPTIVE, "ours, incl. adaptive")):
                if (model, norm, attack) in unc.index:
                    r = unc.loc[(model, norm, attack)]
                    rows.append(_row(norm, name, label, int(r["n"]), r["median_distance"],
                                     (r["median_low"], r["median_high"]), r["accuracy_percent"],
                                     (r["accuracy_low"], r["accuracy_high"])))
    return pd.DataFrame(rows)


def findings(profile: str, best: pd.DataFrame, paper: pd.DataFrame) -> dict[str, float]:
    """The numbers the book's introduction and discussion quote, by key (NaN where this run has none):
    per ABS model (ours and released) its clean accuracy (%) and, per norm, the median, the accuracy at
    ε (%) and the sample count n of its "All incl. adaptive" row (keys `{model}_{norm}_median`, ...)
    and of its "All (paper attacks)" row (the same keys ending `_paper_attacks`); per norm the paper's
    "All" row for ABS and Binary ABS (`paper_{model}_{norm}_median`, ...)."""
    unc = results.uncertainty(best).set_index(["model", "norm", "attack"])
    found = {}
    for ours, mine in PAIRS:
        for model in (ours, mine):
            path = artifacts.clean_path(profile, model)
            found[f"clean_{model}"] = 100 * artifacts.load_json(path)["accuracy"] if path.exists() else np.nan
            for norm in PAPER_ORDER:
                for attack, suffix in ((results.ALL_ADAPTIVE, ""), (results.ALL_PAPER, "_paper_attacks")):
                    row = unc.loc[(model, norm, attack)] if (model, norm, attack) in unc.index else \
                        {"median_distance": np.nan, "accuracy_percent": np.nan, "n": np.nan}
                    found[f"{model}_{norm}_median{suffix}"] = float(row["median_distance"])
                    found[f"{model}_{norm}_accuracy{suffix}"] = float(row["accuracy_percent"])
                    found[f"{model}_{norm}_n{suffix}"] = float(row["n"])
        for norm in map(Norm, PAPER_ORDER):
            cell = table1.paper_all(paper, norm, DISPLAY_NAMES[ours])
            found[f"paper_{ours}_{norm}_median"] = float(cell["median_distance"].iloc[0])
            found[f"paper_{ours}_{norm}_accuracy"] = float(cell["accuracy_percent"].iloc[0])
    return found


def _row(norm: Norm, model: str, label: str, n: int | None, median: float, median_ci: tuple | None,
         accuracy: float, accuracy_ci: tuple | None) -> dict:
    text = results.distance_text
    med = text(median) + ("" if median_ci is None else f" [{text(median_ci[0])}, {text(median_ci[1])}]")
    acc = f"{accuracy:.0f}%"
    if accuracy_ci is not None:
        acc += f" [{accuracy_ci[0]:.0f}, {accuracy_ci[1]:.0f}]"
    return {"norm": norm.label, "model": model, "evaluation": label, "n": "" if n is None else str(n),
            "median [95%]": med, "accuracy at ε [95%]": acc}

