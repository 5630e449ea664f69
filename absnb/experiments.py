"""ABS training experiments: ABS retrained under each training variant of profiles.toml ([variants]),
Binary ABS's scalars refitted on it, both scored on the test set. A recipe is chosen on the training
images held out of training (full inference), never on the test set; the test scores of every
experiment are reported. Each experiment is the profile `<profile>+<variant>` with its own artifacts.

    python -m absnb.experiments default kl1     # train, fit and score one experiment (resumable)
"""

from __future__ import annotations

import argparse

import pandas as pd
from matplotlib.figure import Figure

from absnb import artifacts, evaluate, profiles, train


def run(profile: str, variant: str) -> dict:
    """Train ABS and fit Binary ABS under `<profile>+<variant>` and score both on the test set."""
    name = f"{profile}+{variant}"
    profiles.load(name)  # an unknown variant fails before any work
    train.train("abs", name)
    train.train("binary_abs", name)
    return {m: evaluate.score_model(m, name)["accuracy"] for m in ("abs", "binary_abs")}


def finished(profile: str) -> list[str]:
    """The profile itself and those of its experiments whose ABS training is stored, in file order."""
    names = [profile, *(f"{profile}+{v}" for v in profiles.variants())]
    return [n for n in names if artifacts.log_path(n, "abs").exists()]


def table(profile: str) -> pd.DataFrame:
    """One row per finished experiment (and the profile's own recipe): what it changes, the ABS
    training time, the held-out accuracy (bank only after the last epoch; full inference), and the
    test accuracy of ABS and Binary ABS where scored. `chosen` marks the best held-out full inference."""
    rows = []
    for name in finished(profile):
        log = artifacts.load_json(artifacts.log_path(name, "abs"))
        variant = name.partition("+")[2]
        rows.append({"recipe": variant or f"{profile} (as configured)",
                     "changes": _changes(profile, variant),
                     "ABS training (min)": round(log["wall_seconds"] / 60, 1),
                     "held-out, bank only (%)": 100 * log["history"][-1]["holdout_bank_accuracy"],
                     "held-out, full (%)": 100 * log["holdout_accuracy"],
                     "held-out images": log["holdout"],
                     "test ABS (%)": _test(name, "abs"), "test Binary ABS (%)": _test(name, "binary_abs")})
    frame = pd.DataFrame(rows)
    if len(frame):
        frame["chosen"] = frame["held-out, full (%)"] == frame["held-out, full (%)"].max()
    return frame.round(2)


def _changes(profile: str, variant: str) -> str:
    if not variant:
        return "–"
    changes = profiles.variants()[variant]
    return "; ".join(f"{section}.{k} = {v}" for section, values in changes.items() if isinstance(values, dict)
                     for k, v in values.items())


def _test(name: str, model: str) -> float | None:
    """The stored test accuracy (%) if it was scored with the stored weights and today's settings."""
    path = artifacts.clean_path(name, model)
    if not path.exists() or not artifacts.weights_path(name, model).exists():
        return None
    stored = artifacts.load_json(path)
    return 100 * stored["accuracy"] if evaluate.is_fresh(stored, evaluate.score_key(name, model)) else None


def curves(profile: str) -> Figure:
    """Held-out accuracy of the cheap inference after every epoch, one line per experiment; the full
    inference at the end as a marker."""
    fig = Figure(figsize=(6.5, 3.4), layout="constrained")
    ax = fig.add_subplot()
    for k, name in enumerate(finished(profile)):
        log = artifacts.load_json(artifacts.log_path(name, "abs"))
        history = pd.DataFrame(log["history"])
        label = name.partition("+")[2] or f"{profile} (as configured)"
        ax.plot(history["epoch"], 100 * history["holdout_bank_accuracy"], color=f"C{k}", label=label)
        ax.plot(history["epoch"].iloc[-1], 100 * log["holdout_accuracy"], "o", color=f"C{k}")
    ax.set(xlabel="epoch", ylabel="held-out accuracy (%)",
           title="bank only per epoch (lines); full inference at the end (dots)")
    ax.legend(frameon=False, fontsize=8)
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description="Train and score one ABS training experiment.")
    parser.add_argument("profile")
    parser.add_argument("variant", choices=list(profiles.variants()))
    args = parser.parse_args()
    print(run(args.profile, args.variant))


if __name__ == "__main__":
    main()
