"""What the book says about a run: the profile, the hardware and the wall time of every step."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pandas as pd

from absnb import artifacts, profiles, results, runtime
from absnb.attacks.registry import attack_names
from absnb.table1 import ACC_TOLERANCE, MEDIAN_FACTOR
from absnb.vocabulary import ALL_MODELS, DISPLAY_NAMES, PAPER_ORDER, Norm


def training_summary(log: dict) -> pd.DataFrame:
    """One model's training log as a table of its epochs."""
    return pd.DataFrame(log["history"]).round(4)


def training_description(log: dict, prof: profiles.Profile) -> str:
    """Which model, seed, profile and hardware, and how long its training took (Markdown). A model
    trained under a variant that `prof` has since adopted (same settings: `train.train` reuses it only
    then) says so: the variant's name is in its log, and the variant may no longer exist."""
    name = DISPLAY_NAMES.get(log["model"], "Substitute CNN")
    extra = ""
    if "gamma" in log:
        extra = " Fitted γ per class: " + ", ".join(f"{g:.3f}" for g in log["gamma"]) + "."
    if "kept_epoch" in log:
        kept = log["history"][log["kept_epoch"] - 1]
        robust, clean = 100 * kept["holdout_pgd_accuracy"], 100 * kept["holdout_accuracy"]
        extra = (f" Kept: the weights of epoch {log['kept_epoch']} of {len(log['history'])}, the best under "
                 f"PGD on the {log['holdout']:,} training images held out ({robust:.1f}% there, "
                 f"{clean:.1f}% clean).")
    if "holdout_accuracy" in log:
        last = log["history"][-1]["holdout_bank_accuracy"]
        extra = (f" On the {log['holdout']:,} training images held out of training, the full inference "
                 f"(bank start and Adam steps) classifies **{100 * log['holdout_accuracy']:.2f}%** "
                 f"correctly; the cheap one (best bank latent only), {100 * last:.2f}% after the last "
                 f"epoch.")
    if log["profile"] != prof.name:
        extra += f" Trained as the variant `{log['profile']}`, whose settings `{prof.name}` adopted."
    return (f"**{name}**, seed {log['seed']}. {run_description(prof)} "
            f"Training took **{log['wall_seconds'] / 60:.1f} min**.{extra}")


def settings_table(log: dict) -> pd.DataFrame:
    """The profile settings a model was trained with, one row per setting (nested ones dotted)."""
    flat = pd.json_normalize(log["config"]).iloc[0]
    return pd.DataFrame({"value": flat.astype(str)}).rename_axis("setting")


def _percent_interval(accuracy: float, n: int) -> str:
    """The 95% Wilson interval of an accuracy measured on `n` images, e.g. "(95% interval 86.3–90.1%)"."""
    low, high = results.wilson_interval(round(accuracy * n), n)
    return f"(95% interval {100 * low:.1f}–{100 * high:.1f}%)"


def madry_robustness(score: dict) -> str:
    """Clean and PGD accuracy of our Madry et al. beside the released model's, in Markdown."""
    text = (f"Clean accuracy **{100 * score['accuracy']:.2f}%**; accuracy under PGD-{score['pgd_steps']} "
            f"(ε = {score['pgd_eps']}, step {score['pgd_step_size']}, one random start) on the first "
            f"{score['pgd_samples']:,} test images: **{100 * score['pgd_accuracy']:.2f}%**")
    if "restarts_accuracy" in score:
        accuracy, n = score["restarts_accuracy"], score["restarts_samples"]
        text += (f"; under PGD-{score['restarts_steps']} from {score['restarts']} random starts (an image "
                 f"counts only if no start breaks it) on the first {n:,}: "
                 f"**{100 * accuracy:.2f}%** {_percent_interval(accuracy, n)}")
    return text + (". The released model of the MNIST challenge: 98.8% clean, 89.6% under PGD-100 from "
                   "50 random starts, 88.0% under the best attack of the challenge's leaderboard.")


def run_summary(profile: str) -> pd.DataFrame:
    """Training and evaluation wall time per model, from the logs the run wrote."""
    rows = []
    for name in ALL_MODELS:
        log_file = artifacts.log_path(profile, name)
        clean_file = artifacts.clean_path(profile, name)
        train_s = artifacts.load_json(log_file)["wall_seconds"] if log_file.exists() else None
        eval_s = artifacts.load_json(clean_file)["seconds"] if clean_file.exists() else None
        rows.append({"model": DISPLAY_NAMES.get(name, "Substitute CNN"),
                     "training (min)": None if train_s is None else round(train_s / 60, 1),
                     "clean evaluation (min)": None if eval_s is None else round(eval_s / 60, 1)})
    return pd.DataFrame(rows)


def run_description(prof: profiles.Profile) -> str:
    """A sentence naming the profile, its meaning and the hardware of this run (Markdown)."""
    logs = [artifacts.log_path(prof.name, m) for m in ALL_MODELS]
    hw = next((artifacts.load_json(f)["hardware"] for f in logs if f.exists()), runtime.describe())
    return (f"Profile **{prof.name}** ({prof.description}); {prof.train_samples:,} training images, "
            f"{prof.eval_samples:,} test images. Run on {hw['hardware']} ({hw['device']}, "
            f"{hw['torch_threads']} torch threads), PyTorch {hw['torch']}, Python {hw['python']}.")


def attack_budgets(prof: profiles.Profile, models: Sequence[str],
                   n_samples: int | None = None) -> pd.DataFrame:
    """The attack budget each model gets in this run, one column per model (settings as rows)."""
    columns = {}
    for name in models:
        budget = dataclasses.asdict(prof.budget(name))
        if n_samples is not None:
            budget["samples"] = n_samples
        columns[DISPLAY_NAMES[name]] = {k: ", ".join(map(str, v)) if isinstance(v, tuple) else v
                                        for k, v in budget.items()}
    return pd.DataFrame(columns).rename_axis("setting")


def attack_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Median distance / accuracy at ε per attack (rows, the two "All" rows last) and model (columns)."""
    summary = results.summarise(pd.concat([frame, results.both_all_rows(frame)], ignore_index=True))
    summary["cell"] = [f"{'∞' if m == float('inf') else f'{m:.3g}'} / {a:.0f}%" for m, a in
                       zip(summary["median_distance"], summary["accuracy_percent"], strict=True)]
    table = summary.pivot(index="attack", columns="model", values="cell")
    totals = [results.ALL_PAPER, results.ALL_ADAPTIVE]
    order = [a for a in dict.fromkeys(summary["attack"]) if a not in totals] + \
        [a for a in totals if a in set(summary["attack"])]
    models = [m for m in DISPLAY_NAMES if m in table.columns]
    return table.loc[order, models].rename(columns=DISPLAY_NAMES).fillna("")


def uncertainty_table(unc: pd.DataFrame, attack: str = results.ALL_PAPER) -> pd.DataFrame:
    """One kind of "All" row (`attack`) with 95% intervals, one column per model: per norm the sample
    count, "median [low, high]" and "accuracy% [low, high]", so a reader sees how much n allows."""
    unc = unc[unc["attack"] == attack]
    cells = {}
    for r in unc.itertuples():
        label = Norm(r.norm).label
        median, accuracy = results.interval_texts(r)
        cells[DISPLAY_NAMES[r.model]] = {**cells.get(DISPLAY_NAMES[r.model], {}), f"{label} n": str(r.n),
                                         f"{label} median": median, f"{label} accuracy": accuracy}
    models = [DISPLAY_NAMES[m] for m in DISPLAY_NAMES if DISPLAY_NAMES[m] in cells]
    table = pd.DataFrame(cells)[models]
    labels = [Norm(n).label for n in PAPER_ORDER]
    rows = [f"{label} {what}" for label in labels for what in ("n", "median", "accuracy")]
    return table.reindex([r for r in rows if r in table.index]).fillna("")


def attack_wins(frame: pd.DataFrame) -> pd.DataFrame:
    """Per model (columns), on how many samples each attack (rows) found the smallest adversarial:
    which attacks carry the "All" row. Ties go to the attack listed first."""
    best = results.all_attacks(frame, partial=True)
    wins = best.dropna(subset=["best_attack"]).groupby(["best_attack", "model"]).size()
    listed = [a for norm in dict.fromkeys(frame["norm"]) for a in attack_names(norm)]
    order = [a for a in dict.fromkeys(listed) if a in wins.index.get_level_values(0)]
    table = wins.unstack("model").reindex(index=order).fillna(0).astype(int)
    models = [m for m in DISPLAY_NAMES if m in table.columns]
    return table[models].rename(columns=DISPLAY_NAMES).rename_axis(index="best attack", columns=None)


def attack_contribution(frame: pd.DataFrame, attack: str) -> pd.DataFrame:
    """"All incl. adaptive" without and with one attack, per model it ran on (rows), with 95% intervals
    and the number of samples it improved; empty where it did not run."""
    table = results.contribution(frame, attack)
    if not len(table):
        return table
    rows = {}
    for r in table.itertuples():
        row = rows.setdefault((DISPLAY_NAMES[r.model], Norm(r.norm).label), {"n": r.n})
        row[f"median {r.attack}"], row[f"accuracy {r.attack}"] = results.interval_texts(r)
        if r.attack == "after":
            row["samples improved"] = r.improved
    columns = ["n", "median before", "median after", "accuracy before", "accuracy after", "samples improved"]
    return pd.DataFrame.from_dict(rows, orient="index")[columns].rename_axis(["model", "norm"])


def attack_costs(log: pd.DataFrame) -> pd.DataFrame:
    """Wall time, queries and rejected adversarials per model, plus queries per second (ABS models)."""
    costs = log.groupby("model", sort=False)[["seconds", "queries", "rejected"]].sum()
    costs["minutes"] = (costs.pop("seconds") / 60).round(1)
    abs_rows = log[log["queries"] > 0].groupby("model", sort=False)[["queries", "seconds"]].sum()
    costs["ABS queries / s"] = (abs_rows["queries"] / abs_rows["seconds"]).round(1)
    costs.loc[costs["queries"] == 0, "queries"] = pd.NA
    return costs.rename(index=DISPLAY_NAMES)


def sample_counts(frame: pd.DataFrame) -> str:
    """Which models were attacked on how many test samples, and which attacks ran on fewer of them (the
    costly ones on the ABS models): a cell of such an attack, and its model's "All" row over the paper's
    attacks, stand on those samples only (Markdown)."""
    counts = frame.groupby("model")["sample"].nunique()
    groups: dict[int, list[str]] = {}
    for model, n in counts.items():
        groups.setdefault(int(n), []).append(DISPLAY_NAMES[model])
    parts = [f"{', '.join(names)}: **{n}**" for n, names in sorted(groups.items(), reverse=True)]
    text = ("Test samples attacked per model (the first of one seeded selection, so the smaller sets "
            "are contained in the larger): " + "; ".join(parts) + ".")
    per_attack = frame.groupby(["model", "attack"])["sample"].nunique()
    fewer: dict[tuple, list[str]] = {}
    for model in [m for m in DISPLAY_NAMES if m in counts.index]:
        ran = per_attack[model]
        short = tuple(sorted((a, int(n)) for a, n in ran.items() if n < counts[model]))
        if short:
            fewer.setdefault(short, []).append(DISPLAY_NAMES[model])
    for short, models in fewer.items():
        by_n: dict[int, list[str]] = {}
        for attack, n in short:
            by_n.setdefault(n, []).append(attack)
        runs = "; ".join(f"{', '.join(attacks)} on the first **{n}**" for n, attacks in sorted(by_n.items()))
        text += (f" On {', '.join(models)}: {runs} — their cells, and these models' \"All\" rows over the "
                 "paper's attacks, stand on those samples only.")
    return text


def table1_notes(comparison: pd.DataFrame, top: int = 8) -> str:
    """The tolerance behind the shading, and the cells furthest from the paper (Markdown)."""
    cells = comparison.dropna(subset=["accuracy_percent", "accuracy_percent_paper"])
    cells = cells.assign(gap=(cells["accuracy_percent"] - cells["accuracy_percent_paper"]))
    worst = cells.reindex(cells["gap"].abs().sort_values(ascending=False).index).head(top)
    lines = [f"Tolerance: a cell is shaded when the accuracies differ by more than {ACC_TOLERANCE:g} "
             f"points or the medians by more than a factor {MEDIAN_FACTOR:g}. "
             f"{int(comparison['differs'].sum())} of {len(cells)} comparable cells are shaded.",
             "", "Largest accuracy gaps (ours − paper):", ""]
    lines += [f"- {r.norm} · {r.attack} · {r.model}: {r.accuracy_percent:.0f}% vs "
              f"{r.accuracy_percent_paper:.0f}% ({r.gap:+.0f} points)" for r in worst.itertuples()]
    return "\n".join(lines)
