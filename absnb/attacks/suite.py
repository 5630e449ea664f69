"""Run a norm's attacks against the models on the fixed test selection, and store every result.

Layout under artifacts/<profile>/results/attacks/: ``<norm>/<model>/<attack>.csv`` (one row per
sample: label, prediction, distance, success, rejected), ``.pt`` (the verified adversarial images,
for Figure 3) and ``.json`` (budget, samples, seconds, model queries, rejected count). Work runs in
batches of the budget's batch_size; each finished batch is written at once (``.parts/``), so an
interrupted run resumes with the next batch, and a finished (model, attack) pair whose samples,
weights and budget settings (those the attack uses: `run.budget_fields`) are unchanged is read back
instead of rerun. Latent Descent's adversarials, the substitute's transfer directions and the
gradient estimates at the clean images are cached per batch under ``shared/`` (keyed by the settings
they depend on) and reused by the other norms and attacks. Attacks that start from the best adversarial
so far (`registry.starts_from`) run after the attacks they start from, and their batches are keyed by
the starting images too, so a change upstream reruns them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from absnb import artifacts, data, profiles, runtime
from absnb.attacks.distances import check_norm
from absnb.attacks.estimated import EstimatedGradientModel
from absnb.attacks.foolbox_attacks import Start
from absnb.attacks.registry import AttackSpec, applies, execution_order, select, starts_from
from absnb.attacks.run import Shared, Target, attack_batch, budget_fields
from absnb.attacks.verify import Verified
from absnb.models import PAPER_MODELS, check_name, check_trained, load, weights_digest
from absnb.results import per_sample_frame

TEST_IMAGES = 10_000
FIELDS = ("adv", "success", "distance", "prediction", "refused", "margin")
# Bump when a change to the attack code invalidates stored results.
CODE_VERSION = 5


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


def check_request(norm: str, models: list[str] | None,
                  attacks: list[str] | None) -> tuple[list[str], list[AttackSpec]]:
    """Validate the names before any work: unknown norms, models and attacks list the valid ones."""
    check_norm(norm)
    models = list(PAPER_MODELS) if models is None else list(models)
    for name in models:
        check_name(name, PAPER_MODELS)
    return models, select(norm, attacks)


def check_weights(profile: str, models: list[str]) -> None:
    """Fail before attacking anything if the profile is unknown or a model (or the substitute) is
    not trained."""
    profiles.load(profile)
    for name in (*models, "substitute"):
        check_trained(name, profile)


def _fingerprint(**parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]


class DiskShared(Shared):
    """`Shared` work kept on disk per batch of samples (and the gradient estimates of clean images)."""

    def __init__(self, directory: Path, fingerprint: str, force: bool) -> None:
        super().__init__()
        self.directory, self.fingerprint, self.force = directory, fingerprint, force

    def _path(self, key: str) -> Path:
        return self.directory / f"{key.replace('/', '_')}-{self.fingerprint}.pt"

    def get(self, key: str, compute: Callable[[], object]) -> object:
        if key in self.memory:
            return self.memory[key]
        path = self._path(key)
        if key.startswith("estimator/"):
            wrapper = compute()
            if path.exists() and not self.force:
                wrapper.cache.update(artifacts.load_torch(path))
            self.memory[key] = wrapper
        elif path.exists() and not self.force:
            self.memory[key] = artifacts.load_torch(path)
        else:
            self.memory[key] = compute()
            artifacts.save_torch(self.memory[key], path)
        return self.memory[key]

    def save_estimates(self, x: torch.Tensor) -> None:
        """Store the gradient estimates at the clean images: every later run and norm starts there."""
        keys = [EstimatedGradientModel.key(image) for image in x]
        for key, value in self.memory.items():
            if key.startswith("estimator/"):
                clean = {k: value.cache[k] for k in keys if k in value.cache}
                if clean:
                    artifacts.save_torch(clean, self._path(key))


def run_pair(prof: profiles.Profile, norm: str, spec: AttackSpec, target: Target, samples: torch.Tensor,
             images: torch.Tensor, labels: torch.Tensor, substitute: torch.nn.Module,
             budget: profiles.AttackBudget, digests: dict[str, str], force: bool,
             start: Start | None = None) -> pd.DataFrame:
    """One (model, attack) pair on all samples, batch by batch (from `start`'s adversarials, one per
    sample, where the attack has a start); returns its per-sample table."""
    base = artifacts.results_path(prof.name, f"attacks/{norm}/{target.name}/{slug(spec.name)}")
    settings = {"budget": {k: getattr(budget, k) for k in budget_fields(spec)}, "attack": spec.name,
                "norm": norm, "weights": digests[target.name], "substitute": digests["substitute"],
                "code": CODE_VERSION}
    if start is not None:
        settings["start"] = _digest(start)
    whole = _fingerprint(samples=samples.tolist(), **settings)
    meta_path = base.with_suffix(".json")
    if meta_path.exists() and not force and artifacts.load_json(meta_path)["fingerprint"] == whole:
        return pd.read_csv(base.with_suffix(".csv"))
    parts, seconds, queries = [], 0.0, 0
    bar = tqdm(list(samples.split(budget.batch_size)), desc=f"{target.name} · {spec.name}", leave=False)
    for i, batch in enumerate(bar):
        rows = slice(i * budget.batch_size, i * budget.batch_size + len(batch))
        part = _run_batch(prof, spec, target, batch, images, labels, substitute, budget, settings, force,
                          None if start is None else (start[0][rows], start[1][rows]))
        parts.append(part)
        seconds, queries = seconds + part["seconds"], queries + part["queries"]
    verified = Verified(**{f: torch.cat([p[f] for p in parts]) for f in FIELDS})
    frame = per_sample_frame(target.name, norm, spec.name, samples, labels.cpu()[samples], verified)
    artifacts.save_torch({"samples": samples, "adv": verified.adv}, base.with_suffix(".pt"))
    artifacts.save_csv(frame, base.with_suffix(".csv"))
    artifacts.save_json({"fingerprint": whole, **settings, "samples": len(samples), "seconds": seconds,
                         "queries": queries, "rejected": verified.rejected}, meta_path)
    return frame


def _run_batch(prof: profiles.Profile, spec: AttackSpec, target: Target, batch: torch.Tensor,
               images: torch.Tensor, labels: torch.Tensor, substitute: torch.nn.Module,
               budget: profiles.AttackBudget, settings: dict, force: bool, start: Start | None) -> dict:
    """One batch of one pair: read back if stored, else attacked, verified and stored at once."""
    root = artifacts.results_path(prof.name, "attacks")
    batch_settings = settings if start is None else settings | {"start": _digest(start)}
    path = root / settings["norm"] / target.name / f"{slug(spec.name)}.parts" / \
        f"{_fingerprint(samples=batch.tolist(), **batch_settings)}.pt"
    if path.exists() and not force:
        return artifacts.load_torch(path)
    shared_fp = _fingerprint(samples=batch.tolist(), weights=settings["weights"],
                             substitute=settings["substitute"], code=CODE_VERSION)
    shared = DiskShared(root / "shared" / target.name, shared_fp, force)
    x, y = images[batch.to(images.device)], labels[batch.to(labels.device)]
    if start is not None:
        start = (start[0].to(x.device), start[1].to(x.device))
    began, queries_before = time.perf_counter(), getattr(target.model, "queries", 0)
    checked = attack_batch(spec, target, x, y, budget, shared, substitute, start)
    shared.save_estimates(x)
    part = {f: getattr(checked, f).cpu() for f in FIELDS}
    part |= {"seconds": time.perf_counter() - began,
             "queries": getattr(target.model, "queries", 0) - queries_before}
    artifacts.save_torch(part, path)
    return part


def _digest(start: Start) -> str:
    """A digest of starting images and their mask: batches started elsewhere are different work."""
    digest = hashlib.sha256(start[0].detach().cpu().numpy().tobytes())
    digest.update(start[1].detach().cpu().numpy().tobytes())
    return digest.hexdigest()[:20]


def best_start(frames: dict[str, pd.DataFrame], adversarials: dict[str, torch.Tensor]) -> Start:
    """Per sample, the verified adversarial with the smallest distance among the attacks given (frames
    and adversarials in sample order), and whether there is one (distance finite and above 0)."""
    names = list(frames)
    dist = torch.tensor(np.stack([frames[n]["distance"].to_numpy(dtype=float) for n in names]))
    pick = dist.argmin(0)
    stacked = torch.stack([adversarials[n] for n in names])
    best = stacked[pick, torch.arange(len(pick))]
    chosen = dist[pick, torch.arange(len(pick))]
    return best, torch.isfinite(chosen) & (chosen > 0)


def slug(name: str) -> str:
    """The file name of an attack's results (e.g. "L2 BIM w/ GE" -> "l2_bim_w__ge")."""
    return "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_")


def run_norm(profile: str, norm: str, models: list[str] | None = None, attacks: list[str] | None = None,
             n_samples: int | None = None, seed: int = 0, force: bool = False,
             workers: int | None = None) -> pd.DataFrame:
    """Every applicable attack of `norm` against every model; the tidy per-sample table of all pairs.

    On a CPU the models are attacked by `workers` processes at once (default `runtime.workers()`, one
    per core, each with one torch thread): an ABS query barely speeds up with a second thread, but
    two models attacked side by side use both cores. Every batch seeds itself, so the results do not
    depend on the number of workers; the most expensive models are handed out first."""
    profiles.load(profile)
    models, specs = check_request(norm, models, attacks)
    check_weights(profile, models)
    names = [s.name for s in specs]
    workers = min(runtime.workers() if workers is None else workers, len(models))
    if workers <= 1:
        frames = {name: attack_model(profile, norm, name, names, n_samples, seed, force) for name in models}
    else:
        order = sorted(models, key=lambda m: COST_ORDER.index(m))
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=runtime.single_thread) as pool:
            futures = {name: pool.submit(attack_model, profile, norm, name, names, n_samples, seed, force)
                       for name in order}
            frames = {name: future.result() for name, future in futures.items()}
    return pd.concat([frames[name] for name in models], ignore_index=True)


# The models from the most to the least expensive to attack: the order parallel workers take them in.
COST_ORDER = ("binary_abs", "abs", "nearest", "madry", "binary_cnn", "cnn")


def attack_model(profile: str, norm: str, name: str, attacks: list[str], n_samples: int | None = None,
                 seed: int = 0, force: bool = False) -> pd.DataFrame:
    """Every applicable attack of `norm` (among `attacks`) against one model, stored pair by pair."""
    prof = profiles.load(profile)
    device = runtime.configure()
    images, labels = (t.to(device) for t in data.load_split("test"))
    substitute = load("substitute", prof).to(device)
    digests = {m: weights_digest(profile, m) for m in (name, "substitute")}
    budget = prof.budget(name)
    if n_samples is not None:
        budget = dataclasses.replace(budget, samples=n_samples)
    samples = select_samples(seed, budget.samples, labels.cpu())
    target = Target(name, load(name, prof).to(device))
    specs = [spec for spec in select(norm, attacks) if applies(spec, name)]
    frames: dict[str, pd.DataFrame] = {}
    done: list[AttackSpec] = []
    for spec in execution_order(specs):
        start, earlier = None, starts_from(spec, done)
        if earlier:  # else (the attacks it starts from not selected) it starts as foolbox would
            start = best_start({s.name: frames[s.name] for s in earlier},
                               {s.name: _stored_adversarials(prof.name, norm, name, s) for s in earlier})
        frames[spec.name] = run_pair(prof, norm, spec, target, samples, images, labels, substitute, budget,
                                     digests, force, start)
        done.append(spec)
    ordered = [frames[spec.name] for spec in specs]
    return pd.concat(ordered, ignore_index=True) if ordered else pd.DataFrame()


def _stored_adversarials(profile: str, norm: str, model: str, spec: AttackSpec) -> torch.Tensor:
    path = artifacts.results_path(profile, f"attacks/{norm}/{model}/{slug(spec.name)}.pt")
    return artifacts.load_torch(path)["adv"]


def run_log(profile: str, norm: str) -> pd.DataFrame:
    """Budgets, wall time and model queries of every stored (model, attack) pair of a norm."""
    rows = []
    for path in sorted(artifacts.results_path(profile, f"attacks/{norm}").glob("*/*.json")):
        meta = artifacts.load_json(path)
        rows.append({"model": path.parent.name, "attack": meta["attack"], "samples": meta["samples"],
                     "seconds": meta["seconds"], "queries": meta["queries"], "rejected": meta["rejected"]})
    return pd.DataFrame(rows)


def parse_names(value: str | list[str] | None) -> list[str] | None:
    """A list of names from a notebook parameter: None or "all" for all, else a list or "a, b"."""
    if value is None or value == "all":
        return None
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return list(value)
