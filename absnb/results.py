"""Tidy per-sample attack results and their summaries: median distance and accuracy at ε (Table 1).

A per-sample table has one row per (model, norm, attack, sample): the sample's index into the fixed
test selection, its label, the model's prediction (on the adversarial, else on the clean image), the
minimal adversarial distance (0 if the clean image is misclassified, inf if no adversarial was found),
whether the sample is broken, and the logit margin on the recorded image (best wrong minus true logit:
positive where broken, negative on a clean image the model still gets right). "All" attacks is the
per-sample minimum over a norm's attacks: "All" over the paper's attacks (Table 1's row, comparable
with the paper), "All incl. adaptive" over every attack, the adaptive ones beyond the paper included.

Accuracy at ε counts the samples whose distance is strictly greater than ε, so an adversarial at
exactly ε breaks the sample. Attacks and distances run in float32, where an attack clipped to an ε-ball
lands up to a few ulps outside it (an L∞ attack at 0.3 measures 0.30000004), so the comparison allows a
relative EPS_RTOL: a sample is robust at ε only if its distance exceeds ε · (1 + EPS_RTOL).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from absnb.attacks.registry import is_paper
from absnb.attacks.verify import Verified
from absnb.vocabulary import Norm

KEYS = ["model", "norm", "attack"]
ALL_PAPER, ALL_ADAPTIVE = "All", "All incl. adaptive"
# Far above float32 rounding of distances (~1e-7 relative), far below any gap between attacks.
EPS_RTOL = 1e-5


def per_sample_frame(model: str, norm: Norm, attack: str, samples: Sequence[int] | torch.Tensor,
                     labels: Sequence[int] | torch.Tensor, verified: Verified) -> pd.DataFrame:
    """One attack's verified results on one model as a tidy table, one row per test sample."""
    n = len(verified.distance)
    if len(samples) != n or len(labels) != n:
        raise ValueError(f"{len(samples)} samples and {len(labels)} labels for {n} results")
    return pd.DataFrame({
        "model": model, "norm": norm, "attack": attack,
        "sample": torch.as_tensor(samples).cpu().long().numpy(),
        "label": torch.as_tensor(labels).cpu().long().numpy(),
        "prediction": verified.prediction.cpu().long().numpy(),
        "distance": verified.distance.cpu().double().numpy(),
        "success": verified.success.cpu().bool().numpy(),
        "rejected": verified.refused.cpu().bool().numpy(),
        "margin": verified.margin.cpu().double().numpy(),
    })


def _check_distances(frame: pd.DataFrame) -> None:
    if frame["distance"].isna().any() or (frame["distance"] < 0).any():
        raise ValueError("distances must be >= 0 (inf for unbroken samples), never NaN")


def all_attacks(frame: pd.DataFrame, partial: bool = False) -> pd.DataFrame:
    """Per (model, norm, sample), the row of the attack with the smallest distance, as attack "All".

    The winning attack is kept in `best_attack` (the first in table order on a tie; missing where
    the distance is 0, a clean misclassification no attack was needed for, or inf, none succeeded).
    Every attack of a (model, norm) must cover the same samples, with one label each, or the minimum
    would silently be over fewer attacks for some of them; `partial` allows attacks that cover a
    subset (the costly ones, `AttackBudget.costly_samples`): the minimum is then over those that ran.
    """
    _check_distances(frame)
    frame = frame.reset_index(drop=True)  # idxmin below needs unique row labels
    for (model, norm), group in frame.groupby(["model", "norm"], sort=False):
        per_attack = group.groupby("attack", sort=False)["sample"].agg(lambda s: tuple(sorted(s)))
        if (per_attack.nunique() != 1 and not partial) or group.duplicated(["attack", "sample"]).any():
            raise ValueError(f"attacks on ({model}, {norm}) do not cover the same samples once each")
        if (group.groupby("sample")["label"].nunique() > 1).any():
            raise ValueError(f"attacks on ({model}, {norm}) disagree on a sample's label")
    best = frame.loc[frame.groupby(["model", "norm", "sample"], sort=False)["distance"].idxmin()]
    best = best.rename(columns={"attack": "best_attack"}).drop(columns="rejected", errors="ignore")
    best["best_attack"] = best["best_attack"].where((best["distance"] > 0) & np.isfinite(best["distance"]))
    best.insert(2, "attack", "All")
    return best.reset_index(drop=True)


def paper_attacks(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of the paper's attacks only (Latent Descent included, the adaptive attacks left out)."""
    keep = [is_paper(norm, attack) for norm, attack in zip(frame["norm"], frame["attack"], strict=True)]
    return frame[keep]


def both_all_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The two "All" rows per (model, norm, sample): ALL_PAPER over the paper's attacks, on the samples
    every one of them ran on, and, where the frame has adaptive attacks, ALL_ADAPTIVE over every attack
    on every sample (where the costly attacks ran on fewer samples, the best of those that ran)."""
    paper = paper_attacks(frame)
    rows = [all_attacks(common_samples(paper))] if len(paper) else []
    if len(paper) < len(frame):
        rows.append(all_attacks(frame, partial=True).assign(attack=ALL_ADAPTIVE))
    return pd.concat(rows, ignore_index=True)


def contribution(frame: pd.DataFrame, attack: str) -> pd.DataFrame:
    """What one attack adds to the strongest evaluation: per (model, norm) it ran on, the best of every
    attack without it ("before") and with it ("after"), as `uncertainty` rows, and `improved`, the
    samples on which it is strictly the smallest (where the two rows differ)."""
    ran = frame.loc[frame["attack"] == attack, ["model", "norm"]].drop_duplicates()
    scope = frame.merge(ran, on=["model", "norm"])
    others = scope[scope["attack"] != attack]
    if not len(ran) or not len(others):
        return pd.DataFrame()
    before = all_attacks(others, partial=True)
    after = all_attacks(scope, partial=True)
    keys = ["model", "norm", "sample"]
    both = before[[*keys, "distance"]].merge(after[[*keys, "distance"]], on=keys,
                                             suffixes=("_before", "_after"))
    improved = (both["distance_after"] < both["distance_before"]).groupby([both["model"], both["norm"]]).sum()
    table = uncertainty(pd.concat([before.assign(attack="before"), after.assign(attack="after")]))
    table["improved"] = [int(improved.get((m, n), 0)) if a == "after" else pd.NA
                         for m, n, a in zip(table["model"], table["norm"], table["attack"], strict=True)]
    return table.astype({"improved": "Int64"})


def common_samples(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of the samples that every attack of their (model, norm) ran on."""
    keys = ["model", "norm", "sample"]
    attacks = frame.groupby(["model", "norm"])["attack"].transform("nunique")
    covered = frame.groupby(keys)["attack"].transform("nunique")
    return frame[covered == attacks]


def strongest(best: pd.DataFrame) -> pd.DataFrame:
    """Of `both_all_rows`, per (model, norm) the ALL_ADAPTIVE rows where there are any, else ALL_PAPER."""
    has = best[best["attack"] == ALL_ADAPTIVE].groupby(["model", "norm"]).size()
    covered = pd.Series(list(zip(best["model"], best["norm"], strict=True)), index=best.index).isin(has.index)
    return best[(best["attack"] == ALL_ADAPTIVE) | ((best["attack"] == ALL_PAPER) & ~covered)]


def accuracy_curve(distances: np.ndarray | Sequence[float], grid: np.ndarray | Sequence[float]) -> np.ndarray:
    """Fraction of samples still classified correctly at each perturbation size d of `grid` (Figure 2)."""
    d = np.asarray(distances, dtype=float)
    eps = np.asarray(grid, dtype=float)
    return (d[None, :] > eps[:, None] * (1 + EPS_RTOL)).mean(axis=1)


def summarise(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (model, norm, attack): samples, median distance and accuracy at ε (percent), as in Table 1.

    The median is np.median over every sample, 0 and inf included: it is inf when more than half the
    distances are inf, and also when exactly half are (with an even count the two middle values are
    averaged, and a finite value plus inf is inf). `rejected` is summed where the table has it (NA
    for rows without it, such as "All" rows concatenated with the per-attack ones).
    """
    _check_distances(frame)
    rows = []
    for (model, norm, attack), group in frame.groupby(KEYS, sort=False):
        d = group["distance"].to_numpy(dtype=float)
        row = {"model": model, "norm": norm, "attack": attack, "n": len(d),
               "median_distance": float(np.median(d)),
               "accuracy_percent": 100 * float(accuracy_curve(d, [Norm(norm).epsilon])[0])}
        if "rejected" in group:
            claimed = group["rejected"].dropna()
            row["rejected"] = int(claimed.sum()) if len(claimed) else pd.NA
        rows.append(row)
    table = pd.DataFrame(rows)
    if "rejected" in table:
        table["rejected"] = table["rejected"].astype("Int64")
    return table


def distance_text(value: float) -> str:
    """A distance as the tables print it: three significant digits, ∞ for a sample never broken."""
    return "∞" if np.isinf(value) else f"{value:.3g}"


def interval_texts(row: object) -> tuple[str, str]:
    """An `uncertainty` row as "median [low, high]" and "accuracy% [low, high]"."""
    low, high = distance_text(row.median_low), distance_text(row.median_high)
    median = f"{distance_text(row.median_distance)} [{low}, {high}]"
    return median, f"{row.accuracy_percent:.0f}% [{row.accuracy_low:.0f}, {row.accuracy_high:.0f}]"


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval (95% for z = 1.96) of a proportion, as fractions in [0, 1]."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (float(max(0.0, centre - half)), float(min(1.0, centre + half)))


def median_interval(distances: np.ndarray, resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """A 95% percentile-bootstrap interval of the median distance (inf where the resampled medians are)."""
    d = np.asarray(distances, dtype=float)
    rng = np.random.default_rng(seed)
    medians = np.median(rng.choice(d, size=(resamples, len(d)), replace=True), axis=1)
    return (float(np.percentile(medians, 2.5, method="lower")),
            float(np.percentile(medians, 97.5, method="higher")))


def uncertainty(best: pd.DataFrame) -> pd.DataFrame:
    """Per (model, norm) of each kind of "All" row: how far the sample count lets a reader trust the median
    (bootstrap interval) and the accuracy at ε (Wilson interval, percent)."""
    rows = []
    for (model, norm, attack), group in best.groupby(["model", "norm", "attack"], sort=False):
        d = group["distance"].to_numpy(dtype=float)
        robust = int((d > Norm(norm).epsilon * (1 + EPS_RTOL)).sum())
        acc_low, acc_high = wilson_interval(robust, len(d))
        med_low, med_high = median_interval(d)
        rows.append({"model": model, "norm": norm, "attack": attack, "n": len(d),
                     "median_distance": float(np.median(d)),
                     "median_low": med_low, "median_high": med_high,
                     "accuracy_percent": 100 * robust / len(d), "accuracy_low": 100 * acc_low,
                     "accuracy_high": 100 * acc_high})
    return pd.DataFrame(rows)
