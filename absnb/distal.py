"""Distal ("trash") adversarials: images unlike any digit that a model assigns to a target class with
high confidence, as in the authors' README ("classified as 1 with > 90% certainty").

From uniform noise, SGD with momentum (the authors: lr 1, momentum 0.95, at most 10,000 iterations,
clipped to [0, 1]) descends -log p(target | x): with real gradients where the model has them (CNN,
Madry et al., Binary CNN through the straight-through estimator, the ABS models through their exact
envelope gradient, Binary ABS straight through its binarisation) and with the coordinate-wise
finite-difference estimate (step 1.0) for Nearest Neighbour, as the authors did for the models
without. Each image stops once it is confident enough; the best image per start is kept, and the
confidence reported is the one the model gives when run again on the stored image. p(y|x) is the
softmax of the logits; for the ABS models softmax(alpha * logits), the authors' scale; for Nearest
Neighbour the softmax of minus the distances.

Work is checkpointed after every step (estimated-gradient steps cost ~1,600 queries each), so an
interrupted run resumes, and a finished model is reused while its settings and weights hold.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from absnb import artifacts, profiles, runtime
from absnb.attacks.gradients import autograd_gradient, coordinate_gradient
from absnb.attacks.registry import ABS_MODELS, GRADIENT_MODELS
from absnb.models import check_name, check_trained, inference_key, load, weights_digest
from absnb.models.abs import ABS
from absnb.profiles import DistalBudget
from absnb.vocabulary import DISPLAY_NAMES, PAPER_MODELS

CODE_VERSION = 2
SHAPE = (1, 28, 28)


def log_probabilities(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """log p(y|x) per class: softmax of the logits, on the authors' alpha scale for the ABS models."""
    logits = model(x)
    if isinstance(model, ABS):
        logits = model.cfg.alpha * logits
    return F.log_softmax(logits, dim=1)


@dataclass
class Search:
    """The state of one model's search, one entry per noise start (what a checkpoint holds)."""

    x: torch.Tensor  # current images
    velocity: torch.Tensor
    best: torch.Tensor  # most confident image seen per start
    confidence: torch.Tensor  # p(target | best)
    steps: torch.Tensor  # steps taken per start (a start stops once it is confident enough)
    queries: int = 0
    seconds: float = 0.0

    @classmethod
    def start(cls, images: int, seed: int) -> Search:
        noise = torch.rand(images, *SHAPE, generator=torch.Generator().manual_seed(seed))
        return cls(noise, torch.zeros_like(noise), noise.clone(), torch.zeros(images),
                   torch.zeros(images, dtype=torch.long))


def _gradient(model: nn.Module, x: torch.Tensor, target: int, estimated: bool,
              budget: DistalBudget) -> tuple[torch.Tensor, int]:
    """d(-log p(target|x))/dx per image, and the number of images the model was queried on."""
    def loss(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.nll_loss(log_probabilities(model, images), labels, reduction="none")

    labels = torch.full((len(x),), target, dtype=torch.long, device=x.device)
    if not estimated:
        return autograd_gradient(loss, x, labels), len(x)
    counted = [0]

    def counting(images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        counted[0] += len(images)
        return loss(images, labels)

    grad = coordinate_gradient(counting, x, labels, budget.ge_step, budget.query_batch)
    return grad, counted[0]


def search(model: nn.Module, state: Search, budget: DistalBudget, estimated: bool, max_steps: int,
           save: Callable[[Search], None] = lambda state: None, desc: str = "distal") -> Search:
    """SGD with momentum on -log p(target|x) from `state` until every start reaches the threshold or
    `max_steps`; `save` is called after every step (the checkpoint)."""
    device = next(itertools.chain(model.parameters(), model.buffers())).device
    target = budget.target
    if state.steps.sum() == 0 and state.queries == 0:
        state.confidence = _confidence(model, state.x.to(device), target).cpu()
        state.queries += len(state.x)
    bar = tqdm(total=max_steps, initial=int(state.steps.max()), desc=desc, leave=False)
    while True:
        active = ((state.confidence < budget.threshold) & (state.steps < max_steps)).nonzero().squeeze(1)
        if len(active) == 0:
            break
        start = time.perf_counter()
        x = state.x[active].to(device)
        grad, queries = _gradient(model, x, target, estimated, budget)
        velocity = budget.momentum * state.velocity[active].to(device) + grad
        x = (x - budget.lr * velocity).clamp(0, 1)
        confidence = _confidence(model, x, target).cpu()
        better = confidence > state.confidence[active]
        state.best[active[better]] = x[better].cpu()
        state.confidence[active[better]] = confidence[better]
        state.x[active], state.velocity[active] = x.cpu(), velocity.cpu()
        state.steps[active] += 1
        state.queries += queries + len(x)
        state.seconds += time.perf_counter() - start
        bar.update(int(state.steps.max()) - bar.n)
        bar.set_postfix(best=f"{state.confidence.max():.3f}", refresh=False)
        save(state)
    bar.close()
    return state


def _confidence(model: nn.Module, x: torch.Tensor, target: int) -> torch.Tensor:
    with torch.no_grad():
        return log_probabilities(model, x)[:, target].exp()


def uses_estimate(model: str) -> bool:
    """Nearest Neighbour gets the estimate; the networks and the ABS models (envelope gradient, one
    query a step) use their own gradients."""
    return model not in (*GRADIENT_MODELS, *ABS_MODELS)


def run_model(profile: str, model: str, seed: int = 0, force: bool = False) -> dict:
    """One model's distal adversarials under `profile`, stored and reused; returns its record."""
    check_name(model, PAPER_MODELS)
    prof = profiles.load(profile)
    budget = prof.distal
    if not 0 <= budget.target <= 9:
        raise ValueError(f"distal target must be a digit 0-9, got {budget.target}")
    estimated = uses_estimate(model)
    images, max_steps = (budget.ge_images, budget.ge_max_steps) if estimated else \
        (budget.images, budget.max_steps)
    settings = {"budget": dataclasses.asdict(budget), "seed": seed, "code": CODE_VERSION,
                "weights": weights_digest(profile, model), "inference": inference_key(prof, model)}
    final = artifacts.distal_path(profile, model)
    partial = final.with_suffix(".partial.pt")
    if final.exists() and not force:
        stored = artifacts.load_torch(final)
        if stored["settings"] == _plain(settings):
            return stored
    state = Search.start(images, seed)
    if partial.exists() and not force:
        saved = artifacts.load_torch(partial)
        if saved["settings"] == _plain(settings):
            state = Search(**saved["state"])
    device = runtime.configure()
    net = load(model, prof).to(device)

    def save(current: Search) -> None:
        artifacts.save_torch({"settings": settings, "state": dataclasses.asdict(current)}, partial)

    state = search(net, state, budget, estimated, max_steps, save, desc=f"distal {model}")
    checked = _confidence(net, state.best.to(device), budget.target).cpu()  # run again, as stored
    record = {"settings": settings, "model": model, "images": state.best, "confidence": checked,
              "steps": state.steps, "queries": state.queries, "seconds": state.seconds,
              "gradient": "estimated" if estimated else "envelope" if model in ABS_MODELS else "real",
              "hardware": runtime.describe()}
    artifacts.save_torch(record, final)
    partial.unlink(missing_ok=True)
    return record


def _plain(settings: dict) -> dict:
    """Settings as they read back from a weights-only torch file (tuples become lists)."""
    return {k: _plain(v) if isinstance(v, dict) else list(v) if isinstance(v, tuple) else v
            for k, v in settings.items()}


def run(profile: str, models: list[str] | None = None, seed: int = 0,
        force: bool = False) -> dict[str, dict]:
    """Distal adversarials for every model (in Table 1's order), each stored and reused. Names,
    profile and weights are all checked before any work."""
    names = list(models or PAPER_MODELS)
    for name in names:
        check_name(name, PAPER_MODELS)
    profiles.load(profile)
    for name in names:
        check_trained(name, profile)
    return {m: run_model(profile, m, seed, force) for m in names}


def summary(records: dict[str, dict], threshold: float) -> pd.DataFrame:
    """One row per model: gradient, starts, steps, the confidence reached and the cost."""
    rows = []
    for name, rec in records.items():
        conf = rec["confidence"]
        rows.append({"model": DISPLAY_NAMES[name], "gradient": rec["gradient"], "starts": len(conf),
                     f"reached {threshold:.0%}": f"{int((conf >= threshold).sum())} / {len(conf)}",
                     "best confidence": float(conf.max()), "median confidence": float(conf.median()),
                     "steps (max)": int(rec["steps"].max()), "queries": rec["queries"],
                     "seconds": round(rec["seconds"], 1)})
    return pd.DataFrame(rows)
