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
# paper reports (Table 1, first row). Scores are cached per model in
# `artifacts/<profile>/results/clean/`; `absnb.evaluate.clean_table` gathers them.

# %% tags=["parameters", "remove-cell"]
profile = "default"

# %%
from IPython.display import Markdown, display

from absnb import evaluate, plots, profiles, report

prof = profiles.load(profile)
table = evaluate.clean_table(profile)
display(Markdown(report.run_description(profile)))
table.style.hide(axis="index").format(precision=2)

# %%
fig = plots.clean_accuracy_chart(table)
fig

# %% [markdown]
# ## How robust is our copy of Madry et al.?
#
# The network of Madry et al. is only as good as its adversarial training, which our profiles
# shorten. Its accuracy under the L∞ PGD attack it was trained against (ε = 0.3, random start)
# tells the reader how close our copy is to the authors' (about 89–93% at ε = 0.3).

# %%
display(Markdown(report.madry_robustness(evaluate.score_model("madry", profile))))

# %% [markdown]
# ## Wall time of this run

# %%
report.run_summary(profile).style.hide(axis="index").format(precision=1, na_rep="–")
