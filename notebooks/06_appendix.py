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

from absnb import profiles, projection, provenance, report

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
# ## Wall time of the run's stages
#
# A run kept in the repository (`reference/default/`) was computed in stages, each a script run from
# one commit on the hardware above (`absnb.provenance.stage_times`, from the run's `provenance/`).
# Left out: steps that only found their results stored, and work whose results the run no longer
# holds (replaced training recipes); a stage interrupted and resumed has a row per invocation, the
# interrupted part not counted. Work done before the stage scripts recorded their times (the
# released models' clean scores, the substitute) is only in the table of stored compute above.
# `reference/default/README.md` says what each stage holds.

# %%
stages = provenance.stage_times(profile)
if stages.empty:
    display(Markdown("*This run was not kept in stages: the notebook times above are its wall time.*"))
else:
    display(stages.style.hide(axis="index").format(precision=1))
    display(Markdown(f"In all: **{stages['minutes'].sum() / 60:.1f} h** of wall time in the stages listed."))

# %% [markdown]
# ## The `paper` profile, planned
#
# What the paper's scale would cost on the hardware above, projected from the stored results of this
# run (`absnb.projection.project`): each measured time is scaled by the ratio of the paper's work to
# this run's in the settings that set it (epochs × images for training; samples × iterations for an
# attack, e.g. Boundary steps or Brendel-Bethge iterations). The model is linear and ignores fixed
# costs, and it holds only when an ABS query costs the same in both profiles (the default profile
# runs the paper's ABS inference). These are CPU hours with the torch threads named at the top; on
# a cluster the attack tasks are independent, so *n* workers divide the attack hours by up to *n*
# (see the README, "Running the attacks on a cluster"). No GPU time is projected: that needs this
# run's per-query costs measured on a GPU (`make bench` there).

# %%
if projection.same_query_cost(prof, paper):
    display(projection.project(profile).style.hide(axis="index").format(precision=1))
else:
    display(Markdown(f"*Profile {profile} runs ABS inference with other settings than the paper, so "
                     "its times do not project; the default profile's do.*"))

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
