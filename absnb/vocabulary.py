"""The book's vocabulary: norms and their thresholds, model names and groups, display labels.

Every other module takes these names from here, and this module imports nothing at run time, so any layer (the
models, the profiles, the attacks, the book) can use it without an import cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # for the annotations only: at run time this module imports nothing
    import torch

NORMS = ("l0", "l2", "linf")
PAPER_ORDER = ("l2", "linf", "l0")  # the order of the norms in Table 1 and Figure 2
# Table 1 reports accuracy at these ε (L0: number of changed pixels).
EPSILONS = {"l0": 12.0, "l2": 1.5, "linf": 0.3}
NORM_LABELS = {"l0": "L0", "l2": "L2", "linf": "L∞"}
PAPER_NORM_LABELS = {"l0": "L0", "l2": "L2", "linf": "Linf"}  # as the reference CSVs of the paper spell them

# Order and display names of the paper's Table 1 (the substitute is not scored there), then the
# authors' released ABS weights in our inference, scored and attacked like the others.
PAPER_DISPLAY_NAMES = {"cnn": "CNN", "binary_cnn": "Binary CNN", "nearest": "Nearest Neighbor",
                       "madry": "Madry et al.", "binary_abs": "Binary ABS", "abs": "ABS"}
PAPER_MODELS = tuple(PAPER_DISPLAY_NAMES)
# Each released model and the model of the paper's Table 1 it is (the paper's numbers are about it).
RELEASED = {"binary_abs_released": "binary_abs", "abs_released": "abs"}
RELEASED_MODELS = tuple(RELEASED)
DISPLAY_NAMES = PAPER_DISPLAY_NAMES | {"binary_abs_released": "Binary ABS (released)",
                                       "abs_released": "ABS (released)"}
MODELS = tuple(DISPLAY_NAMES)  # every model the book scores and attacks
TRAINED_MODELS = (*PAPER_MODELS, "substitute")  # the models we train (in this order: it seeds them)
ALL_MODELS = (*TRAINED_MODELS, *RELEASED_MODELS)
BINARY_MODELS = ("binary_cnn", "binary_abs", "binary_abs_released")  # binarise their input at test time
ABS_MODELS = ("abs", "binary_abs", "abs_released", "binary_abs_released")  # inference over the latents
# What each model's weights file depends on (Binary ABS reuses the ABS VAEs).
REQUIRES = {"binary_abs": ("abs",)}


class Norm(str):
    """A norm of the evaluation, parsed once where a name enters: the name itself ("l2", so it keys
    tables, paths and fingerprints as before), its threshold ε, its label and its distance."""

    epsilon: float
    label: str
    paper_label: str

    def __new__(cls, name: str) -> Norm:
        if isinstance(name, Norm):
            return name
        if name not in NORMS:
            raise ValueError(f"unknown norm {name!r}; valid norms: {', '.join(NORMS)}")
        norm = super().__new__(cls, name)
        norm.epsilon, norm.label, norm.paper_label = EPSILONS[name], NORM_LABELS[name], \
            PAPER_NORM_LABELS[name]
        return norm

    def distance(self, x: torch.Tensor, adv: torch.Tensor) -> torch.Tensor:
        """Distance of each adversarial from its clean image (batch dim first, any image shape).

        L2 is the Euclidean norm of the difference, L∞ its largest absolute entry, and L0 the number of
        entries that differ at all (|diff| > 0), which is how foolbox's L0 counts nonzero entries; for
        MNIST's single channel an entry is a pixel.
        """
        if x.shape != adv.shape:
            raise ValueError(f"images {tuple(x.shape)} and adversarials {tuple(adv.shape)} differ in shape")
        diff = (adv - x).flatten(1)
        if self == "l2":
            return diff.norm(dim=1)
        if self == "linf":
            return diff.abs().amax(dim=1)
        return (diff != 0).sum(dim=1).to(diff.dtype)
