"""The `paper` profile, planned: its cost projected from the wall times a smaller run measured.

Every stored result records the seconds it took (training logs, clean scores, attack pairs, distal
searches). Each is scaled by the ratio of the paper's work to the measured run's work in the settings
that set it: epochs × images for training, images for evaluation, samples × the attack's iterations
for an attack (`ATTACK_WORK`). The model is linear and ignores fixed costs per call, and it assumes
the same cost per model query, so it needs a measured run whose ABS inference settings are the
paper's (the default profile's are). The result is CPU time on the measured hardware, with the
measured torch threads; a GPU's time needs a measurement on a GPU.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from absnb import artifacts, profiles
from absnb.attacks.registry import ATTACKS
from absnb.profiles import AttackBudget, Profile
from absnb.vocabulary import ALL_MODELS, PAPER_ORDER


def _grid(b: AttackBudget) -> float:
    return b.grid_points + b.bisect_steps


def _ge(b: AttackBudget) -> float:
    return len(b.ge_step_sizes) * b.ge_iterative_steps * (b.ge_grid_points + b.ge_bisect_steps)


# Per sample, the iterations an attack's time grows with (its budget's main settings).
ATTACK_WORK = {
    "Transfer Attacks": lambda b: b.iterative_steps + _grid(b),
    "Gaussian Noise": lambda b: b.gaussian_repeats * _grid(b),
    "Boundary Attack": lambda b: b.boundary_steps,
    "FGM": _grid, "FGSM": _grid,
    "L2 BIM": lambda b: b.iterative_steps * _grid(b), "BIM": lambda b: b.iterative_steps * _grid(b),
    "MIM": lambda b: b.iterative_steps * _grid(b),
    "Salt&Pepper Noise": lambda b: b.saltpepper_steps,
    "Pointwise Attack": lambda b: b.pointwise_repeats * b.saltpepper_steps,
    "Latent Descent": lambda b: b.latent_descent_steps,
    "DDN": lambda b: b.adaptive_steps, "FMN": lambda b: b.adaptive_steps,
    "Brendel-Bethge": lambda b: b.bb_steps,
    # greedy rounds, then at most as many pruning queries (L∞ repeats both per bisection step, which
    # this linear model leaves out)
    "Flip Search": lambda b: 2 * b.flip_steps,
}


def attack_work(attack: str, budget: AttackBudget) -> float:
    """Samples × iterations of one attack under `budget` (the "w/ GE" rows: estimates × steps × grid)."""
    per_sample = _ge(budget) if attack.endswith(" w/ GE") else ATTACK_WORK[attack](budget)
    return budget.samples * per_sample


def training_work(prof: Profile, model: str) -> float:
    """Images × passes a model's training processes (Madry et al.: × PGD steps + 1; Binary ABS: the
    ELBOs its γ is fitted on; Nearest Neighbour: the training set it stores, once)."""
    if model == "madry":
        return prof.madry.epochs * (prof.train_samples - prof.madry.holdout) * (prof.madry.pgd_steps + 1)
    if model == "abs":
        return prof.abs.epochs * (prof.train_samples - prof.abs.holdout)
    if model == "binary_abs":
        return prof.binary_abs.gamma_samples
    if model == "nearest":
        return prof.train_samples
    return getattr(prof, model).epochs * prof.train_samples


def same_query_cost(measured: Profile, paper: Profile) -> bool:
    """Whether an ABS query costs the same in both profiles (the projection's assumption)."""
    keys = ("n_samples", "n_candidates", "steps")
    return all(getattr(measured.abs, k) == getattr(paper.abs, k) for k in keys)


def _row(stage: str, seconds: float, paper_seconds: float, results: int) -> dict:
    return {"stage": stage, "results": results, "measured (min)": round(seconds / 60, 1),
            "paper, projected (CPU h)": round(paper_seconds / 3600, 1)}


def project(measured: str, paper: str = "paper") -> pd.DataFrame:
    """Per stage (a notebook, or one norm of the attack notebook): the measured minutes of the stored
    results of `measured`, and the projected hours of the `paper` profile on the same hardware."""
    have, want = profiles.load(measured), profiles.load(paper)
    if not same_query_cost(have, want):
        raise ValueError(f"profile {measured!r} runs ABS inference with other settings than {paper!r}: "
                         "its per-query cost does not project (use the default profile)")
    rows = [_training(have, want), _clean(have, want)]
    rows += [_attacks(have, want, norm) for norm in PAPER_ORDER]
    return pd.DataFrame([r for r in rows if r["results"]])


def _training(have: Profile, want: Profile) -> dict:
    seconds, scaled, n = 0.0, 0.0, 0
    for model in ALL_MODELS:
        path = artifacts.log_path(have.name, model)
        if path.exists():
            s = artifacts.load_json(path)["wall_seconds"]
            seconds, n = seconds + s, n + 1
            scaled += s * training_work(want, model) / training_work(have, model)
    return _row("01 training", seconds, scaled, n)


def _clean(have: Profile, want: Profile) -> dict:
    secs = [float(artifacts.load_json(f)["seconds"]) for f in artifacts.clean_dir(have.name).glob("*.json")]
    return _row("02 clean accuracy", sum(secs), sum(secs) * want.eval_samples / have.eval_samples,
                len(secs))


def _attacks(have: Profile, want: Profile, norm: str) -> dict:
    names = {spec.name for spec in ATTACKS[norm]}
    seconds, scaled, n = 0.0, 0.0, 0
    for path in artifacts.attacks_dir(have.name, norm).glob("*/*.json"):
        meta, model = artifacts.load_json(path), path.parent.name
        if meta["attack"] not in names:
            continue
        # the settings the result was made with, as it recorded them
        measured_budget = dataclasses.replace(have.budget(model), **meta["budget"], samples=meta["samples"])
        ratio = attack_work(meta["attack"], want.budget(model)) / attack_work(meta["attack"], measured_budget)
        seconds, scaled, n = seconds + meta["seconds"], scaled + meta["seconds"] * ratio, n + 1
    return _row(f"03 attacks {norm}", seconds, scaled, n)
