"""The "w/ GE" coordinate-wise gradient estimate of the Nearest Neighbour model, in closed form.

Moving pixel i of x to v = clip(x_i +- h, 0, 1) changes the squared distance to a training image t
by a known amount: with d = v - x_i and D_t = ||x - t||^2,

    ||x + d e_i - t||^2 = D_t + 2 d (x_i - t_i) + d^2 = (D_t - (x_i - t_i)^2) + (v - t_i)^2,

so every perturbed logit (minus the square root of the smallest such value over a class's training
images) follows from the distances D_t and the training pixels, without querying the model. Which
training images can attain a class's minimum is bounded too: the change above lies in
[-min(1, 2h), min(1, 2h + h^2)] (pixels in [0, 1], |d| <= h), so only the images with
D_t <= min_class D + 2 min(1, 2h + h^2) can be nearest after a one-pixel step; the rest are skipped
exactly, not approximately. On MNIST that leaves a few dozen images per sample and class.
"""

from __future__ import annotations

import weakref

import torch

from absnb.models.nearest import NearestNeighbour

CLASSES = 10
# per model: its training images in float64, their squared norms and whether they lie in [0, 1],
# made once (this cost ~0.3 s per call, which the ε bisection paid once per image and step)
_TRAIN64: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _train64(model: NearestNeighbour, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """The model's training images in float64 on `device`, their squared norms and whether all
    their pixels lie in [0, 1] (cached per model)."""
    cached = _TRAIN64.get(model)
    if cached is None or cached[0].device != device or cached[0].shape != model.train_x.shape:
        train = model.train_x.to(device, torch.float64)
        cached = _TRAIN64[model] = (train, train.pow(2).sum(1), _in_box(train))
    return cached


def _in_box(images: torch.Tensor) -> bool:
    return bool(images.min() >= 0) and bool(images.max() <= 1)


def nearest_jacobian(model: NearestNeighbour, x: torch.Tensor, step: float,
                     elements_per_chunk: int = 1 << 22) -> torch.Tensor:
    """Exactly what `coordinate_jacobian(lambda images, owner: model(images), x, step)` estimates
    for the 1-NN logits, computed from the closed form in the module docstring instead of two
    queries per pixel: J[n, k, i] = (f_k(x + d+ e_i) - f_k(x + d- e_i)) / (clip(x_i + h) - clip(x_i - h))
    with d+- = clip(x_i +- h, 0, 1) - x_i, f_k = -min over class k of the distance, and 0 where the
    box leaves no width (a step the box clips away gives f(x), as there).

    Computed in float64 (the model's own float32 distances carry rounding of about 1e-5 in the squared
    distance; these do not), returned in x's dtype with shape (n, 10, *image shape). The training set
    is kept in float64 once per model; the work on the (sample, training image) pairs that can be
    nearest is chunked, at most about `elements_per_chunk` float64 values per temporary."""
    n, shape = len(x), x.shape[1:]
    flat = x.detach().reshape(n, -1)
    pixels = flat.shape[1]
    # the perturbed pixel values exactly as coordinate_jacobian forms them (in x's dtype)
    values = torch.stack([(flat + step).clamp(0, 1), (flat - step).clamp(0, 1)])  # (2, n, pixels)
    x64, v64 = flat.double(), values.double()
    labels = model.train_y.to(flat.device)
    with torch.no_grad():
        train, train_sq, train_in_box = _train64(model, flat.device)
        # squared distance to every training image (only for pruning)
        d2 = (x64.pow(2).sum(1, keepdim=True) + train_sq - 2 * x64 @ train.T).clamp_min(0)
        per_class = d2.new_full((n, CLASSES), float("inf"))
        per_class = per_class.scatter_reduce(1, labels.expand(n, -1), d2, reduce="amin")
        # the exact pruning bound of the module docstring, plus slack for the rounding of d2
        margin = 2 * min(1.0, 2 * step + step**2)
        if not _in_box(flat) or not train_in_box:
            margin = float("inf")  # the bound assumes pixels in [0, 1]: outside it, keep every image
        limit = per_class.gather(1, labels.expand(n, -1)) + margin
        owner, index = (d2 <= limit + 1e-9 * (1 + limit)).nonzero().unbind(1)
        del d2
        group = owner * CLASSES + labels[index]  # (sample, class) of each candidate pair
        base = torch.full((n * CLASSES,), float("inf"), dtype=torch.float64, device=flat.device)
        best = torch.full((2, n * CLASSES, pixels), float("inf"), dtype=torch.float64, device=flat.device)
        for part in torch.arange(len(owner), device=flat.device).split(max(1, elements_per_chunk // pixels)):
            o, g = owner[part], group[part]
            t = train[index[part]]  # (pairs, pixels)
            diff_sq = (x64[o] - t).pow(2)
            dist = diff_sq.sum(1)  # D_t, summed directly
            base.scatter_reduce_(0, g, dist, reduce="amin")
            rest = (dist[:, None] - diff_sq).clamp_min(0)  # D_t without pixel i, as in the model's clamp
            slot = g[:, None].expand(-1, pixels)
            for sign in range(2):
                moved = rest + (v64[sign, o] - t).pow(2)
                best[sign].scatter_reduce_(0, slot, moved, reduce="amin")
        base = base.view(n, CLASSES, 1)
        best = best.view(2, n, CLASSES, pixels)
        # a step the box clipped away leaves the image, and so the logit, as it was
        best = torch.where((values == flat)[:, :, None, :], base, best)
        logits = -best.sqrt()
    width = (v64[0] - v64[1])[:, None, :]
    jac = torch.where(width > 0, (logits[0] - logits[1]) / width.clamp_min(1e-12), 0.0)
    return jac.to(x.dtype).reshape(n, CLASSES, *shape)
