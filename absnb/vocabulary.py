"""The book's vocabulary: norms and their thresholds, model names and groups, display labels.

Every other module takes these names from here, and this module imports nothing, so any layer (the
models, the profiles, the attacks, the book) can use it without an import cycle.
"""

from __future__ import annotations

NORMS = ("l0", "l2", "linf")
# Table 1 reports accuracy at these ε (L0: number of changed pixels).
EPSILONS = {"l0": 12.0, "l2": 1.5, "linf": 0.3}
NORM_LABELS = {"l0": "L0", "l2": "L2", "linf": "L∞"}

# Order and display names of the paper's Table 1 (the substitute is not scored there).
DISPLAY_NAMES = {"cnn": "CNN", "binary_cnn": "Binary CNN", "nearest": "Nearest Neighbor",
                 "madry": "Madry et al.", "binary_abs": "Binary ABS", "abs": "ABS"}
PAPER_MODELS = tuple(DISPLAY_NAMES)
ALL_MODELS = (*PAPER_MODELS, "substitute")
BINARY_MODELS = ("binary_cnn", "binary_abs")  # binarise their input at test time
ABS_MODELS = ("abs", "binary_abs")  # inference by optimisation over the latents
# What each model's weights file depends on (Binary ABS reuses the ABS VAEs).
REQUIRES = {"binary_abs": ("abs",)}


def check_norm(norm: str) -> str:
    """`norm` if it is one of NORMS, else a ValueError listing the valid ones."""
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; valid norms: {', '.join(NORMS)}")
    return norm


def norm_label(norm: str) -> str:
    """How the book writes a norm ("L∞" for "linf")."""
    return NORM_LABELS[check_norm(norm)]
