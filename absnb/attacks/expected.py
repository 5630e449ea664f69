"""The attack results a profile's full run stores, and whether the store holds exactly those, fresh.

The expected set is built from the profile and the registry the way a run plans its work
(`plan.plan` over every norm, model and applicable attack), and each expected (norm, model, attack)
pair gets the fingerprint a run with today's code and settings would give it: its samples, its
settings (`plan.task_settings`) and the digest of its start, recomputed from the stored results of
the attacks it starts from. A stored pair is **missing** if any of its three files is absent,
**waiting** if an attack it starts from is not stored yet (a run computes that first, then this pair
again), **stale** if its fingerprint differs (other weights, budgets, inference, code versions or
start), and **extra** if no run of the profile would store it (a removed attack, an old model name).
The book's result pages read only a complete, fresh set, so a number in the book is never from an older
run.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import pandas as pd
import torch

from absnb import artifacts, profiles
from absnb.attacks import plan
from absnb.attacks.registry import ATTACKS, applies, starts_from
from absnb.attacks.selection import Request
from absnb.attacks.store import best_start, digest, fingerprint
from absnb.vocabulary import MODELS, NORMS, Norm

SUFFIXES = (".csv", ".pt", ".json")
Pair = tuple[str, str, str]  # norm, model, attack


@dataclass
class Status:
    """The store against the expected set: what is missing, waiting for the results it starts from,
    stale or extra (as "norm/model/attack")."""

    expected: list[Pair] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not (self.missing or self.waiting or self.stale or self.extra)

    def report(self) -> str:
        lines = [f"{len(self.expected)} expected pairs"]
        for kind in ("missing", "waiting", "stale", "extra"):
            names = getattr(self, kind)
            if names:
                more = " …" if len(names) > 20 else ""
                lines.append(f"{kind} ({len(names)}): " + ", ".join(names[:20]) + more)
        return "; ".join(lines)


class IncompleteResults(RuntimeError):
    """The store does not hold exactly the fresh results of a full run of the profile."""


def check(profile: str, models: tuple[str, ...] = MODELS) -> Status:
    """Compare the stored attack results of `profile` with what a full run would store today."""
    prof = profiles.load(profile)
    status = Status()
    stored = _pair_files(profile)
    _stored.cache_clear()
    for norm, model in ((Norm(n), m) for n in NORMS for m in models):
        try:
            pairs = _by_pair(plan.plan(Request(prof, norm, (model,), ATTACKS[norm])))
        except FileNotFoundError:  # the model (or the substitute) is not trained: nothing is stored
            pairs = {(model, s.name): None for s in ATTACKS[norm] if applies(s, model)}
        for (_, attack), tasks in pairs.items():
            name = f"{norm}/{model}/{artifacts.slug(attack)}"
            status.expected.append((norm, model, attack))
            stored.discard(name)
            if tasks is None or not all(artifacts.attack_path(profile, norm, model, attack, s).exists()
                                        for s in SUFFIXES):
                status.missing.append(name)
                continue
            now = _fingerprint(profile, tasks)
            if now is None:
                status.waiting.append(name)
            elif _recorded(profile, norm, model, attack) != now:
                status.stale.append(name)
    status.extra = sorted(stored)
    return status


def _recorded(profile: str, norm: str, model: str, attack: str) -> str:
    return artifacts.load_json(artifacts.attack_path(profile, norm, model, attack, ".json"))["fingerprint"]


def load(profile: str) -> pd.DataFrame:
    """The per-sample results of every expected pair; an error listing what is missing, stale or extra."""
    status = check(profile)
    if not status.complete:
        raise IncompleteResults(
            f"the attack results of profile {profile!r} are not those of a full run with today's code and "
            f"settings: {status.report()}. To compute what is missing, waiting or stale, run "
            f"notebooks/03_attacks for each norm (`make attacks PROFILE={profile}`).")
    files = [artifacts.attack_path(profile, n, m, a, ".csv") for n, m, a in status.expected]
    return pd.concat([pd.read_csv(f) for f in files], ignore_index=True)


def _pair_files(profile: str) -> set[str]:
    return {f"{p.parent.parent.name}/{p.parent.name}/{p.stem}"
            for p in artifacts.attacks_dir(profile).glob("*/*/*.csv")}


def _by_pair(chains: list[list[plan.Task]]) -> dict[tuple[str, str], list[plan.Task]]:
    pairs: dict[tuple[str, str], list[plan.Task]] = {}
    for chain in chains:
        for task in chain:
            pairs.setdefault((task.model, task.attack), []).append(task)
    return {k: sorted(v, key=lambda t: t.index) for k, v in pairs.items()}


def _fingerprint(profile: str, tasks: list[plan.Task]) -> str | None:
    """The fingerprint `store.finish_pair` gives the pair of these tasks, with the start recomputed
    from the stored results of the attacks it starts from (None if those are not stored)."""
    first = tasks[0]
    spec = plan.spec_named(first.norm, first.attack)
    settings = plan.task_settings(first, spec)
    try:
        starts = [_start(profile, task, spec) for task in tasks]
    except (FileNotFoundError, KeyError):  # an origin is missing, or stored for other samples
        return None
    if starts[0] is not None:
        settings = settings | {"start": digest(tuple(torch.cat(parts) for parts in zip(*starts)))}
    samples = [s for task in tasks for s in task.samples]
    return fingerprint(samples=samples, **settings)


def _start(profile: str, task: plan.Task, spec) -> tuple[torch.Tensor, torch.Tensor] | None:
    origins = starts_from(spec, [plan.spec_named(task.norm, name) for name in task.before])
    if not origins:
        return None
    rows = {o.name: _rows(profile, task.norm, task.model, o.name, task.samples) for o in origins}
    return best_start({n: r[0] for n, r in rows.items()}, {n: r[1] for n, r in rows.items()})


def _rows(profile: str, norm: str, model: str, attack: str, samples: tuple[int, ...]
          ) -> tuple[torch.Tensor, torch.Tensor]:
    """A stored pair's distances (as recorded, float32) and adversarials for `samples`, in order."""
    distances, adv, index = _stored(profile, norm, model, attack)
    pick = torch.tensor([index[s] for s in samples])
    return distances[pick], adv[pick]


@functools.lru_cache(maxsize=256)
def _stored(profile: str, norm: str, model: str, attack: str) -> tuple[torch.Tensor, torch.Tensor, dict]:
    frame = pd.read_csv(artifacts.attack_path(profile, norm, model, attack, ".csv"))
    stored = artifacts.load_torch(artifacts.attack_path(profile, norm, model, attack, ".pt"))
    if frame["sample"].tolist() != stored["samples"].tolist():
        raise KeyError(f"{norm}/{model}/{attack}: its table and its images list other samples")
    index = {int(s): i for i, s in enumerate(stored["samples"].tolist())}
    distances = torch.tensor(frame["distance"].to_numpy(), dtype=torch.float32)
    return distances, stored["adv"], index
