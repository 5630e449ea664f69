"""Figures of the book: training curves, the clean-accuracy comparison with the paper, distal images."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from absnb.vocabulary import DISPLAY_NAMES

OURS, PAPER = "#1f77b4", "#bbbbbb"


TRAINING_TITLES = {"loss": "loss", "train_accuracy": "training accuracy",
                   "squared_error": "squared error (sum of the ten VAEs)", "kl_weight": "KL weight",
                   "holdout_bank_accuracy": "held-out accuracy, bank only",
                   "holdout_accuracy": "held-out accuracy, clean",
                   "holdout_pgd_accuracy": "held-out accuracy under PGD"}


def training_curves(log: dict) -> Figure | None:
    """Loss and training accuracy (or squared error, KL weight and the held-out accuracy of the cheap
    inference for ABS) per epoch of one model's training log."""
    history = pd.DataFrame(log["history"])
    metrics = [m for m in TRAINING_TITLES if m in history]
    if len(history) < 2 or not metrics:
        return None
    cols = min(len(metrics), 3)
    rows = -(-len(metrics) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.8 * rows), squeeze=False)
    for ax in axes.flat[len(metrics):]:
        ax.remove()
    for ax, metric in zip(axes.flat, metrics):
        ax.plot(history["epoch"], history[metric], marker="o", color=OURS)
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_title(TRAINING_TITLES[metric], fontsize=10)
        sns.despine(ax=ax)
    return _finish(fig)


def clean_accuracy_chart(table: pd.DataFrame) -> Figure:
    """Our clean test accuracy beside the paper's, one pair of bars per model."""
    long = table.melt(id_vars="model", value_vars=["ours (%)", "paper (%)"], var_name="source",
                      value_name="accuracy (%)")
    fig, ax = plt.subplots(figsize=(1.2 * len(table) + 1.5, 3.4))
    sns.barplot(long, x="model", y="accuracy (%)", hue="source", palette=[OURS, PAPER], ax=ax)
    ax.tick_params(axis="x", labelrotation=15)
    low = max(0.0, float(long["accuracy (%)"].min()) - 2)
    ax.set_ylim(low, 100)
    for container in ax.containers:
        ax.bar_label(container, fmt="%.1f", fontsize=8, padding=2)
    ax.set_xlabel("")
    ax.legend(title="", loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
    sns.despine(ax=ax)
    return _finish(fig)


def distal_grid(records: dict[str, dict], threshold: float, target: int) -> Figure:
    """The distal adversarials: one row per model, one image per noise start, each titled with the
    confidence for `target` that the model gives it (green once it reaches `threshold`)."""
    columns = max(len(rec["confidence"]) for rec in records.values())
    fig, axes = plt.subplots(len(records), columns, figsize=(1.45 * columns + 1.3, 1.55 * len(records)),
                             squeeze=False)
    for row, (name, rec) in zip(axes, records.items()):
        for ax in row:
            ax.set_axis_off()
        row[0].text(-0.15, 0.5, f"{DISPLAY_NAMES[name]}\n({rec['gradient']} grad.)", ha="right",
                    va="center", transform=row[0].transAxes, fontsize=9)
        for ax, image, conf in zip(row, rec["images"], rec["confidence"]):
            ax.imshow(image.squeeze(0), cmap="gray", vmin=0, vmax=1)
            ok = float(conf) >= threshold
            ax.set_title(f"p({target}) = {float(conf):.3f}", fontsize=8, color="#2ca02c" if ok else "#d62728")
    return _finish(fig)


def _finish(fig: Figure) -> Figure:
    """Lay out and detach the figure from pyplot, so a notebook shows it once (as the cell's value)."""
    fig.tight_layout()
    plt.close(fig)
    return fig


def envelope_scatter(table: pd.DataFrame) -> Figure:
    """Finite-difference slopes of the full ABS inference against the envelope gradient's, one dot per
    (image, class, direction) of `models.envelope.envelope_check`; the diagonal is perfect agreement."""
    fig, ax = plt.subplots(figsize=(4.5, 4.2), constrained_layout=True)
    ax.scatter(table["envelope_slope"], table["fd_slope"], s=8, alpha=0.5)
    low = min(table["envelope_slope"].min(), table["fd_slope"].min())
    high = max(table["envelope_slope"].max(), table["fd_slope"].max())
    ax.plot([low, high], [low, high], color="grey", lw=0.8, ls="--")
    ax.set(xlabel="envelope gradient · v", ylabel="finite difference of the full inference",
           title="ABS: directional slopes of l_y(x)")
    ax.grid(alpha=0.3)
    plt.close(fig)
    return fig
