# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Appendix: reproducing this book
#
# Everything needed to rerun what this book shows, and to rerun it at the paper's scale.

# %% tags=["parameters", "remove-cell"]
profile = "default"

# %%
from IPython.display import Markdown, display

from absnb import profiles, provenance, report

prof = profiles.load(profile)
display(Markdown(report.run_description(prof) + f"\n\nCode: git commit `{provenance.git_commit()}`."))

# %% [markdown]
# ## Seeds
#
# Training uses seed 0 per model (each model draws from its own stream derived from it, so
# retraining one model does not change another); the attacked test samples are the first of a
# permutation of the test set seeded with 0 (its first ten are one per digit); every attack seeds
# torch with 0 before each batch, so the random ones (Gaussian noise, Salt&Pepper, Boundary,
# Pointwise) repeat exactly.

# %% [markdown]
# ## The profile's settings
#
# All settings live in `absnb/profiles.toml`; the training pages list each model's, and the
# attack budgets per model are:

# %%
report.attack_budgets(prof, ["cnn", *prof.attack_overrides])

# %% [markdown]
# and those of the `paper` profile, for a GPU (the paper's scale and foolbox's default budgets):

# %%
paper = profiles.load("paper")
report.attack_budgets(paper, ["cnn", *paper.attack_overrides])

# %% [markdown]
# ## Package versions
#
# Every package is pinned in `requirements.lock` (`environment.yml` installs the same file). The
# versions that matter most for the numbers:

# %%
provenance.package_versions().style.hide(axis="index")

# %% [markdown]
# ## Wall time per notebook
#
# As papermill recorded it for this build (a rerun that reuses stored results is faster than the
# first run; the attack pages give the stored compute time per model).

# %%
provenance.notebook_times(profile).style.hide(axis="index").format(precision=1, na_rep="running")

# %% [markdown]
# ## Compute behind the stored results
#
# Each result records the time it took when it was computed (training logs, clean scores, attack
# results, distal searches), so this table keeps its value when a rebuild reuses them. Hardware and
# threads are those named at the top of this page.

# %%
provenance.compute_times(profile).style.hide(axis="index").format(precision=1)

# %% [markdown]
# ## Rerunning
#
# ```bash
# make book                   # the default profile: train, evaluate, attack, build (CPU, hours)
# make book PROFILE=paper     # the paper's scale: meant for a GPU machine
# make test                   # unit tests and the smoke profile end to end
# papermill notebooks/03_attacks.ipynb out.ipynb -p norm l0 -p profile default
# ```
#
# Artifacts go to `artifacts/<profile>/` (override with `ARTIFACTS=`); every step reuses what is
# there and resumes after an interruption. The `paper` profile trains Madry et al. for 100,000 steps
# of PGD-40 and the ABS VAEs for 100 epochs (KL weight annealed over 50), and attacks 1,000 samples
# (200 for the ABS models) with foolbox's default budgets; see `absnb/profiles.toml`.
