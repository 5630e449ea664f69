"""Figures 2 and 3 of the paper, drawn from the stored attack results (never rerunning an attack).

Figure 2: accuracy against the allowed perturbation size, from each sample's minimal adversarial
distance over all attacks of a norm (the adaptive ones included, solid; the paper's attacks only,
dotted); the paper's curves are drawn faintly behind ours.
Figure 3: per digit, the clean test image and each model's smallest L2 adversarial found by any attack
("not attacked" where a profile attacks a model on fewer samples than there are digits).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from absnb import artifacts, results
from absnb.paths import DATA_DIR
from absnb.vocabulary import DISPLAY_NAMES, MODELS, PAPER_MODELS, PAPER_ORDER, Norm

COLOURS = dict(zip(MODELS, plt.get_cmap("tab10").colors, strict=False))


def paper_curves() -> pd.DataFrame:
    """The paper's Figure 2 curves: norm, model, distance, accuracy_percent."""
    return pd.read_csv(DATA_DIR / "paper_figure2_curves.csv")


def figure2(best: pd.DataFrame, paper: pd.DataFrame, models: tuple[str, ...] = PAPER_MODELS) -> plt.Figure:
    """One panel per norm: accuracy vs. perturbation size per model of `models`, a dot at ε; `best`
    holds the "All" rows of `results.both_all_rows` (incl. adaptive solid, the paper's attacks only
    dotted); the paper's curve of a model, where it has one, dashed behind."""
    paper_only = best[best["attack"] == results.ALL_PAPER]
    best = results.strongest(best)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.3), constrained_layout=True)
    for ax, norm in zip(axes, map(Norm, PAPER_ORDER), strict=True):
        theirs = paper[paper["norm"] == norm.paper_label]
        xmax = max(theirs["distance"].max() if len(theirs) else 0, 2 * norm.epsilon)
        grid = np.linspace(0, xmax, 400)
        for model in models:
            colour, name = COLOURS[model], DISPLAY_NAMES[model]
            ref = theirs[theirs["model"] == name]
            ax.plot(ref["distance"], ref["accuracy_percent"], color=colour, alpha=0.35, lw=2.5, ls="--")
            d = best[(best["norm"] == norm) & (best["model"] == model)]["distance"].to_numpy()
            if len(d) == 0:
                continue
            acc = 100 * results.accuracy_curve(d, grid)
            ax.plot(grid, acc, color=colour, lw=1.8, label=f"{name} (n={len(d)})")
            only = paper_only[(paper_only["norm"] == norm) & (paper_only["model"] == model)]["distance"]
            if len(only):
                ax.plot(grid, 100 * results.accuracy_curve(only.to_numpy(), grid), color=colour, lw=1.0,
                        ls=":")
            at_eps = 100 * results.accuracy_curve(d, [norm.epsilon])[0]
            ax.plot([norm.epsilon], [at_eps], "o", color=colour, ms=6)
        ax.axvline(norm.epsilon, color="grey", lw=0.8, ls=":")
        unit = " (pixels)" if norm == "l0" else ""
        ax.set(xlim=(0, xmax), ylim=(0, 101), xlabel=f"{norm.label} distance{unit}", ylabel="accuracy (%)",
               title=f"{norm.label}: ours solid (paper's attacks: dotted), paper dashed")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="upper right", fontsize=8)
    plt.close(fig)
    return fig


def figure3_samples(best: pd.DataFrame) -> list[int]:
    """Per digit 0-9, the first L2-attacked test sample of that class, in selection order (the ABS
    models may have been attacked on fewer samples; their cells then stay empty)."""
    best = results.strongest(best)
    l2 = best[best["norm"] == "l2"]
    widest = l2.groupby("model")["sample"].nunique().idxmax()
    rows = l2[l2["model"] == widest]
    return [int(g["sample"].iloc[0]) for _, g in rows.groupby("label", sort=True)]


def _adversarial(profile: str, model: str, attack: str, sample: int) -> torch.Tensor:
    stored = artifacts.load_torch(artifacts.attack_path(profile, "l2", model, attack, ".pt"))
    return stored["adv"][stored["samples"].tolist().index(sample)]


def figure3(profile: str, best: pd.DataFrame, images: torch.Tensor,
            models: tuple[str, ...] = PAPER_MODELS) -> plt.Figure:
    """Rows: one test image per digit; columns: the clean image and each model's best L2 adversarial,
    titled with its predicted class and L2 distance (each adversarial was verified when stored)."""
    samples = figure3_samples(best)
    best = results.strongest(best)
    l2 = best[best["norm"] == "l2"].set_index(["model", "sample"])
    fig, axes = plt.subplots(len(samples), 1 + len(models), squeeze=False,
                             figsize=(1.6 * (1 + len(models)), 2.0 * len(samples) + 0.4))
    for row, sample in enumerate(samples):
        axes[row, 0].imshow(images[sample, 0], cmap="gray", vmin=0, vmax=1)
        axes[row, 0].set_title(f"clean: {int(best[best['sample'] == sample]['label'].iloc[0])}", fontsize=8)
        for col, model in enumerate(models, start=1):
            ax = axes[row, col]
            if (model, sample) not in l2.index:
                ax.set_title("not attacked", fontsize=8, color="grey")
                continue
            rec = l2.loc[(model, sample)]
            if rec["distance"] == 0:
                ax.imshow(images[sample, 0], cmap="gray", vmin=0, vmax=1)
                ax.set_title(f"misclassified: {int(rec['prediction'])}", fontsize=8)
            elif np.isinf(rec["distance"]):
                ax.set_title("not broken", fontsize=8)
            else:
                adv = _adversarial(profile, model, rec["best_attack"], sample)
                ax.imshow(adv[0], cmap="gray", vmin=0, vmax=1)
                ax.set_title(f"{int(rec['prediction'])}, d={rec['distance']:.2f}", fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for col, name in enumerate(["Clean", *(DISPLAY_NAMES[m] for m in models)]):
        axes[0, col].annotate(name, (0.5, 1.35), xycoords="axes fraction", ha="center", fontsize=9,
                              fontweight="bold")
    fig.tight_layout(h_pad=1.0)
    plt.close(fig)
    return fig
