"""Where attack results live, and when a stored one is still valid.

Layout (`artifacts.attack_path`) under artifacts/<profile>/results/attacks/:
``<norm>/<model>/<attack>.csv`` (one row per sample: label, prediction, distance, success, rejected,
margin), ``.pt`` (the verified adversarial images, for Figure 3) and ``.json`` (budget, samples,
seconds, model queries, rejected count). Each batch of samples is stored on its own as soon as it is
done (``<attack>.parts/``, keyed by a digest of its samples and of everything its result depends on,
`pair_settings`: the budget fields the attack uses, the constants of its family, the model's weights
(and an ABS model's inference settings), the substitute for transfer only, the starting images, and
the versions of its family's code and of the verification), so an interrupted run resumes with the
missing batches and a change re-runs only what it touches. Latent Descent's adversarials, the
substitute's transfer directions and the gradient estimates at the clean images are cached per batch
under ``shared/``, keyed the same way, and reused by the other norms and attacks. Every file is
written atomically.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch

from absnb import artifacts, profiles
from absnb.attacks.estimated import EstimatedGradientModel
from absnb.attacks.foolbox_attacks import BLEND_STEPS, Start
from absnb.attacks.registry import AttackSpec
from absnb.attacks.run import GRID_RANGE, Shared, Target, attack_batch, budget_fields
from absnb.attacks.verify import VERIFY_VERSION, Verified
from absnb.results import per_sample_frame
from absnb.vocabulary import Norm

FIELDS = ("adv", "success", "distance", "prediction", "refused", "margin")
# One version per attack family: bump a family's when a change to its code changes its results (the
# shared work of a family, under shared/, is keyed by the same number). Changes to the verification
# bump verify.VERIFY_VERSION, to the ABS inference abs.INFERENCE_VERSION.
VERSIONS = {"fixed-epsilon": 1, "minimization": 1, "transfer": 1, "latent-descent": 1, "adaptive": 1,
            "flip-search": 1}
# The family whose version keys each kind of shared work (by its key's prefix).
SHARED_FAMILIES = {"transfer/": "transfer", "latent_descent/": "latent-descent",
                   "estimator/": "fixed-epsilon"}


def fingerprint(**parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]


def digest(start: Start) -> str:
    """A digest of starting images and their mask: batches started elsewhere are different work."""
    sha = hashlib.sha256(start[0].detach().cpu().numpy().tobytes())
    sha.update(start[1].detach().cpu().numpy().tobytes())
    return sha.hexdigest()[:20]


def pair_settings(norm: Norm, spec: AttackSpec, budget: profiles.AttackBudget,
                  digests: dict[str, str], model: str, inference: dict | None = None) -> dict:
    """Everything a pair's results depend on, apart from its samples and its starting images; an ABS
    model's `inference` settings (and for the adaptive attacks, that they see its softmax logits)."""
    settings = {"budget": {k: getattr(budget, k) for k in budget_fields(spec)}, "attack": spec.name,
                "norm": norm, "weights": digests[model], **family_constants(spec),
                "code": {"attack": VERSIONS[spec.family], "verify": VERIFY_VERSION}}
    if spec.family == "transfer":
        settings["substitute"] = digests["substitute"]
    if inference is not None:
        settings["inference"] = inference
        if spec.family == "adaptive":
            settings["logits"] = "softmax"
    return settings


def family_constants(spec: AttackSpec) -> dict:
    """The module constants an attack's results depend on: the ε grid's range (fixed-epsilon), the
    blended-noise start of the Boundary Attack and of Brendel–Bethge without a start."""
    if spec.family == "fixed-epsilon":
        return {"grid_range": GRID_RANGE[spec.norm]}
    if spec.family in ("minimization", "adaptive"):
        return {"blend_steps": BLEND_STEPS}
    return {}


class DiskShared(Shared):
    """`Shared` work kept on disk per batch of samples (and the gradient estimates of clean images),
    keyed by the batch, the model (`base`: weights, inference settings) and the version of the family
    that computes it; the substitute's transfer directions by the substitute's digest too."""

    def __init__(self, directory: Path, base: dict, force: bool, substitute: str | None = None) -> None:
        super().__init__()
        self.directory, self.base, self.force, self.substitute = directory, base, force, substitute

    def _path(self, key: str) -> Path:
        prefix = next(p for p in SHARED_FAMILIES if key.startswith(p))
        parts = self.base | {"code": VERSIONS[SHARED_FAMILIES[prefix]]}
        if prefix == "transfer/":
            if self.substitute is None:
                raise ValueError("transfer work needs the substitute's digest in its key")
            parts["substitute"] = self.substitute
        return self.directory / f"{key.replace('/', '_')}-{fingerprint(**parts)}.pt"

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


def batch_path(profile: str, settings: dict, model: str, batch: torch.Tensor,
               start: Start | None) -> Path:
    """Where one batch of one pair is stored: keyed by its samples, settings and start."""
    keyed = settings if start is None else settings | {"start": digest(start)}
    parts = artifacts.attack_path(profile, settings["norm"], model, settings["attack"], ".parts")
    return parts / f"{fingerprint(samples=batch.tolist(), **keyed)}.pt"


def run_batch(profile: str, spec: AttackSpec, name: str, load_target: Callable[[], Target],
              batch: torch.Tensor, images: torch.Tensor, labels: torch.Tensor,
              substitute: Callable[[], torch.nn.Module], budget: profiles.AttackBudget, settings: dict,
              force: bool, start: Start | None) -> dict:
    """One batch of model `name` under one attack: read back if stored, else attacked, verified and
    stored at once. `load_target` and `substitute` load the models only if it has to be attacked."""
    path = batch_path(profile, settings, name, batch, start)
    if path.exists() and not force:
        return artifacts.load_torch(path)
    model = load_target()
    base = {"samples": batch.tolist(), "weights": settings["weights"], "inference": settings.get("inference")}
    shared = DiskShared(artifacts.shared_dir(profile, model.name), base, force, settings.get("substitute"))
    x, y = images[batch.to(images.device)], labels[batch.to(labels.device)]
    if start is not None:
        start = (start[0].to(x.device), start[1].to(x.device))
    began, queries_before = time.perf_counter(), getattr(model.model, "queries", 0)
    checked = attack_batch(spec, model, x, y, budget, shared, substitute(), start)
    shared.save_estimates(x)
    part = {f: getattr(checked, f).cpu() for f in FIELDS}
    part |= {"seconds": time.perf_counter() - began,
             "queries": getattr(model.model, "queries", 0) - queries_before}
    artifacts.save_torch(part, path)
    return part


def best_start(distances: dict[str, torch.Tensor], adversarials: dict[str, torch.Tensor]) -> Start:
    """Per sample, the verified adversarial with the smallest distance among the attacks given (all in
    sample order), and whether there is one (distance finite and above 0)."""
    names = list(distances)
    dist = torch.stack([torch.as_tensor(distances[n], dtype=torch.float64) for n in names])
    pick = dist.argmin(0)
    stacked = torch.stack([adversarials[n] for n in names])
    best = stacked[pick, torch.arange(len(pick))]
    chosen = dist[pick, torch.arange(len(pick))]
    return best, torch.isfinite(chosen) & (chosen > 0)


def finish_pair(profile: str, model: str, samples: torch.Tensor, labels: torch.Tensor, settings: dict,
                parts: list[dict], start: Start | None, force: bool = False) -> pd.DataFrame:
    """Join a pair's batches (in sample order) into its per-sample table and store the pair's files,
    unless all three are stored with the same fingerprint (and the batches were not `force`d anew)."""
    norm, attack = settings["norm"], settings["attack"]
    if start is not None:
        settings = settings | {"start": digest(start)}
    whole = fingerprint(samples=samples.tolist(), **settings)
    meta_path = artifacts.attack_path(profile, norm, model, attack, ".json")
    verified = Verified(**{f: torch.cat([p[f] for p in parts]) for f in FIELDS})
    frame = per_sample_frame(model, norm, attack, samples, labels[samples], verified)
    files = [artifacts.attack_path(profile, norm, model, attack, s) for s in (".csv", ".pt")]
    if not force and meta_path.exists() and all(f.exists() for f in files) and \
            artifacts.load_json(meta_path)["fingerprint"] == whole:
        return frame
    artifacts.save_torch({"samples": samples, "adv": verified.adv},
                         artifacts.attack_path(profile, norm, model, attack, ".pt"))
    artifacts.save_csv(frame, artifacts.attack_path(profile, norm, model, attack, ".csv"))
    artifacts.save_json({"fingerprint": whole, **settings, "samples": len(samples),
                         "seconds": sum(p["seconds"] for p in parts),
                         "queries": sum(p["queries"] for p in parts),
                         "rejected": verified.rejected}, meta_path)
    return frame


def run_log(profile: str, norm: str) -> pd.DataFrame:
    """Budgets, wall time and model queries of every stored (model, attack) pair of a norm."""
    rows = []
    for path in sorted(artifacts.attacks_dir(profile, norm).glob("*/*.json")):
        meta = artifacts.load_json(path)
        rows.append({"model": path.parent.name, "attack": meta["attack"], "samples": meta["samples"],
                     "seconds": meta["seconds"], "queries": meta["queries"], "rejected": meta["rejected"]})
    return pd.DataFrame(rows)

