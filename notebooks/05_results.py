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
# # Results: Table 1, Figures 2 and 3
#
# The paper's results, regenerated from the per-sample attack results that the attack pages stored.
# Nothing here runs an attack: `absnb.table1` and `absnb.figures` only read
# `artifacts/<profile>/results/`.

# %% tags=["parameters", "remove-cell"]
profile = "default"

# %%
from IPython.display import Markdown, display
from myst_nb import glue

from absnb import claims, data, figures, profiles, report, results, table1

prof = profiles.load(profile)  # an unknown profile fails here, naming the valid ones
frame = table1.load_results(profile)
best = results.both_all_rows(frame)
comparison = table1.comparison(profile, frame)
display(Markdown(report.run_description(prof) + " " + report.sample_counts(frame)))

# %% [markdown]
# ## Table 1
#
# Each cell: median adversarial distance over the attacked samples / accuracy when perturbations up
# to ε are allowed (L2 1.5, L∞ 0.3, L0 12 pixels); below it, in grey, the paper's value. Clean
# accuracy is on the full test set. Shaded cells differ from the paper by more than the tolerance
# stated under the table. Empty cells are attacks that do not apply to a model (real gradients for
# Nearest Neighbour and the ABS models; Latent Descent for the others). "All ... Attacks" rows, in
# bold, take per sample the best of the norm's *paper* attacks, so they compare with the paper's.
#
# Below each norm's paper rows, **beyond the paper**: the adaptive minimal-norm attacks (DDN, FMN,
# Brendel–Bethge, foolbox 3) with the best gradient each model has (autograd; straight-through for the
# binarising models; the exact envelope gradient for the ABS models, see the attacks chapter), Flip
# Search on the binarising models (a search over which pixels cross the threshold), and
# "All ... incl. adaptive", the best of every attack. A cell marked † is an iterative "w/ GE" attack
# that ran one step, because a coordinate-wise gradient of that model costs ~1,000 queries: it equals
# its one-step counterpart (L2 BIM = FGM, BIM and MIM = FGSM) and is not a separate result.

# %%
table1.styled(comparison)

# %%
display(Markdown(report.table1_notes(comparison)))

# %% [markdown]
# ### How far the sample counts let the "All" rows be trusted
#
# The medians and accuracies above come from a few dozen samples (fewer for the ABS models). Below,
# for each "All" row: the median with a 95% bootstrap interval, and the accuracy at ε with a 95%
# Wilson interval (`absnb.results.uncertainty`). A difference from the paper inside these intervals
# is not evidence of anything.

# %%
intervals = results.uncertainty(best)
report.uncertainty_table(intervals)

# %% [markdown]
# The same for the "All incl. adaptive" rows, the strongest evaluation of this run:

# %%
report.uncertainty_table(intervals, results.ALL_ADAPTIVE)

# %% [markdown]
# ## Figure 2: accuracy against perturbation size
#
# For every ε on the horizontal axis, the fraction of attacked samples whose minimal adversarial
# distance exceeds ε: solid over every attack of the norm (adaptive ones included), dotted over the
# paper's attacks only; a dot marks the threshold of Table 1. The paper's curves are dashed behind
# ours, in the same colour.

# %%
figures.figure2(best, figures.paper_curves())

# %% [markdown]
# ## Figure 3: the smallest L2 adversarials
#
# One test image per digit (the first of each class among the attacked samples) and, per model, the
# smallest L2 adversarial any attack found, titled with the predicted class and its L2 distance.
# Where a profile attacks the ABS models on fewer samples than there are digits, their remaining
# cells read "not attacked". The paper's claim to look for: the ABS models' adversarials look like the class
# they are assigned to, the others' like the original digit plus noise.

# %%
images, _ = data.load_split("test")
figures.figure3(profile, best, images)

# %% [markdown]
# ## The paper's claims, checked
#
# Section 6 of the paper draws conclusions from Table 1. Each is written as a test of a Table 1
# (`absnb.claims`), run on the paper's numbers (where every one holds), on ours with the paper's
# attacks, and on ours with the adaptive attacks too (their "All incl. adaptive" rows standing in for
# "All"): the last column says which conclusions survive stronger attacks.

# %%
checked = claims.check(comparison)
claims_table = claims.styled(checked)
claims_table

# %%
# Numbers the discussion chapter quotes (myst-nb glue), all from this run's stored results.
glue("claims", claims_table, display=False)
glue("n_claims_held", claims.held(checked, "holds here"), display=False)
strongest = "holds incl. adaptive" if "holds incl. adaptive" in checked else "holds here"
glue("n_claims_held_adaptive", claims.held(checked, strongest), display=False)
glue("n_claims", len(checked), display=False)
glue("n_differ", int(comparison["differs"].sum()), display=False)
glue("n_cells", int(comparison["accuracy_percent_paper"].notna().sum()), display=False)
glue("headline", table1.headline_table(comparison), display=False)
