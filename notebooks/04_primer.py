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
# # A primer: adversarial examples on a CNN
#
# An *adversarial example* is an input that someone has changed on purpose, by an amount a person would
# barely notice, so that a model gets it wrong. For an MNIST digit x with label y and a classifier f,
# it is an image x + r with f(x + r) ≠ y and ‖r‖ small; *targeted* when f(x + r) must be a chosen
# class l. The paper this book reproduces (Schott et al., 2019) asks how large r must be for each of
# its models. This chapter shows the phenomenon on the plainest of them, our trained CNN (the "CNN" row
# of Table 1), with the two attacks that first made it known.
#
# The chapter follows a small public demonstration repository that implements both attacks on MNIST
# and FGSM on ImageNet with a pretrained VGG16; that ImageNet demo needs pretrained weights and images
# this project cannot ship, so only the MNIST part is reproduced here, with our own code
# (`absnb/primer.py`).

# %% tags=["parameters", "remove-cell"]
profile = "default"
seed = 0

# %%
import pandas as pd
import torch
from IPython.display import Markdown, display

from absnb import primer, profiles
from absnb.data import load_split
from absnb.models import load

torch.manual_seed(seed)
model = load("cnn", profiles.load(profile))
x_test, y_test = load_split("test")
# one correctly classified image per digit, drawn (seeded) from the first 1,000 test images
sources = primer.one_per_class(model, x_test[:1000], y_test[:1000], seed)

# %% [markdown]
# ## Optimising for the perturbation (Szegedy et al., 2014)
#
# Szegedy et al. ("Intriguing properties of neural networks") ask for the smallest r that makes the
# network answer a chosen class l:
#
# > minimise ‖r‖₂ subject to f(x + r) = l and x + r ∈ [0, 1]ⁿ.
#
# The hard constraint f(x + r) = l is replaced by a penalty: minimise c·‖r‖² + CE(f(x + r), l), with
# CE the cross-entropy towards l, solved with L-BFGS. The weight c sets the trade-off: a large c keeps r
# small but may stop short of class l, a small c reaches l with a larger r. So the problem is solved
# for a range of c (large to small, then a few bisection steps between the last c that failed and the
# first that succeeded), keeping for each image the smallest r with which the model, run again,
# answers l. The box constraint is met by clipping x + r to [0, 1] inside the objective (see the
# docstring of `primer.szegedy_attack` for why this has the same minimisers).
#
# Below, each row is one test digit, each column a target class. The diagonal is the clean image; every
# other cell is the adversarial, titled with the class the model predicts for it (green when it is the
# target) and ‖r‖₂.

# %%
C_GRID = [10.0, 3.0, 1.0, 0.3, 0.1]
grid = primer.targeted_grid(model, sources, C_GRID, steps=30, bisect_steps=2)
display(Markdown(primer.grid_summary(grid, sources)))
primer.targeted_grid_figure(sources, grid.advs, grid.predictions)

# %% [markdown]
# Look at the off-diagonal cells: where the attack succeeded, the digit is still plainly itself to a
# person, yet the network, which classifies every clean image of the diagonal correctly, reads it as
# the class we asked for. Some source–target pairs need visibly more change than others. The Schott et
# al. paper measures exactly this size of r (untargeted, over many images and many attacks) for every
# model in the book.
#
# The seed repository solves a relaxed version with plain SGD, an L2 penalty and clamping after each
# step; L-BFGS with a search over c is the method of the paper it cites, and the one used here.

# %% [markdown]
# ## The fast gradient sign method (Goodfellow et al., 2015)
#
# Goodfellow et al. argue that networks are fooled because they are close to *linear*: a change of
# η in every one of the 784 pixels, each in the direction that increases the loss, adds up to a large
# change of the output even when η is small. Their attack takes a single step
#
# > x_adv = clip(x + η · sign(∇ₓ CE(f(x), y)), 0, 1),
#
# one gradient per image, no optimisation. Below, for a few of the digits above, the columns are
# increasing η: the image with the model's prediction and its softmax confidence (red when the
# prediction has changed from η = 0), and under it the perturbation r (red brighter, blue darker).

# %%
ETAS = [0.0, 0.05, 0.1, 0.15, 0.2, 0.3]
shown = sources[:4]
advs = primer.fgsm_sweep(model, shown, torch.arange(4), ETAS)
checked = [primer.classify(model, adv) for adv in advs]  # every image shown is run through the model again
predictions = torch.stack([pred for pred, _ in checked])
confidences = torch.stack([conf for _, conf in checked])
primer.fgsm_figure(shown, advs, ETAS, predictions, confidences)

# %% [markdown]
# FGSM's perturbation is large in L2 (every pixel moves by η) yet structured: it follows the strokes
# of the digit and fills the background where the gradient says the wrong class wants ink. How much
# it hurts the CNN overall, on the first 1,000 test images:

# %%
accuracy = primer.fgsm_accuracy(model, x_test[:1000], y_test[:1000], ETAS)
pd.DataFrame([accuracy], index=["accuracy (%)"], columns=[f"η = {eta:g}" for eta in ETAS]).round(1)

# %% [markdown]
# η = 0.3, the largest of these, is the L∞ threshold ε at which the paper scores its models' L∞
# robustness. FGSM is the simplest attack of that table (one step, no search); its iterative
# versions there (BIM, MIM) are stronger.
# The next chapters ask whether a model built differently, the Analysis-by-Synthesis model, needs
# perturbations that are not just larger but that actually look like the target class.
