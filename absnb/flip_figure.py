"""The attack pages' picture of Flip Search: which pixels of one digit it moves across the threshold.

`example` picks, from an attack run's per-sample table, the Flip Search adversarial at the median
distance of the first binarising model that has one; `figure` draws it: the clean image, what the
model sees of it (binarised), the flip set on that binary image, and the adversarial itself.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from absnb import artifacts, data
from absnb.models.binarize import binarize
from absnb.vocabulary import BINARY_MODELS, DISPLAY_NAMES, Norm

ATTACK = "Flip Search"
# background, ink, pixel turned on, pixel turned off
FLIP_COLOURS = ListedColormap(["white", "0.75", "tab:red", "tab:blue"])


def example(profile: str, norm: str, frame: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor, str] | None:
    """The clean image, Flip Search's stored adversarial and a title, for the sample at the median
    Flip Search distance of the first binarising model with one (None if there is none)."""
    done = frame[(frame["attack"] == ATTACK) & frame["success"] & (frame["distance"] > 0)]
    model = next((m for m in BINARY_MODELS if m in set(done["model"])), None)
    if model is None:
        return None
    rows = done[done["model"] == model].sort_values("distance")
    row = rows.iloc[(len(rows) - 1) // 2]
    stored = artifacts.load_torch(artifacts.attack_path(profile, norm, model, ATTACK, ".pt"))
    adv = stored["adv"][stored["samples"].tolist().index(int(row["sample"]))]
    x = data.load_split("test")[0][int(row["sample"])]
    title = (f"{DISPLAY_NAMES[model]}, test image {int(row['sample'])}: a {int(row['label'])} read as "
             f"{int(row['prediction'])} at {Norm(norm).label} distance {row['distance']:.3g}")
    return x, adv, title


def flip_map(x: torch.Tensor, adv: torch.Tensor) -> np.ndarray:
    """Per pixel: 0 background, 1 ink (of the binarised clean image), 2 turned on, 3 turned off."""
    clean, seen = binarize(x), binarize(adv)
    codes = clean.clone()
    codes[(seen == 1) & (clean == 0)] = 2
    codes[(seen == 0) & (clean == 1)] = 3
    return codes.squeeze().numpy()


def figure(x: torch.Tensor, adv: torch.Tensor, title: str) -> Figure:
    """Clean image, its binarised version, the flip set on it, and the adversarial."""
    codes = flip_map(x, adv)
    fig = Figure(figsize=(8, 2.6), layout="constrained")
    axes = fig.subplots(1, 4)
    panels = [(x.squeeze().numpy(), "gray", "clean"),
              (binarize(x).squeeze().numpy(), "gray", "what the model sees"),
              (codes, FLIP_COLOURS, f"flips: {int((codes == 2).sum())} on (red), "
                                    f"{int((codes == 3).sum())} off (blue)"),
              (adv.squeeze().numpy(), "gray", "adversarial (each flip just across 0.5)")]
    for ax, (image, cmap, label) in zip(axes, panels, strict=True):
        ax.imshow(image, cmap=cmap, vmin=0, vmax=3 if cmap is FLIP_COLOURS else 1, interpolation="nearest")
        ax.set_title(label, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=9)
    return fig
