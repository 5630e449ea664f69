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
# # Clean accuracy
#
# Every model of the paper scored on the MNIST test set (the first `eval_samples` images of the
# official test split; all 10,000 in the `default` and `paper` profiles), beside the accuracy the
# paper reports (Table 1, first row). The two "released" rows are the authors' own ABS weights in our
# inference (see the page on the released model), compared with the paper's ABS rows. For the ABS
# models, "bank only" is the accuracy of the search's start alone (the best of the bank's latents per
# class, no Adam steps): the proxy the ABS training curve reports. Scores are cached per model in
# `artifacts/<profile>/results/clean/`; `absnb.evaluate.clean_table` gathers them.

# %% tags=["parameters", "remove-cell"]
profile = "default"
envelope_images = 8  # test images of the envelope-gradient check

# %%
from IPython.display import Markdown, display

from absnb import evaluate, plots, profiles, report

prof = profiles.load(profile)
table = evaluate.clean_table(profile)
display(Markdown(report.run_description(prof)))
table.style.hide(axis="index").format(precision=2, na_rep="–")

# %%
fig = plots.clean_accuracy_chart(table)
fig

# %% [markdown]
# Binary ABS (released) uses the authors' class scalars γ. Beside them, our own recipe for γ (the line
# search on training accuracy that fits our Binary ABS, `absnb.train.fit_binary_gamma`) run on the
# released VAEs, on the same seeded training images; the released-model page shows both.

# %%
released_fit = evaluate.released_gamma(profile)
display(Markdown(f"γ fitted on {released_fit['samples']:,} training images in "
                 f"{released_fit['seconds'] / 60:.1f} min."))

# %% [markdown]
# ## How robust is our copy of Madry et al.?
#
# The network of Madry et al. is only as good as its adversarial training, which our profiles
# shorten. Its accuracy under the L∞ PGD attack it was trained against (ε = 0.3, random start)
# tells the reader how close our copy is to the authors' (about 89–93% at ε = 0.3).

# %%
display(Markdown(report.madry_robustness(evaluate.score_model("madry", profile))))

# %% [markdown]
# ## The gradient the attacks use on ABS
#
# ABS has no gradient in the usual sense: its logits are maxima over latents found by a search. By
# the envelope (Danskin) theorem, the gradient of l_y(x) = max_z −(‖x − D_y(z)‖² + ½‖z‖²)/784 is
# −2(x − D_y(z*))/784 at the optimum z* the search returns — one query instead of the ~1,600 of a
# coordinate-wise estimate (`ABS.elbo`; Binary ABS passes it straight through its binarisation).
# It is exact only at the true optimum, and 50 Adam steps reach it approximately, so here it is
# checked against central differences (h = 0.01) of the full inference, re-run on every perturbed
# image, along random unit directions, on the first test images, for all ten classes
# (`absnb.models.envelope.envelope_check`). Where the two disagree, the search had not converged for
# that class (or jumped to another optimum on the perturbed image): the medians and the rank
# correlation describe the typical agreement; the Pearson correlation is sensitive to those few.

# %%
from absnb import data, models
from absnb.models.envelope import envelope_check, envelope_summary

slopes = envelope_check(models.load("abs", prof), data.load_split("test")[0][:envelope_images])
display(envelope_summary(slopes).to_frame().style.format(precision=3))
plots.envelope_scatter(slopes)

# %% [markdown]
# ## Wall time of this run

# %%
report.run_summary(profile).style.hide(axis="index").format(precision=1, na_rep="–")
