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
# # Attacks
#
# Every attack of one norm (Table 1's rows, plus the paper's Latent Descent on the ABS models) against
# every model, on the same test samples: the first `samples` of a seeded permutation of the test set.
# Each attack yields a per-sample *minimal* adversarial distance: attacks that take a fixed ε are
# searched over ε (a geometric grid refined by bisection), the minimisation attacks return their
# smallest adversarial, the transfer attacks line-search along the substitute's directions. Every
# adversarial is re-run through the model, must be misclassified and lie in [0, 1], and its distance
# is recomputed from the images; refused ones count as failures and are counted below. Samples the
# model already misclassifies count as distance 0; samples no attack breaks count as ∞.
#
# Beyond the paper, the adaptive minimal-norm attacks of foolbox 3 (DDN and FMN for L2, FMN for L∞
# and L0, Brendel–Bethge for all three) run against all six models with the best gradient each has:
# autograd, straight-through for the binarising models, the exact envelope gradient for the ABS models
# (one query per step); Flip Search (below) against the binarising models. The Boundary and Pointwise
# attacks start from the best adversarial of the paper's attacks that ran before them, Brendel–Bethge
# from the best of all but Flip Search; each keeps its start where it does not improve on it.
#
# The code is `absnb.attacks.plan.run`: the run is a plan of independent tasks (one attack on one
# batch of one model's samples), each stored under `artifacts/<profile>/results/attacks/<norm>/` as
# soon as it is done, so a rerun reuses them and an interrupted run resumes. The plan runs on a Dask
# cluster: by default a local one with one worker process per core (`ABSNB_WORKERS` overrides), each
# with one torch thread; `scheduler` (or `ABSNB_SCHEDULER`) names an existing cluster instead.

# %% tags=["parameters", "remove-cell"]
norm = "l2"
profile = "default"
models = None  # None for all six, or e.g. "cnn, abs"
attacks = None  # None for every attack of the norm, or e.g. "FGM, Boundary Attack"
n_samples = None  # None: the profile's per-model sample counts
seed = 0
force = False
scheduler = None  # None: a local Dask cluster; or the address of one, e.g. "tcp://host:8786"

# %%
from IPython.display import Markdown, display

from absnb import flip_figure, report
from absnb.attacks import plan, selection, store

request = selection.parse_request(profile, norm, selection.parse_names(models),
                                  selection.parse_names(attacks))
display(Markdown(f"**Norm {request.norm.label}**, threshold ε = {request.norm.epsilon:g}. "
                 f"{report.run_description(request.profile)}"))
report.attack_budgets(request.profile, request.models, n_samples)

# %% [markdown]
# The budgets above come from the profile (`absnb/profiles.toml`, `attacks` and `attack_overrides`).
# `samples` test images are attacked per model; the ABS models, whose every query runs a latent
# optimisation of all ten classes, get fewer on a CPU. They are the first samples of the same
# selection, so every model is attacked on the ABS models' samples too.

# %%
frame = plan.run(request, n_samples, seed, force, scheduler=scheduler)

# %% [markdown]
# ## Median adversarial distance / accuracy at ε
#
# Per attack and model: the median of the per-sample minimal distances and the accuracy when every
# perturbation up to ε is allowed. "All" is, per sample, the best of the norm's paper attacks (as in
# the paper's Table 1); "All incl. adaptive" the best of every attack.

# %%
report.attack_summary(frame)

# %% [markdown]
# ## Which attack found the smallest adversarial
#
# Per model, the number of samples on which each attack gave the "All incl. adaptive" row its distance
# (samples the model misclassifies clean, or that no attack broke, have no winner).

# %%
report.attack_wins(frame)

# %% [markdown]
# ## Flip Search on one digit
#
# A binarising model sees only which pixels lie above 0.5, so Flip Search (beyond the paper, against
# the binarising models only) searches over the set of pixels to move across the threshold, guided by
# the exact gradient of the model behind the binarisation, and moves each just across it
# (`absnb.attacks.flip_search`). Below, the sample at its median distance on the first binarising model
# it ran against: red pixels turned on, blue turned off.

# %%
shown = flip_figure.example(request.profile.name, request.norm, frame)
display(Markdown("No Flip Search result in this run: it attacks the binarising models only.")
        if shown is None else flip_figure.figure(*shown))

# %% [markdown]
# What Flip Search adds to the strongest evaluation: per binarising model, "All incl. adaptive" without
# it (before) and with it (after), medians with 95% bootstrap intervals, accuracies at ε with Wilson
# intervals, and the samples on which it found a strictly smaller adversarial than every other attack
# (`absnb.results.contribution`).

# %%
report.attack_contribution(frame, "Flip Search")

# %% [markdown]
# ## Cost of this run
#
# Wall time per model (all attacks of this norm, as stored; a rerun that reuses stored results
# does not add to it), model queries for the ABS models and adversarials refused by the checks.

# %%
report.attack_costs(store.run_log(request.profile.name, request.norm))
