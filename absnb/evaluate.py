"""Clean accuracy of every model on the test set (the ABS models' bank-only accuracy too, and their
per-image ELBOs), and Madry et al.'s accuracy under PGD-40.

Each model's score is cached in artifacts/<profile>/results/clean/<model>.json with the SHA-256 of the
weights it was computed from, so an interrupted evaluation resumes with the next model and retrained
weights are scored again; `clean_table` gathers them into one tidy table.
"""

from __future__ import annotations

import time

import pandas as pd
import torch

from absnb import artifacts, data, profiles, runtime
from absnb.inference import predict
from absnb.models import check_name, check_trained, inference_key, load, released, weights_digest
from absnb.models.madry import pgd_accuracy
from absnb.paths import DATA_DIR
from absnb.train import fit_binary_gamma
from absnb.vocabulary import ABS_MODELS, DISPLAY_NAMES, RELEASED, REQUIRES

PAPER_TABLE1 = DATA_DIR / "paper_table1.csv"


def test_data(profile: profiles.Profile) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = data.load_split("test")
    return x[: profile.eval_samples], y[: profile.eval_samples]


def score_model(name: str, profile: str, force: bool = False) -> dict:
    """Clean test accuracy of one model (and PGD-40 accuracy for Madry et al.), cached on disk."""
    check_name(name, tuple(DISPLAY_NAMES))
    path = artifacts.clean_path(profile, name)
    check_trained(name, profile)
    prof = profiles.load(profile)
    key = score_key(profile, name)
    if path.exists() and not force:
        stored = artifacts.load_json(path)
        if is_fresh(stored, key):
            return stored
    device = runtime.configure()
    model = load(name, prof).to(device)
    x, y = test_data(prof)
    start = time.time()
    if name in ABS_MODELS:
        images = image_records(name, profile, model)
        scores = {"accuracy": accuracy(images["elbo"] * images["gamma"], y),
                  "bank_accuracy": accuracy(images["bank_elbo"] * images["gamma"], y)}
    else:
        scores = {"accuracy": accuracy(predict(lambda b: model(b.to(device)), x, prof.eval_batch_size,
                                               f"clean {name}"), y)}
    result = {"model": name, "profile": profile, "samples": len(y), "accuracy": scores["accuracy"],
              "seconds": time.time() - start, "hardware": runtime.describe(), **key}
    if name == "madry":
        result.update(_pgd_accuracy(model, x, y, prof, device))
    if name in ABS_MODELS:
        result["bank_accuracy"] = scores["bank_accuracy"]
    artifacts.save_json(result, path)
    return result


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    return (logits.argmax(1) == y).float().mean().item()


def image_records(name: str, profile: str, model: torch.nn.Module | None = None,
                  force: bool = False) -> dict[str, torch.Tensor]:
    """Per test image, what an ABS model's inference found for every class: the ELBO l_y(x) after
    the Adam steps (`elbo`), over the bank alone (`bank_elbo`), and the prior term ||z*||^2 / 2 at the
    latent found (`kl`; the squared reconstruction error is -784 l_y(x) - kl), with the labels and
    the class scalars (logits = gamma * elbo). One search serves the clean score and the diagnosis of
    the training page. Cached next to the clean score under the same key; `model` if already loaded."""
    check_name(name, ABS_MODELS)
    prof = profiles.load(profile)
    path = artifacts.clean_path(profile, name).with_suffix(".pt")
    key = score_key(profile, name)
    if path.exists() and not force:
        stored = artifacts.load_torch(path)
        if stored["key"] == key:
            return stored
    device = runtime.configure()
    model = (model or load(name, prof)).to(device)
    x, y = test_data(prof)

    def search(b: torch.Tensor) -> torch.Tensor:
        elbo, z = model.search(b.to(device))
        return torch.cat([elbo, model.bank_elbo(b.to(device)), 0.5 * z.pow(2).sum(-1).T], 1)

    found = predict(search, x, prof.abs_batch_size, f"clean {name}").split(10, dim=1)
    records = {"key": key, "labels": y, "elbo": found[0], "bank_elbo": found[1], "kl": found[2],
               "gamma": model.gamma.detach().cpu()}
    artifacts.save_torch(records, path)
    return records


def score_key(profile: str, name: str) -> dict:
    """What a stored clean score (and an ABS model's inference records) depends on: the weights'
    digest and the scoring settings."""
    return {"weights_sha256": weights_digest(profile, name),
            "settings": scoring_settings(profiles.load(profile), name)}


def is_fresh(stored: dict, key: dict) -> bool:
    """Whether a stored score (or records' key) was computed under `key`."""
    return {k: stored.get(k) for k in key} == key


def scoring_settings(prof: profiles.Profile, name: str) -> dict:
    """What a stored score depends on besides the weights: the test images and the model's settings
    (ABS inference, Madry et al.'s PGD evaluations), so changing either re-scores. A model built on
    another (Binary ABS on ABS) depends on that one's section too: its inference settings live there."""
    section = getattr(prof, name, None)
    settings = {"eval_samples": prof.eval_samples, **(profiles.settings(section) if section else {})}
    if name in ABS_MODELS:
        settings["inference"] = inference_key(prof, name)
    for needed in REQUIRES.get(name, ()):
        settings[needed] = profiles.settings(getattr(prof, needed))
    return settings


def released_gamma(profile: str, force: bool = False) -> dict:
    """Our Binary ABS recipe for γ (a line search on training accuracy) run on the released VAEs,
    beside the authors' γ that Binary ABS (released) uses: the fitted γ and the training accuracy under
    γ = 1, the authors' γ and the fit, on the same seeded training images as our fit. Cached on disk."""
    prof = profiles.load(profile)
    path = artifacts.results_path(profile, "released_gamma.json")
    key = {"weights_sha256": weights_digest(profile, "binary_abs_released"),
           "inference": inference_key(prof, "binary_abs_released"),
           "fit": profiles.settings(prof.binary_abs), "train_samples": prof.train_samples}
    if path.exists() and not force and artifacts.load_json(path)["key"] == key:
        return artifacts.load_json(path)
    device = runtime.configure()
    start = time.time()
    fit = fit_binary_gamma(load("binary_abs_released", prof).to(device), prof, seed=0, device=device)
    result = {"key": key, "authors_gamma": list(released.GAMMA), **fit, "seconds": time.time() - start}
    artifacts.save_json(result, path)
    return result


def _pgd_accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, prof: profiles.Profile,
                  device: torch.device) -> dict:
    """Accuracy under L-inf PGD (one random start) on the first eval_pgd_samples test images, and
    under PGD with `eval_restarts` random starts on the first eval_restart_samples."""
    cfg = prof.madry
    n, m = min(cfg.eval_pgd_samples, len(x)), min(cfg.eval_restart_samples, len(x))
    x, y = x.to(device), y.to(device)
    one = pgd_accuracy(model, x[:n], y[:n], cfg.eps, cfg.eval_pgd_steps, cfg.eval_pgd_step_size,
                       batch_size=prof.eval_batch_size, desc=f"PGD-{cfg.eval_pgd_steps} on madry")
    start = time.time()
    restarts = pgd_accuracy(model, x[:m], y[:m], cfg.eps, cfg.eval_restart_steps, cfg.eval_pgd_step_size,
                            cfg.eval_restarts, prof.eval_batch_size,
                            desc=f"PGD-{cfg.eval_restart_steps} x {cfg.eval_restarts} restarts on madry")
    return {"pgd_accuracy": one, "pgd_samples": n, "pgd_eps": cfg.eps, "pgd_steps": cfg.eval_pgd_steps,
            "pgd_step_size": cfg.eval_pgd_step_size, "restarts_accuracy": restarts,
            "restarts": cfg.eval_restarts, "restarts_steps": cfg.eval_restart_steps, "restarts_samples": m,
            "restarts_seconds": time.time() - start}


def clean_table(profile: str) -> pd.DataFrame:
    """One row per model: our clean accuracy beside the paper's (percent); for the ABS models also the
    accuracy of the bank start alone (the released models are compared with the paper's ABS rows)."""
    rows = [score_model(name, profile) for name in DISPLAY_NAMES]
    ours = pd.DataFrame(rows)
    paper = pd.read_csv(PAPER_TABLE1)
    paper = paper[paper.norm == "clean"].set_index("model")["accuracy_percent"]
    table = pd.DataFrame({
        "model": [DISPLAY_NAMES[n] for n in ours.model],
        "test samples": ours.samples,
        "ours (%)": (100 * ours.accuracy).round(2),
        "paper (%)": [paper[DISPLAY_NAMES[RELEASED.get(n, n)]] for n in ours.model],
        "eval seconds": ours.seconds.round(1),
    })
    table["difference (points)"] = (table["ours (%)"] - table["paper (%)"]).round(2)
    table.insert(3, "bank only (%)", (100 * ours.get("bank_accuracy", pd.Series(dtype=float))).round(2))
    return table
