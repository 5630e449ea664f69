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

PROFILES_FILE = Path(__file__).with_name("profiles.toml")


class ProfileError(ValueError):
    """A profile name that does not exist, or a profile whose settings are malformed."""


@dataclass(frozen=True)
class ClassifierConfig:
    epochs: int
    batch_size: int
    lr: float


@dataclass(frozen=True)
class MadryConfig:
    epochs: int
    batch_size: int
    lr: float
    eps: float
    pgd_steps: int
    pgd_step_size: float
    eps_warmup_epochs: float
    eval_pgd_steps: int
    eval_pgd_step_size: float
    eval_pgd_samples: int


@dataclass(frozen=True)
class ABSConfig:
    epochs: int
    batch_size: int
    lr: float
    kl_start: float
    kl_end: float
    kl_anneal_epochs: float
    n_samples: int
    n_candidates: int
    steps: int
    inference_lr: float
    radius: float
    alpha: float


@dataclass(frozen=True)
class BinaryABSConfig:
    gamma_samples: int
    gamma_min: float
    gamma_max: float
    gamma_steps: int


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    train_samples: int
    eval_samples: int
    eval_batch_size: int
    cnn: ClassifierConfig
    binary_cnn: ClassifierConfig
    substitute: ClassifierConfig
    madry: MadryConfig
    abs: ABSConfig
    binary_abs: BinaryABSConfig


def _build(cls: type, values: Any, where: str) -> Any:
    """Construct dataclass `cls` from a dict, checking keys and types recursively."""
    if not isinstance(values, dict):
        raise ProfileError(f"{where}: expected a table, got {values!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    missing = sorted(set(fields) - set(values))
    unknown = sorted(set(values) - set(fields))
    if missing or unknown:
        raise ProfileError(f"{where}: missing settings {missing}, unknown settings {unknown}")
    out = {}
    for name, field in fields.items():
        value, kind = values[name], field.type
        if dataclasses.is_dataclass(_TYPES.get(kind)):
            out[name] = _build(_TYPES[kind], value, f"{where}.{name}")
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
    return cls(**out)


_TYPES = {"int": int, "float": float, "str": str, "ClassifierConfig": ClassifierConfig,
          "MadryConfig": MadryConfig, "ABSConfig": ABSConfig, "BinaryABSConfig": BinaryABSConfig}


def available(path: Path = PROFILES_FILE) -> list[str]:
    return list(tomllib.loads(Path(path).read_text()))


def load(name: str, path: Path = PROFILES_FILE) -> Profile:
    """The validated profile `name`; raises ProfileError naming the valid profiles if unknown."""
    table = tomllib.loads(Path(path).read_text())
    if name not in table:
        raise ProfileError(f"unknown profile {name!r}; valid profiles: {', '.join(table)}")
    return _build(Profile, {"name": name, **table[name]}, f"profile {name!r}")
