"""What the book says about a run: the profile, the hardware and the wall time of every step."""

from __future__ import annotations

import pandas as pd

from absnb import artifacts, profiles, runtime
from absnb.models import ALL_MODELS, DISPLAY_NAMES


def training_summary(log: dict) -> pd.DataFrame:
    """One model's training log as a table of its epochs."""
    return pd.DataFrame(log["history"]).round(4)


def training_description(log: dict) -> str:
    """Which model, seed, profile and hardware, and how long its training took (Markdown)."""
    name = DISPLAY_NAMES.get(log["model"], "Substitute CNN")
    extra = ""
    if "gamma" in log:
        extra = " Fitted γ per class: " + ", ".join(f"{g:.3f}" for g in log["gamma"]) + "."
    return (f"**{name}**, seed {log['seed']}. {run_description(log['profile'])} "
            f"Training took **{log['wall_seconds'] / 60:.1f} min**.{extra}")


def settings_table(log: dict) -> pd.DataFrame:
    """The profile settings a model was trained with, one row per setting (nested ones dotted)."""
    flat = pd.json_normalize(log["config"]).iloc[0]
    return pd.DataFrame({"value": flat.astype(str)}).rename_axis("setting")


def madry_robustness(score: dict) -> str:
    """Clean and PGD accuracy of our Madry et al., in one sentence (Markdown)."""
    return (f"Clean accuracy **{100 * score['accuracy']:.2f}%**; accuracy under PGD-{score['pgd_steps']} "
            f"(ε = {score['pgd_eps']}, step {score['pgd_step_size']}, random start) on the first "
            f"{score['pgd_samples']:,} test images: **{100 * score['pgd_accuracy']:.2f}%**.")


def run_summary(profile: str) -> pd.DataFrame:
    """Training and evaluation wall time per model, from the logs the run wrote."""
    rows = []
    for name in ALL_MODELS:
        log_file = artifacts.log_path(profile, name)
        clean_file = artifacts.results_path(profile, f"clean/{name}.json")
        train_s = artifacts.load_json(log_file)["wall_seconds"] if log_file.exists() else None
        eval_s = artifacts.load_json(clean_file)["seconds"] if clean_file.exists() else None
        rows.append({"model": DISPLAY_NAMES.get(name, "Substitute CNN"),
                     "training (min)": None if train_s is None else round(train_s / 60, 1),
                     "clean evaluation (min)": None if eval_s is None else round(eval_s / 60, 1)})
    return pd.DataFrame(rows)


def run_description(profile: str) -> str:
    """A sentence naming the profile, its meaning and the hardware of this run (Markdown)."""
    prof = profiles.load(profile)
    logs = [artifacts.log_path(profile, m) for m in ALL_MODELS]
    hw = next((artifacts.load_json(f)["hardware"] for f in logs if f.exists()), runtime.describe())
    return (f"Profile **{prof.name}** ({prof.description}); {prof.train_samples:,} training images, "
            f"{prof.eval_samples:,} test images. Run on {hw['hardware']} ({hw['device']}, "
            f"{hw['torch_threads']} torch threads), PyTorch {hw['torch']}, Python {hw['python']}.")
