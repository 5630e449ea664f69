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
# # Training
#
# This page trains one model of the paper, or reuses its weights if an earlier run of the same
# profile left them (`force=True` retrains). Training writes a checkpoint after every epoch, so an
# interrupted run resumes. The recipe is `absnb.train.train`; the architectures are in
# `absnb/models/`, and the settings come from the profile named below (`absnb/profiles.toml`).

# %% tags=["parameters", "remove-cell"]
model = "cnn"
profile = "default"
seed = 0
force = False

# %%
from IPython.display import Markdown, display

from absnb import diagnosis, models, plots, profiles, report, train

models.check_name(model)
prof = profiles.load(profile)
log = train.train(model, profile, seed=seed, force=force)

# %%
display(Markdown(report.training_description(log, prof)))
report.training_summary(log).style.hide(axis="index").format(precision=4)

# %% [markdown]
# The settings this model was trained with (from the profile):

# %%
report.settings_table(log)

# %%
fig = plots.training_curves(log)
fig

# %% tags=["remove-input"]
# ABS only: where its errors differ from the released VAEs' in the same inference (absnb.diagnosis.page)
for item in diagnosis.page(model, profile):
    display(item)
