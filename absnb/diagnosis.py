"""Where our ABS loses accuracy against the released one: both models' per-image inference records
(`evaluate.image_records`) on the same test images, compared by confusion, margin, bank start and the
two parts of the ELBO (reconstruction error and prior term), per class. Shown on ABS's training page.
"""

from __future__ import annotations

import pandas as pd
import torch
from IPython.display import Markdown
from matplotlib.figure import Figure

from absnb import experiments
from absnb.evaluate import image_records
from absnb.models.abs import N_PIXELS
from absnb.vocabulary import DISPLAY_NAMES

PAIRS = {"abs": "abs_released"}  # a trained model and the released one it is diagnosed against


def load(profile: str, ours: str = "abs") -> dict[str, dict[str, torch.Tensor]]:
    """The records of `ours` and of its released counterpart, by display name (computed if missing)."""
    names = (ours, PAIRS[ours])
    records = {DISPLAY_NAMES[n]: image_records(n, profile) for n in names}
    first, second = records.values()
    if not torch.equal(first["labels"], second["labels"]):
        raise ValueError("the two models' records are on different test images")
    return records


def _logits(rec: dict[str, torch.Tensor], stage: str = "elbo") -> torch.Tensor:
    """γ·l on the loss scale (summed over pixels): `elbo` after the Adam steps, `bank_elbo` before."""
    return rec[stage] * rec["gamma"] * N_PIXELS


def margins(rec: dict[str, torch.Tensor]) -> torch.Tensor:
    """True-class logit minus the best wrong one per image (loss units; negative = misclassified)."""
    logits = _logits(rec)
    true = logits.gather(1, rec["labels"][:, None])[:, 0]
    wrong = logits.scatter(1, rec["labels"][:, None], float("-inf")).amax(1)
    return true - wrong


def summary(records: dict[str, dict[str, torch.Tensor]]) -> pd.DataFrame:
    """Per model: errors, and what the 50 Adam steps do to the answer of the bank start."""
    rows = []
    for name, rec in records.items():
        y = rec["labels"]
        bank = _logits(rec, "bank_elbo").argmax(1) == y
        final = _logits(rec).argmax(1) == y
        rows.append({"model": name, "images": len(y), "errors": int((~final).sum()),
                     "accuracy (%)": round(100 * final.float().mean().item(), 2),
                     "bank-start errors": int((~bank).sum()),
                     "fixed by the steps": int((~bank & final).sum()),
                     "broken by the steps": int((bank & ~final).sum()),
                     "wrong either way": int((~bank & ~final).sum())})
    return pd.DataFrame(rows)


def shared_errors(records: dict[str, dict[str, torch.Tensor]]) -> int:
    """Test images that every model gets wrong."""
    wrong = [_logits(r).argmax(1) != r["labels"] for r in records.values()]
    return int(torch.stack(wrong).all(0).sum())


def confusions(records: dict[str, dict[str, torch.Tensor]], top: int = 8) -> pd.DataFrame:
    """The most frequent (true → predicted) errors of any model, with every model's count."""
    counts = {}
    for name, rec in records.items():
        pred = _logits(rec).argmax(1)
        wrong = pred != rec["labels"]
        pairs = pd.Series(list(zip(rec["labels"][wrong].tolist(), pred[wrong].tolist())), dtype=object)
        counts[name] = pairs.value_counts()
    table = pd.DataFrame(counts).fillna(0).astype(int)
    table = table.loc[table.max(axis=1).sort_values(ascending=False, kind="stable").index[:top]]
    table.index = [f"{t} → {p}" for t, p in table.index]
    return table.rename_axis("true → predicted").reset_index()


def per_class(records: dict[str, dict[str, torch.Tensor]]) -> pd.DataFrame:
    """Per true class and model: errors, median margin, the true class's reconstruction error and
    prior term ||z*||²/2 at the latent found, and the reconstruction error of the best wrong class
    (means; loss units, summed over pixels): a small margin from a poor fit of the right class or from
    a good fit of a wrong one."""
    rows = []
    for name, rec in records.items():
        y, margin = rec["labels"], margins(rec)
        index = torch.arange(len(y))
        recon = -rec["elbo"] * N_PIXELS - rec["kl"]
        wrong = _logits(rec).scatter(1, y[:, None], float("-inf")).argmax(1)
        for c in range(10):
            m = y == c
            rows.append({"class": c, "model": name, "errors": int((margin[m] < 0).sum()),
                         "median margin": margin[m].median().item(),
                         "reconstruction error": recon[index, y][m].mean().item(),
                         "prior term": rec["kl"][index, y][m].mean().item(),
                         "best wrong class's reconstruction error": recon[index, wrong][m].mean().item()})
    table = pd.DataFrame(rows).pivot(index="class", columns="model")
    return table.round(2)


def figure(records: dict[str, dict[str, torch.Tensor]]) -> Figure:
    """Left: the lower tail of the margins (share of test images whose margin is below m; at 0, the
    error rate). Middle: per class, the mean reconstruction error of the true class at the latent
    found. Right: each model's errors as a true × predicted count matrix, on one colour scale."""
    fig = Figure(figsize=(14, 3.8), layout="constrained")
    grid = fig.add_gridspec(1, 2 + len(records), width_ratios=[1.3, 1.5] + [1] * len(records))
    tail, parts = fig.add_subplot(grid[0]), fig.add_subplot(grid[1])
    width = 0.8 / len(records)
    for k, (name, rec) in enumerate(records.items()):
        margin = margins(rec).sort().values
        share = 100 * torch.arange(1, len(margin) + 1) / len(margin)
        tail.step(margin.numpy(), share.numpy(), where="post", color=f"C{k}", label=name)
        recon = (-rec["elbo"] * N_PIXELS - rec["kl"])[torch.arange(len(margin)), rec["labels"]]
        means = [recon[rec["labels"] == c].mean().item() for c in range(10)]
        parts.bar([c + (k - (len(records) - 1) / 2) * width for c in range(10)], means, width,
                  color=f"C{k}", label=name)
    tail.axvline(0, color="k", lw=0.8)
    tail.set(xlim=(-15, 10), ylim=(0, 6), xlabel="margin m (loss units)", ylabel="% of test images below m",
             title="true-class logit minus best wrong one")
    tail.legend(frameon=False, fontsize=8)
    parts.set(xticks=range(10), xlabel="true class", ylabel="mean squared error (sum over pixels)",
              title="reconstruction error of the true class")
    matrices = {name: _errors(rec) for name, rec in records.items()}
    top = max(max(int(m.max()) for m in matrices.values()), 1)  # one colour scale for all
    for k, (name, matrix) in enumerate(matrices.items()):
        ax = fig.add_subplot(grid[k + 2])
        ax.imshow(matrix.numpy(), cmap="Reds", vmin=0, vmax=top)
        for (t, p), n in zip(matrix.nonzero().tolist(), matrix[matrix > 0].tolist()):
            ax.text(p, t, n, ha="center", va="center", fontsize=6, color="w" if n > top / 2 else "k")
        ax.set(xticks=range(10), yticks=range(10), xlabel="predicted", ylabel="true",
               title=f"{name}: {int(matrix.sum())} errors")
        ax.tick_params(labelsize=7)
    return fig


def _errors(rec: dict[str, torch.Tensor]) -> torch.Tensor:
    """Error counts, true class × predicted class (the diagonal, the right answers, zeroed)."""
    matrix = torch.zeros(10, 10, dtype=torch.long)
    pred = _logits(rec).argmax(1)
    matrix.index_put_((rec["labels"], pred), torch.ones_like(pred), accumulate=True)
    return matrix.fill_diagonal_(0)


def description(records: dict[str, dict[str, torch.Tensor]]) -> str:
    """The comparison in words, every number computed from the records."""
    (ours, a), (theirs, b) = records.items()
    rows = summary(records).set_index("model")
    parts = per_class(records)
    excess = (parts["errors"][ours] - parts["errors"][theirs]).sort_values(ascending=False)
    worse = ", ".join(f"{c} ({parts['errors'][ours][c]} vs {parts['errors'][theirs][c]})"
                      for c in excess.index[:3] if excess[c] > 0) or "none"

    def fewer(column: str) -> int:
        return int((parts[column][ours] < parts[column][theirs]).sum())

    return (
        f"**{ours} against {theirs}, same inference, same {rows['images'][ours]:,} test images.** "
        f"{ours} makes {rows['errors'][ours]} errors, {theirs} {rows['errors'][theirs]}; "
        f"{shared_errors(records)} images are wrong for both. From the bank start alone the errors are "
        f"{rows['bank-start errors'][ours]} and {rows['bank-start errors'][theirs]}; the Adam steps fix "
        f"{rows['fixed by the steps'][ours]} and {rows['fixed by the steps'][theirs]} of them and break "
        f"{rows['broken by the steps'][ours]} and {rows['broken by the steps'][theirs]} right answers. "
        f"The classes where {ours} errs most beyond {theirs} (true class: errors of each): {worse}. "
        f"Per class, {ours} has the smaller median margin in {fewer('median margin')} of 10 classes, "
        f"the smaller mean reconstruction error of the true class in {fewer('reconstruction error')} "
        f"and the smaller mean prior term in {fewer('prior term')}. "
        "Margins, reconstruction errors and prior terms are on the loss scale (summed over the 784 "
        "pixels): the ELBO is −(reconstruction error + prior term) / 784.")


def page(model: str, profile: str) -> list:
    """What ABS's training page shows about the model against the released one (nothing for the other
    models): the comparison in words, the counts, the frequent confusions, the per-class parts and the
    figure; then the training experiments, if any has finished."""
    if model not in PAIRS:
        return []
    records = load(profile, model)
    items = [Markdown("## Against the released model\n\n" + description(records)),
             summary(records).style.hide(axis="index"),
             confusions(records).style.hide(axis="index"),
             per_class(records).style.format(precision=2),
             figure(records)]
    runs = experiments.table(profile)
    if len(runs) > 1:
        items += [Markdown(EXPERIMENTS), runs.style.hide(axis="index").format(precision=2, na_rep="–"),
                  experiments.curves(profile)]
    return items


EXPERIMENTS = """## Training experiments

The same ABS trained under other recipes (`[variants]` in `absnb/profiles.toml`, run with
`python -m absnb.experiments <profile> <variant>`), everything else equal. The recipe is chosen on the
training images held out of training (full inference); the test accuracies of all are shown, Binary
ABS with its scalars refitted on each. The first row is the profile's recipe as it is now; each variant
names the settings it changes, its KL schedule included, so it stays the experiment it was."""
