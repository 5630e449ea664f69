"""Which attacks exist for which norm and model: the rows of the paper's Table 1, plus Latent Descent.

Names are the paper's (as in data/paper_table1.csv). Attacks with real gradients run only against the
models that have them (CNN, Binary CNN through the straight-through estimator, Madry et al.); the
"w/ GE" versions, the decision-based and the transfer attacks run against every model; Latent
Descent runs against the two ABS models and is scored in all three norms.
"""

from __future__ import annotations

from dataclasses import dataclass

from absnb.attacks.distances import check_norm
from absnb.models import PAPER_MODELS

GRADIENT_MODELS = ("cnn", "binary_cnn", "madry")
ABS_MODELS = ("abs", "binary_abs")


@dataclass(frozen=True)
class AttackSpec:
    """One attack of one norm: its Table 1 name, how it runs, and the models it applies to."""

    name: str
    norm: str
    family: str  # fixed-epsilon | minimization | transfer | latent-descent
    gradient: str | None = None  # real | estimated (for gradient-based attacks)
    models: tuple[str, ...] = PAPER_MODELS


def _gradient_pair(name: str, norm: str) -> tuple[AttackSpec, AttackSpec]:
    return (AttackSpec(name, norm, "fixed-epsilon", "real", GRADIENT_MODELS),
            AttackSpec(f"{name} w/ GE", norm, "fixed-epsilon", "estimated"))


ATTACKS: dict[str, tuple[AttackSpec, ...]] = {
    "l2": (AttackSpec("Transfer Attacks", "l2", "transfer"),
           AttackSpec("Gaussian Noise", "l2", "fixed-epsilon"),
           AttackSpec("Boundary Attack", "l2", "minimization"),
           *_gradient_pair("FGM", "l2"), *_gradient_pair("L2 BIM", "l2"),
           AttackSpec("Latent Descent", "l2", "latent-descent", models=ABS_MODELS)),
    "linf": (AttackSpec("Transfer Attacks", "linf", "transfer"),
             *_gradient_pair("FGSM", "linf"), *_gradient_pair("BIM", "linf"),
             *_gradient_pair("MIM", "linf"),
             AttackSpec("Latent Descent", "linf", "latent-descent", models=ABS_MODELS)),
    "l0": (AttackSpec("Salt&Pepper Noise", "l0", "minimization"),
           AttackSpec("Pointwise Attack", "l0", "minimization"),
           AttackSpec("Latent Descent", "l0", "latent-descent", models=ABS_MODELS)),
}


def attack_names(norm: str) -> list[str]:
    return [spec.name for spec in ATTACKS[check_norm(norm)]]


def select(norm: str, names: list[str] | None = None) -> list[AttackSpec]:
    """The attacks of `norm` named in `names` (all if None); an unknown name lists the valid ones."""
    valid = attack_names(norm)
    unknown = sorted(set(names or []) - set(valid))
    if unknown:
        raise ValueError(f"unknown {norm} attack(s) {unknown}; valid: {', '.join(valid)}")
    return [spec for spec in ATTACKS[norm] if names is None or spec.name in names]


def applies(spec: AttackSpec, model: str) -> bool:
    return model in spec.models
