"""Latent Descent (the paper's eq. 9): the attack designed for the ABS models.

Each step evaluates the model, picks the wrong class with the highest score, and moves the image a
fraction eps towards that class's reconstruction of it: x <- (1 - eps) x + eps x~. Once the model is
fooled, a binary search on the segment between the clean image and the adversarial shrinks the
perturbation. Binary ABS sees only the binarised image, so for it the bisected adversarial is then
post-processed: only the pixels whose binarised value must change move, to just across 0.5. (The
bisection runs on the raw point: on a post-processed one, every point short of it binarises back to
the clean image, and the bisection could not move.)
"""

from __future__ import annotations

import torch
from tqdm import tqdm

from absnb.attacks.postprocess import binary_postprocess
from absnb.models.abs import ABS


def latent_descent(model: ABS, x: torch.Tensor, y: torch.Tensor, eps: float = 1e-2,
                   max_steps: int = 500, search_steps: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    """Adversarials for a batch (all images step together) and a mask of the ones found."""
    current = x.clone()
    adv = x.clone()
    found = torch.zeros(len(x), dtype=torch.bool, device=x.device)
    bar = tqdm(range(max_steps), desc="latent descent", leave=False)
    for _ in bar:
        active = (~found).nonzero().squeeze(1)
        if len(active) == 0:
            break
        elbo, z = model.search(current[active])
        logits = elbo * model.gamma
        fooled = logits.argmax(1) != y[active]
        adv[active[fooled]] = current[active[fooled]]
        found[active[fooled]] = True
        going = active[~fooled]
        target = logits[~fooled].scatter(1, y[going, None], float("-inf")).argmax(1)
        recon = model.reconstruct(z[:, ~fooled])[torch.arange(len(going)), target]
        current[going] = (1 - eps) * current[going] + eps * recon.view_as(current[going])
        bar.set_postfix(found=int(found.sum()), refresh=False)
    return _bisect(model, x, y, adv, found, search_steps), found


def _finish(model: ABS, x: torch.Tensor, adv: torch.Tensor) -> torch.Tensor:
    return binary_postprocess(x, adv) if model.binary else adv


def _bisect(model: ABS, x: torch.Tensor, y: torch.Tensor, adv: torch.Tensor, found: torch.Tensor,
            steps: int) -> torch.Tensor:
    """Per found sample, the point x + t (adv - x) with the smallest t in [0, 1] still misclassified."""
    idx = found.nonzero().squeeze(1)
    if len(idx) == 0:
        return adv
    lo = torch.zeros(len(idx), device=x.device)
    hi = torch.ones(len(idx), device=x.device)
    clean, far = x[idx], adv[idx]
    shape = (-1, *[1] * (x.dim() - 1))
    for _ in range(steps):
        mid = (lo + hi) / 2
        with torch.no_grad():
            wrong = model(clean + mid.view(shape) * (far - clean)).argmax(1) != y[idx]
        hi = torch.where(wrong, mid, hi)
        lo = torch.where(wrong, lo, mid)
    out = adv.clone()
    out[idx] = _finish(model, clean, clean + hi.view(shape) * (far - clean))
    return out
