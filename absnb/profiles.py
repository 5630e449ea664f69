"""The run profiles (smoke / default / paper): load them from profiles.toml, validate, explain.

A profile that does not exist, or one with a missing, unknown or mistyped setting, is an error
before any work starts.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from absnb.vocabulary import ALL_MODELS

PROFILES_FILE = Path(__file__).with_name("profiles.toml")


class ProfileError(ValueError):
    """A profile name that does not exist, or a profile whose settings are malformed."""


@dataclass(frozen=True)
class ClassifierConfig:
    epochs: int
    batch_size: int
    lr: float


LR_SCHEDULES = ("cosine", "cyclic")


@dataclass(frozen=True)
class MadryConfig:
    """Adversarial training (PGD; with one step of 1.25 ε it is FGSM from a random start, as Wong et al.
    2020) and the PGD evaluations of the clean page."""

    epochs: int
    batch_size: int
    lr: float
    lr_schedule: str  # "cosine" decay, or "cyclic": up linearly to lr at 40% of training, then to 0
    eps: float
    pgd_steps: int
    pgd_step_size: float
    eps_warmup_epochs: float
    holdout: int  # training images held out: PGD accuracy on them after each epoch picks the epoch kept
    eval_pgd_steps: int  # PGD of the per-epoch check and of the clean page
    eval_pgd_step_size: float
    # The clean page's evaluation only: changing these re-scores the weights but does not retrain them.
    eval_pgd_samples: int = dataclasses.field(metadata={"test_only": True})
    eval_restart_steps: int = dataclasses.field(metadata={"test_only": True})  # the stronger evaluation:
    eval_restarts: int = dataclasses.field(metadata={"test_only": True})  # PGD from this many random starts
    eval_restart_samples: int = dataclasses.field(metadata={"test_only": True})

    def __post_init__(self) -> None:
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"unknown lr_schedule {self.lr_schedule!r}; valid: {', '.join(LR_SCHEDULES)}")


def settings(section: object) -> dict[str, object]:
    """A config section's settings as the keys of stored results see them: an optional setting left
    at its default is left out, so adding one keeps every stored result valid."""
    return {f.name: getattr(section, f.name) for f in dataclasses.fields(section)
            if getattr(section, f.name) != f.default}


def training_settings(section: object) -> dict[str, object]:
    """A config section's `settings` that decide the trained weights (those not marked test_only)."""
    test_only = {f.name for f in dataclasses.fields(section) if f.metadata.get("test_only")}
    return {k: v for k, v in settings(section).items() if k not in test_only}


@dataclass(frozen=True)
class ABSConfig:
    epochs: int
    batch_size: int
    lr: float
    kl_start: float
    kl_end: float
    kl_anneal_epochs: float
    augment_p: float  # probability of each augmentation (zoom, shear, elastic) per training image
    holdout: int  # training images held out to score the cheap inference after every epoch
    # The inference (the latent bank, the Adam search, the softmax scale): evaluation only, so changing
    # it re-scores and re-attacks the ABS models (`models.inference_key`) but never retrains them.
    n_samples: int = dataclasses.field(metadata={"test_only": True})
    n_candidates: int = dataclasses.field(metadata={"test_only": True})
    steps: int = dataclasses.field(metadata={"test_only": True})
    inference_lr: float = dataclasses.field(metadata={"test_only": True})
    radius: float = dataclasses.field(metadata={"test_only": True})
    alpha: float = dataclasses.field(metadata={"test_only": True})
    # Optional (may be left out of profiles.toml): the encoder's posterior mean as it is ("linear") or
    # squashed into (-1, 1) by tanh, as in the authors' released VAEs. Training only.
    posterior_mean: str = "linear"

    def __post_init__(self) -> None:
        if self.posterior_mean not in POSTERIOR_MEANS:
            raise ValueError(f"unknown posterior_mean {self.posterior_mean!r}; "
                             f"valid: {', '.join(POSTERIOR_MEANS)}")


POSTERIOR_MEANS = ("linear", "tanh")


@dataclass(frozen=True)
class BinaryABSConfig:
    gamma_samples: int
    gamma_min: float
    gamma_max: float
    gamma_steps: int


@dataclass(frozen=True)
class AttackBudget:
    """How hard the attacks of notebooks/03_attacks try, for one model (see profiles.toml)."""

    samples: int  # test samples attacked: the first of the seeded selection
    costly_samples: int  # the costly attacks (estimated gradients, decision-based) run on the first
    # this many of them only, rounded up to whole batches (`registry.AttackSpec.costly`)
    batch_size: int  # samples attacked together; also the unit an interrupted run resumes from
    query_batch: int  # images per model call when estimating gradients
    grid_points: int  # geometric epsilon grid of the fixed-epsilon attacks (and transfer line search)
    bisect_steps: int  # bisection steps refining each sample's epsilon after the grid
    iterative_steps: int  # BIM / MIM iterations with real gradients (and on the substitute)
    ge_step_sizes: tuple[float, ...]  # finite-difference steps tried by the "w/ GE" attacks
    ge_iterative_steps: int  # BIM / MIM iterations with estimated gradients
    ge_grid_points: int
    ge_bisect_steps: int
    gaussian_repeats: int
    boundary_steps: int
    saltpepper_steps: int  # Salt&Pepper Noise, and the Pointwise Attack's starting point
    pointwise_repeats: int  # Pointwise Attack runs from fresh Salt&Pepper starts; the best is kept
    latent_descent_steps: int
    adaptive_steps: int  # DDN and FMN iterations (beyond the paper; foolbox's default is 100)
    bb_steps: int  # Brendel-Bethge iterations from the best adversarial so far (foolbox's default 1,000)
    flip_steps: int  # Flip Search: greedy rounds (one query with gradient each) per search
    flip_per_step: int  # Flip Search: pixels flipped per round


@dataclass(frozen=True)
class DistalBudget:
    """Distal adversarials (notebooks/07_distal): from uniform noise to a confident target class."""

    target: int  # the class pushed for (the authors' README shows "1")
    threshold: float  # confidence to reach (0.9 in the README)
    lr: float  # SGD learning rate (the authors: 1)
    momentum: float  # SGD momentum (the authors: 0.95)
    images: int  # noise starts per model with real gradients (the networks and the ABS models)
    max_steps: int  # iteration limit with real gradients (the authors: 10,000)
    ge_images: int  # noise starts per model with estimated gradients (Nearest Neighbour)
    ge_max_steps: int  # iteration limit with estimated gradients: each step costs ~1,600 queries
    ge_step: float  # finite-difference step of the estimate (the authors: 1.0)
    query_batch: int  # images per model call while estimating a gradient


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    train_samples: int
    eval_samples: int
    eval_batch_size: int
    abs_batch_size: int  # images per ABS call in evaluation: on a CPU, ~16 is fastest (make bench)
    cnn: ClassifierConfig
    binary_cnn: ClassifierConfig
    substitute: ClassifierConfig
    madry: MadryConfig
    abs: ABSConfig
    binary_abs: BinaryABSConfig
    attacks: AttackBudget
    attack_overrides: dict  # model -> {setting: value}, replacing `attacks` settings for that model
    distal: DistalBudget

    def budget(self, model: str) -> AttackBudget:
        """The attack budget for `model`: `attacks`, with the model's overrides applied."""
        return dataclasses.replace(self.attacks, **self.attack_overrides.get(model, {}))


def _build(cls: type, values: Any, where: str) -> Any:
    """Construct dataclass `cls` from a dict, checking keys and types recursively."""
    if not isinstance(values, dict):
        raise ProfileError(f"{where}: expected a table, got {values!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    missing = sorted(n for n, f in fields.items() if n not in values and f.default is dataclasses.MISSING)
    unknown = sorted(set(values) - set(fields))
    if missing or unknown:
        raise ProfileError(f"{where}: missing settings {missing}, unknown settings {unknown}")
    out = {}
    for name, field in fields.items():
        if name not in values:  # an optional setting left out: its default
            continue
        value, kind = values[name], field.type
        if dataclasses.is_dataclass(_TYPES.get(kind)):
            out[name] = _build(_TYPES[kind], value, f"{where}.{name}")
            continue
        if kind == "dict":
            out[name] = _overrides(value, f"{where}.{name}")
            continue
        if kind == "tuple[float, ...]":
            out[name] = _floats(value, f"{where}.{name}")
            continue
        expected = _TYPES[kind]
        ok = isinstance(value, expected) and not isinstance(value, bool)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok:
            raise ProfileError(f"{where}.{name}: expected {expected.__name__}, got {value!r}")
        if expected in (int, float) and value < 0:
            raise ProfileError(f"{where}.{name}: must not be negative, got {value!r}")
        out[name] = value
    try:
        return cls(**out)
    except ValueError as error:  # a value outside its choices (checked by the dataclass)
        raise ProfileError(f"{where}: {error}") from None


def _floats(value: Any, where: str) -> tuple[float, ...]:
    ok = isinstance(value, list) and value and all(
        isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in value)
    if not ok:
        raise ProfileError(f"{where}: expected a non-empty list of positive numbers, got {value!r}")
    return tuple(float(v) for v in value)


def _overrides(value: Any, where: str) -> dict:
    """Per-model attack settings: each must be a valid AttackBudget setting of the right type."""
    if not isinstance(value, dict):
        raise ProfileError(f"{where}: expected a table of models, got {value!r}")

    out = {}
    for model, settings in value.items():
        if model not in ALL_MODELS:
            raise ProfileError(f"{where}: unknown model {model!r}; valid models: {', '.join(ALL_MODELS)}")
        if not isinstance(settings, dict):
            raise ProfileError(f"{where}.{model}: expected a table, got {settings!r}")
        base = {f.name: 1 for f in dataclasses.fields(AttackBudget)} | {"ge_step_sizes": [1.0]}
        unknown = sorted(set(settings) - set(base))
        if unknown:
            raise ProfileError(f"{where}.{model}: unknown settings {unknown}")
        full = _build(AttackBudget, base | settings, f"{where}.{model}")
        out[model] = {k: getattr(full, k) for k in settings}
    return out


_TYPES = {"int": int, "float": float, "str": str, "ClassifierConfig": ClassifierConfig,
          "MadryConfig": MadryConfig, "ABSConfig": ABSConfig, "BinaryABSConfig": BinaryABSConfig,
          "AttackBudget": AttackBudget, "DistalBudget": DistalBudget}


VARIANTS = "variants"  # the table of training variants in profiles.toml; not a profile itself


def available(path: Path = PROFILES_FILE) -> list[str]:
    return [name for name in tomllib.loads(Path(path).read_text()) if name != VARIANTS]


def variants(path: Path = PROFILES_FILE) -> dict[str, dict]:
    """The training variants: each changes some settings of any profile, `<profile>+<variant>`."""
    return tomllib.loads(Path(path).read_text()).get(VARIANTS, {})


def load(name: str, path: Path = PROFILES_FILE) -> Profile:
    """The validated profile `name`; raises ProfileError naming the valid profiles if unknown.
    `<profile>+<variant>` is that profile with a variant's settings (from [variants]) in place of its
    own: an experiment with its own artifacts folder, e.g. `default+kl1`."""
    table = tomllib.loads(Path(path).read_text())
    base, _, variant = name.partition("+")
    if base not in table or base == VARIANTS:
        valid = ", ".join(k for k in table if k != VARIANTS)
        raise ProfileError(f"unknown profile {base!r}; valid profiles: {valid}")
    values = table[base]
    if variant:
        changes = table.get(VARIANTS, {}).get(variant)
        if changes is None:
            raise ProfileError(f"unknown variant {variant!r}; valid variants: "
                               f"{', '.join(table.get(VARIANTS, {})) or 'none'}")
        values = _with_variant(values, changes, variant)
    return _build(Profile, {"name": name, **values}, f"profile {name!r}")


def _with_variant(values: dict, changes: dict, variant: str) -> dict:
    """A profile's settings with a variant's: its sections updated setting by setting."""
    out = dict(values)
    for key, value in changes.items():
        if key == "description":
            out[key] = f"{values[key]}; variant {variant}: {value}"
        elif isinstance(value, dict) and isinstance(values.get(key), dict):
            out[key] = values[key] | value
        else:
            out[key] = value
    return out
