"""Which attacks exist for which norm and model: the rows of the paper's Table 1, Latent Descent, and
the adaptive attacks beyond the paper.

Names are the paper's (as in data/paper_table1.csv). Attacks with real gradients run only against the
models the paper attacked with them (CNN, Binary CNN through the straight-through estimator, Madry et
al.); the "w/ GE" versions, the decision-based and the transfer attacks run against every model; Latent
Descent runs against the two ABS models and is scored in all three norms.

The adaptive attacks (``paper=False``) are modern minimal-norm attacks run against all six models with
the best gradient each has: autograd for the networks and Nearest Neighbour, straight-through for the
binarising models, the exact envelope gradient for the ABS models. They are kept apart from the paper's
rows: Table 1's "All" row takes the paper's attacks only, "All incl. adaptive" takes everything.
Flip Search (`absnb.attacks.flip_search`) is one of them for the binarising models only: a search over
which pixels cross the threshold, guided by the exact gradient of the model behind the binarisation.

Some attacks start from the best adversarial found so far (``start``): the Boundary and Pointwise
attacks from the best of the paper's attacks, Brendel–Bethge from the best of all. `execution_order`
runs every attack after the ones it starts from. Flip Search is no start for Brendel–Bethge: its
adversarials sit on the threshold, where the straight-through gradient Brendel–Bethge follows says
nothing about which side of it a pixel should be.
"""

from __future__ import annotations

from dataclasses import dataclass

from absnb.vocabulary import ABS_MODELS, BINARY_MODELS, MODELS, Norm

GRADIENT_MODELS = ("cnn", "binary_cnn", "madry")


@dataclass(frozen=True)
class AttackSpec:
    """One attack of one norm: its Table 1 name, how it runs, and the models it applies to."""

    name: str
    norm: Norm  # given as a name, parsed here
    family: str  # fixed-epsilon | minimization | transfer | latent-descent | adaptive | flip-search
    gradient: str | None = None  # real | estimated (for gradient-based attacks)
    models: tuple[str, ...] = MODELS
    paper: bool = True  # one of the paper's attacks (Table 1's "All" row), else adaptive
    start: str | None = None  # None, or start from the best adversarial of the "paper" | "all" attacks

    def __post_init__(self) -> None:
        object.__setattr__(self, "norm", Norm(self.norm))

    @property
    def costly(self) -> bool:
        """Costly per query-hungry sample: the "w/ GE" rows (a coordinate-wise gradient estimate per
        step) and the decision-based attacks; a budget runs them on its first `costly_samples` only."""
        return self.gradient == "estimated" or self.family == "minimization"


def _gradient_pair(name: str, norm: str) -> tuple[AttackSpec, AttackSpec]:
    return (AttackSpec(name, norm, "fixed-epsilon", "real", GRADIENT_MODELS),
            AttackSpec(f"{name} w/ GE", norm, "fixed-epsilon", "estimated"))


def _adaptive(norm: str, *names: str) -> tuple[AttackSpec, ...]:
    return tuple(AttackSpec(name, norm, "adaptive", "real", paper=False,
                            start="all" if name == "Brendel-Bethge" else None) for name in names)


def _flip_search(norm: str) -> AttackSpec:
    return AttackSpec("Flip Search", norm, "flip-search", "real", BINARY_MODELS, paper=False)


ATTACKS: dict[Norm, tuple[AttackSpec, ...]] = {
    Norm("l2"): (AttackSpec("Transfer Attacks", "l2", "transfer"),
           AttackSpec("Gaussian Noise", "l2", "fixed-epsilon"),
           AttackSpec("Boundary Attack", "l2", "minimization", start="paper"),
           *_gradient_pair("FGM", "l2"), *_gradient_pair("L2 BIM", "l2"),
           AttackSpec("Latent Descent", "l2", "latent-descent", models=ABS_MODELS),
           *_adaptive("l2", "DDN", "FMN", "Brendel-Bethge"), _flip_search("l2")),
    Norm("linf"): (AttackSpec("Transfer Attacks", "linf", "transfer"),
             *_gradient_pair("FGSM", "linf"), *_gradient_pair("BIM", "linf"),
             *_gradient_pair("MIM", "linf"),
             AttackSpec("Latent Descent", "linf", "latent-descent", models=ABS_MODELS),
             *_adaptive("linf", "FMN", "Brendel-Bethge"), _flip_search("linf")),
    Norm("l0"): (AttackSpec("Salt&Pepper Noise", "l0", "minimization"),
           AttackSpec("Pointwise Attack", "l0", "minimization", start="paper"),
           AttackSpec("Latent Descent", "l0", "latent-descent", models=ABS_MODELS),
           *_adaptive("l0", "FMN", "Brendel-Bethge"), _flip_search("l0")),
}


def attack_names(norm: str) -> list[str]:
    return [spec.name for spec in ATTACKS[Norm(norm)]]


def select(norm: str, names: list[str] | None = None) -> list[AttackSpec]:
    """The attacks of `norm` named in `names` (all if None); an unknown name lists the valid ones."""
    valid = attack_names(norm)
    unknown = sorted(set(names or []) - set(valid))
    if unknown:
        raise ValueError(f"unknown {norm} attack(s) {unknown}; valid: {', '.join(valid)}")
    return [spec for spec in ATTACKS[norm] if names is None or spec.name in names]


def applies(spec: AttackSpec, model: str) -> bool:
    return model in spec.models


def starts_from(spec: AttackSpec, done: list[AttackSpec]) -> list[AttackSpec]:
    """The attacks among `done` whose best adversarial `spec` starts from (none if it has no start)."""
    if spec.start is None:
        return []
    done = [s for s in done if s.family != "flip-search"]
    return [s for s in done if s.start is None and (spec.start == "all" or s.paper)] + \
        ([s for s in done if s.start == "paper"] if spec.start == "all" else [])


def execution_order(specs: list[AttackSpec]) -> list[AttackSpec]:
    """`specs` reordered so that every attack runs after those it starts from (stable otherwise)."""
    rank = {None: 0, "paper": 1, "all": 2}
    return sorted(specs, key=lambda s: rank[s.start])


def is_paper(norm: str, name: str) -> bool:
    """Whether `name` is one of the paper's attacks of `norm` (Latent Descent included), not adaptive."""
    return any(spec.name == name and spec.paper for spec in ATTACKS[Norm(norm)])
