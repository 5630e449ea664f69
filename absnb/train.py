"""Training of every model: one entry point, per-model recipes, progress bars, resumable checkpoints.

`train(model, profile)` writes the weights and a JSON log under artifacts/<profile>/ and reuses them
on a rerun. While it runs, a checkpoint is written after every epoch, so an interrupted run resumes
from the last finished epoch.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from absnb import artifacts, data, profiles, runtime
from absnb.augment import Augmentation, augment
from absnb.inference import predict
from absnb.models import ABS, build, check_name, inference_config, inference_key, load_vaes, weights_digest
from absnb.models.abs import fit_gamma
from absnb.models.madry import pgd_accuracy, pgd_linf
from absnb.models.stacked_vae import StackedVAE, to_vaes
from absnb.models.vae import vae_loss
from absnb.profiles import Profile, training_settings
from absnb.vocabulary import REQUIRES, TRAINED_MODELS


def seed_for(model: str, seed: int) -> int:
    """Each model draws from its own stream (so the substitute CNN does not share the CNN's init)."""
    return 1000 * seed + TRAINED_MODELS.index(model)


def train(model: str, profile: str, seed: int = 0, force: bool = False) -> dict[str, Any]:
    """Train `model` under `profile` unless its weights exist (or `force`); return its training log."""
    check_name(model, TRAINED_MODELS)
    prof = profiles.load(profile)
    weights = artifacts.weights_path(profile, model)
    log_file = artifacts.log_path(profile, model)
    for needed in REQUIRES.get(model, ()):
        if not artifacts.weights_path(profile, needed).exists():
            raise FileNotFoundError(f"{model!r} needs the trained {needed!r} first: "
                                    f"`make train-{needed} PROFILE={profile}`")
    config = config_of(prof, model)
    ckpt = artifacts.checkpoint_path(profile, model)
    if weights.exists() and log_file.exists() and not force:
        log = artifacts.load_json(log_file)
        if log["config"] == config:
            return log
        print(f"{model}: settings changed since the stored run, training again")
        force = True
    settings = ckpt.with_suffix(".json")  # what the checkpoint was trained with
    if force or (ckpt.exists() and (not settings.exists() or artifacts.load_json(settings) != config)):
        ckpt.unlink(missing_ok=True)  # an interrupted run under other settings is not resumed
    artifacts.save_json(config, settings)
    device = runtime.configure()
    torch.manual_seed(seed_for(model, seed))
    state, history, extra = RECIPES[model](prof, seed, ckpt, device)
    log = {"model": model, "profile": profile, "seed": seed,
           "wall_seconds": sum(h["seconds"] for h in history), "history": history,
           "config": config, "hardware": runtime.describe(), **extra}
    artifacts.save_torch(state, weights)  # the weights first: a log means finished weights
    artifacts.save_json(log, log_file)
    ckpt.unlink(missing_ok=True)
    settings.unlink(missing_ok=True)
    return log


def config_of(prof: Profile, model: str) -> dict[str, Any]:
    """What a model's training depends on: its profile settings and the weights it builds on."""
    section = getattr(prof, model, None)
    config = {"train_samples": prof.train_samples, **(training_settings(section) if section else {})}
    if model == "binary_abs":  # its scalars are fitted on the ABS inference's ELBOs
        config["abs_inference"] = inference_key(prof, "abs")
    for needed in REQUIRES.get(model, ()):
        config[f"{needed}_weights_sha256"] = weights_digest(prof.name, needed)
    return config


def training_data(prof: Profile, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """The first `train_samples` verified MNIST training images and labels."""
    x, y = data.load_split("train")
    return x[: prof.train_samples].to(device), y[: prof.train_samples].to(device)


def _batches(n: int, batch_size: int, gen: torch.Generator) -> Iterator[torch.Tensor]:
    order = torch.randperm(n, generator=gen)
    yield from order.split(batch_size)


def _cosine_lr(opt: torch.optim.Optimizer, base: float, step: int, total: int) -> None:
    """Stateless cosine decay, so a resumed run follows the same schedule."""
    for group in opt.param_groups:
        group["lr"] = base * 0.5 * (1 + math.cos(math.pi * step / total))


def _cyclic_lr(opt: torch.optim.Optimizer, peak: float, step: int, total: int) -> None:
    """Stateless one cycle: linearly from 0 up to `peak` at 40% of the steps, then linearly to 0."""
    turn = 0.4 * total
    fraction = step / turn if step < turn else (total - step) / (total - turn)
    for group in opt.param_groups:
        group["lr"] = peak * max(fraction, 0.0)


LR_SCHEDULES = {"cosine": _cosine_lr, "cyclic": _cyclic_lr}


def _fit(net: nn.Module, opt: torch.optim.Optimizer, epochs: int, ckpt,
         run_epoch: Callable[[int], dict[str, float]], seed: int = 0,
         select: str | None = None) -> list[dict[str, Any]]:
    """Run epochs, checkpointing after each; resume from the checkpoint if one exists. The random
    state is reseeded per epoch, so a resumed run draws what an uninterrupted one would. With
    `select`, the net ends with the weights of the epoch whose metric `select` was highest (the
    first, on ties), kept in the checkpoint as it goes."""
    history: list[dict[str, Any]] = []
    best = None
    if ckpt.exists():
        saved = artifacts.load_torch(ckpt)
        net.load_state_dict(saved["net"])
        opt.load_state_dict(saved["opt"])
        history, best = saved["history"], saved.get("best")
    for epoch in range(len(history), epochs):
        start = time.time()
        torch.manual_seed(seed + epoch)
        net.train()
        metrics = run_epoch(epoch)
        history.append({"epoch": epoch + 1, **metrics, "seconds": time.time() - start})
        if select is not None and (best is None or metrics[select] > best["score"]):
            best = {"score": metrics[select], "epoch": epoch + 1,
                    "net": {k: v.clone() for k, v in net.state_dict().items()}}
        artifacts.save_torch({"net": net.state_dict(), "opt": opt.state_dict(), "history": history,
                              "best": best}, ckpt)
    if best is not None:
        net.load_state_dict(best["net"])
        for entry in history:
            entry["kept"] = entry["epoch"] == best["epoch"]
    net.eval()
    return history


def _train_classifier(prof: Profile, seed: int, ckpt, device: torch.device, model: str,
                      adversary: Callable[[nn.Module, torch.Tensor, torch.Tensor, int], torch.Tensor]
                      | None = None, holdout: int = 0,
                      check: Callable[[nn.Module, torch.Tensor, torch.Tensor], dict] | None = None,
                      select: str | None = None, schedule: str = "cosine"):
    """Adam on cross-entropy (of `adversary`'s images if given). With `holdout`, that many training
    images (seeded) are left out and `check` scores them after every epoch; its metric `select`
    picks the epoch whose weights are kept."""
    cfg = getattr(prof, model)
    x, y = training_data(prof, device)
    held = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed_for(model, seed)))[:holdout]
    keep = torch.ones(len(x), dtype=torch.bool)
    keep[held] = False
    (x_held, y_held), (x, y) = (x[held], y[held]), (x[keep.to(x.device)], y[keep.to(y.device)])
    net = build(model, prof).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    per_epoch = math.ceil(len(x) / cfg.batch_size)
    set_lr = LR_SCHEDULES[schedule]

    def run_epoch(epoch: int) -> dict[str, float]:
        gen = torch.Generator().manual_seed(seed_for(model, seed) + epoch)
        loss_sum = correct = seen = 0.0
        bar = tqdm(list(_batches(len(x), cfg.batch_size, gen)), desc=f"{model} epoch {epoch + 1}",
                   leave=False)
        for i, idx in enumerate(bar):
            step = epoch * per_epoch + i
            set_lr(opt, cfg.lr, step, cfg.epochs * per_epoch)
            xb, yb = x[idx], y[idx]
            if adversary is not None:
                xb = adversary(net, xb, yb, step)
            logits = net(xb)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx)
            correct += (logits.argmax(1) == yb).sum().item()
            seen += len(idx)
            bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.4f}", refresh=False)
        metrics = {"loss": loss_sum / seen, "train_accuracy": correct / seen}
        if check is not None and holdout:
            net.eval()
            metrics.update(check(net, x_held, y_held))
        return metrics

    history = _fit(net, opt, cfg.epochs, ckpt, run_epoch, seed_for(model, seed),
                   select if check is not None and holdout else None)
    kept = next((h["epoch"] for h in history if h.get("kept")), None)
    return net.state_dict(), history, {} if kept is None else {"kept_epoch": kept, "holdout": holdout}


def _train_madry(prof: Profile, seed: int, ckpt, device: torch.device):
    """Adversarial training on L-inf PGD examples (random start); eps ramps up over the warm-up. One
    step of 1.25 ε is FGSM from a random start (Wong et al. 2020); the epoch kept is the one with the
    best PGD accuracy on held-out training images."""
    cfg = prof.madry
    per_epoch = math.ceil(prof.train_samples / cfg.batch_size)
    warmup = cfg.eps_warmup_epochs * per_epoch
    gen = torch.Generator(device=device)

    def adversary(net: nn.Module, xb: torch.Tensor, yb: torch.Tensor, step: int) -> torch.Tensor:
        if step % per_epoch == 0:  # reseed per epoch, so a resumed run draws the same starts
            gen.manual_seed(seed_for("madry", seed) + step)
        scale = min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0
        net.eval()
        adv = pgd_linf(net, xb, yb, cfg.eps * scale, cfg.pgd_steps, cfg.pgd_step_size * scale,
                       generator=gen)
        net.train()
        return adv

    def check(net: nn.Module, x_held: torch.Tensor, y_held: torch.Tensor) -> dict[str, float]:
        """Clean and PGD accuracy on the held-out images; PGD picks the epoch (against catastrophic
        overfitting, where single-step training suddenly stops resisting multi-step attacks)."""
        clean = (predict(net, x_held).argmax(1) == y_held).float().mean().item()
        robust = pgd_accuracy(net, x_held, y_held, cfg.eps, cfg.eval_pgd_steps, cfg.eval_pgd_step_size,
                              restarts=1, batch_size=prof.eval_batch_size)
        return {"holdout_accuracy": clean, "holdout_pgd_accuracy": robust}

    return _train_classifier(prof, seed, ckpt, device, "madry", adversary, cfg.holdout, check,
                             "holdout_pgd_accuracy", cfg.lr_schedule)


def _train_abs(prof: Profile, seed: int, ckpt, device: torch.device):
    """Ten VAEs trained together on class-balanced batches (`batch_size` images of every class per
    step, lightly augmented), Adam with cosine decay; the KL weight falls linearly from kl_start to
    kl_end. After every epoch, the cheap inference (bank latents only) scores a held-out slice of the
    training set; the full inference scores it once at the end."""
    cfg = prof.abs
    x, y = training_data(prof, device)
    gen = torch.Generator().manual_seed(seed_for("abs", seed))
    held = torch.randperm(len(x), generator=gen)[: cfg.holdout]
    train_mask = torch.ones(len(x), dtype=torch.bool)
    train_mask[held] = False
    by_class = [(train_mask & (y == c)).nonzero().squeeze(1) for c in range(10)]
    steps = math.ceil(max(len(m) for m in by_class) / cfg.batch_size)
    stacked = StackedVAE(posterior_mean=cfg.posterior_mean).to(device)
    opt = torch.optim.Adam(stacked.parameters(), lr=cfg.lr)
    aug = Augmentation(p=cfg.augment_p)

    def run_epoch(epoch: int) -> dict[str, float]:
        egen = torch.Generator().manual_seed(seed_for("abs", seed) + epoch)
        orders = [m[torch.randperm(len(m), generator=egen)] for m in by_class]
        totals = {"loss": 0.0, "squared_error": 0.0}
        bar = tqdm(range(steps), desc=f"abs epoch {epoch + 1}", leave=False)
        for step in bar:
            progress = (epoch + step / steps) / max(cfg.kl_anneal_epochs, 1e-9)
            kl_weight = cfg.kl_start + (cfg.kl_end - cfg.kl_start) * min(1.0, progress)
            _cosine_lr(opt, cfg.lr, epoch * steps + step, cfg.epochs * steps)
            # image j of class c: the next ones of its shuffled list, wrapping for the smaller classes
            idx = torch.stack([o[(step * cfg.batch_size + torch.arange(cfg.batch_size)) % len(o)]
                               for o in orders], 1)  # (batch, 10)
            xb = augment(x[idx.flatten()], egen, aug).reshape(cfg.batch_size, 10, 28, 28)
            loss, se = vae_loss(xb, *stacked(xb), kl_weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
            totals["loss"] += loss.item() / steps
            totals["squared_error"] += se.item() / steps
            bar.set_postfix(kl_weight=f"{kl_weight:.2f}", se=f"{se.item() / 10:.2f}", refresh=False)
        accuracy = _bank_accuracy(stacked, prof, x[held], y[held])
        stacked.train()
        return totals | {"kl_weight": kl_weight, "holdout_bank_accuracy": accuracy}

    history = _fit(stacked, opt, cfg.epochs, ckpt, run_epoch, seed_for("abs", seed))
    vaes = nn.ModuleList(to_vaes(stacked.cpu()))
    model = ABS(list(vaes), inference_config(prof)).to(device)
    logits = predict(model, x[held], prof.abs_batch_size, "ABS on the held-out training images")
    full = (logits.argmax(1) == y[held].cpu()).float().mean().item()
    return vaes.state_dict(), history, {"holdout": cfg.holdout, "holdout_accuracy": full}


def _bank_accuracy(stacked: StackedVAE, prof: Profile, x: torch.Tensor, y: torch.Tensor) -> float:
    """Accuracy of the cheap inference (best bank latent per class, no Adam steps) on x."""
    model = ABS(to_vaes(stacked.cpu()), inference_config(prof))
    stacked.to(x.device)
    with torch.no_grad():
        elbo = torch.cat([model.bank_elbo(chunk.cpu()) for chunk in x.split(250)])
    return (elbo.argmax(1) == y.cpu()).float().mean().item()


def _fit_binary_abs(prof: Profile, seed: int, ckpt, device: torch.device):
    """gamma_y by line search on training accuracy of ABS with binarised inputs."""
    start = time.time()
    model = ABS(load_vaes(prof), inference_config(prof), binary=True).to(device)
    fit = fit_binary_gamma(model, prof, seed, device)
    history = [{"epoch": 1, "train_accuracy_gamma_1": fit["accuracy_gamma_1"],
                "train_accuracy_fitted": fit["accuracy_fitted"], "seconds": time.time() - start}]
    return {"gamma": torch.tensor(fit["gamma"])}, history, {"gamma": fit["gamma"]}


def fit_binary_gamma(model: ABS, prof: Profile, seed: int, device: torch.device) -> dict[str, Any]:
    """Binary ABS's class scalars fitted on `gamma_samples` seeded training images (its ELBOs with
    binarised inputs), with the training accuracy under gamma = 1, under the model's own gamma and
    under the fit."""
    cfg = prof.binary_abs
    x, y = training_data(prof, device)
    pick = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[: cfg.gamma_samples]
    elbos = predict(model.elbo, x[pick], prof.abs_batch_size, "binary ABS on training images")
    labels = y[pick].cpu()
    gamma = fit_gamma(elbos, labels, torch.linspace(cfg.gamma_min, cfg.gamma_max, cfg.gamma_steps))

    def accuracy(scalars: torch.Tensor) -> float:
        return ((elbos * scalars).argmax(1) == labels).float().mean().item()

    return {"gamma": gamma.tolist(), "samples": len(pick), "accuracy_gamma_1": accuracy(torch.ones(10)),
            "accuracy_own": accuracy(model.gamma.cpu()), "accuracy_fitted": accuracy(gamma)}


def _build_nearest(prof: Profile, seed: int, ckpt, device: torch.device):
    """Nothing to learn: the model is the verified training set itself."""
    start = time.time()
    net = build("nearest", prof)
    return net.state_dict(), [{"epoch": 1, "train_samples": len(net.train_x),
                               "seconds": time.time() - start}], {}


RECIPES = {
    "cnn": lambda p, s, c, d: _train_classifier(p, s, c, d, "cnn"),
    "binary_cnn": lambda p, s, c, d: _train_classifier(p, s, c, d, "binary_cnn"),
    "substitute": lambda p, s, c, d: _train_classifier(p, s, c, d, "substitute"),
    "nearest": _build_nearest,
    "madry": _train_madry,
    "abs": _train_abs,
    "binary_abs": _fit_binary_abs,
}


def main() -> None:
    parser = argparse.ArgumentParser(description="Train one model of the ABS book.")
    parser.add_argument("model", choices=TRAINED_MODELS)
    parser.add_argument("--profile", default="default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args()
    log = train(args.model, args.profile, args.seed, args.force)
    print(f"{args.model}: {log['wall_seconds']:.0f} s; last epoch {log['history'][-1]}")


if __name__ == "__main__":
    main()
