"""What an attack run covers: the fixed test samples, and the request (profile, norm, models, attacks)
parsed once where it enters, before any work starts, into the values the rest of the run is given."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from absnb import data, profiles
from absnb.attacks.registry import AttackSpec, select
from absnb.models import check_name, check_trained
from absnb.vocabulary import MODELS, Norm

TEST_IMAGES = 10_000
# The models from the most to the least expensive to attack: the order their work is handed out in.
COST_ORDER = ("binary_abs_released", "abs_released", "binary_abs", "abs", "nearest", "madry", "binary_cnn",
              "cnn")


def select_samples(seed: int, n: int, labels: torch.Tensor | None = None) -> torch.Tensor:
    """The first n of a seeded permutation of the test set: the same samples for every model and norm.

    The permutation is reordered so that its first ten samples are one of each class (the first of
    each class in the permutation), so any run of ten or more samples can show every digit (Figure 3).
    """
    if not 0 < n <= TEST_IMAGES:
        raise ValueError(f"n_samples must be between 1 and {TEST_IMAGES}, got {n}")
    order = torch.randperm(TEST_IMAGES, generator=torch.Generator().manual_seed(seed))
    labels = data.load_split("test")[1] if labels is None else labels
    first = torch.stack([order[labels[order] == c][0] for c in range(10)])
    rest = order[~torch.isin(order, first)]
    return torch.cat([first, rest])[:n]


@dataclass(frozen=True)
class Request:
    """A checked attack run: the profile loaded, the norm parsed, the models trained, the attacks known."""

    profile: profiles.Profile
    norm: Norm
    models: tuple[str, ...]
    specs: tuple[AttackSpec, ...]


def parse_request(profile: str, norm: str, models: list[str] | None = None,
                  attacks: list[str] | None = None) -> Request:
    """Check every name before any work: unknown profiles, norms, models and attacks list the valid
    ones, and a model (or the substitute) without weights names its training command."""
    prof, norm = profiles.load(profile), Norm(norm)
    models = MODELS if models is None else tuple(models)
    for name in models:
        check_name(name, MODELS)
    specs = tuple(select(norm, attacks))
    for name in (*models, "substitute"):
        check_trained(name, prof.name)
    return Request(prof, norm, models, specs)


def parse_names(value: str | list[str] | None) -> list[str] | None:
    """A list of names from a notebook parameter: None or "all" for all, else a list or "a, b"."""
    if value is None or value == "all":
        return None
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return list(value)
