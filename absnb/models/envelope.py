"""Does the envelope gradient of ABS match the slope of its full inference?

`ABS.elbo` returns the input gradient dl_y/dx = -2 (x - D_y(z*_y)) / 784 (Danskin's theorem), exact
only at the true optimum z*_y; the search reaches it approximately. `envelope_check` compares that
gradient along random unit directions v with central differences of the real inference (bank start
plus Adam search, re-run on every perturbed image), and `envelope_summary` condenses the comparison.
"""

from __future__ import annotations

import pandas as pd
import torch

from absnb.models.abs import ABS


def envelope_check(model: ABS, x: torch.Tensor, directions: int = 4, h: float = 1e-2,
                   seed: int = 0) -> pd.DataFrame:
    """Per image, class and random unit direction v: the finite-difference slope
    (l(x + h v) - l(x - h v)) / 2h of the full inference and the envelope slope g . v.

    The images and all 2 * len(x) * directions perturbed ones go through one `model.elbo` call. The
    perturbed images are not clipped to [0, 1] (the model accepts any real input). Meaningless for
    Binary ABS, whose true slope is zero almost everywhere (its gradient is a straight-through surrogate).
    """
    if model.binary:
        raise ValueError("Binary ABS is piecewise constant in x: finite differences are zero")
    x = x.detach()
    n, shape = len(x), x.shape[1:]
    gen = torch.Generator().manual_seed(seed)
    v = torch.randn(n, directions, *shape, generator=gen).to(x)
    v = v / v.flatten(2).norm(dim=2).reshape(n, directions, *[1] * len(shape))
    batch = torch.cat([x, (x[:, None] + h * v).flatten(0, 1), (x[:, None] - h * v).flatten(0, 1)])
    with torch.enable_grad():
        batch.requires_grad_(True)
        elbo = model.elbo(batch)
        classes = elbo.shape[1]
        grads = torch.stack([torch.autograd.grad(elbo[:n, c].sum(), batch, retain_graph=True)[0][:n]
                             for c in range(classes)], 1)  # (n, classes, *shape)
    envelope = torch.einsum("ncp,ndp->ndc", grads.flatten(2), v.flatten(2))
    out = elbo.detach()[n:].reshape(2, n, directions, classes)
    fd = (out[0] - out[1]) / (2 * h)
    image, direction, cls = torch.meshgrid(torch.arange(n), torch.arange(directions),
                                           torch.arange(classes), indexing="ij")
    return pd.DataFrame({"image": image.flatten().numpy(), "class": cls.flatten().numpy(),
                         "direction": direction.flatten().numpy(),
                         "fd_slope": fd.flatten().double().cpu().numpy(),
                         "envelope_slope": envelope.flatten().double().cpu().numpy()})


def envelope_summary(table: pd.DataFrame) -> pd.Series:
    """One line over all rows of an `envelope_check` table: median relative error |fd - env| / |fd|,
    Pearson and Spearman correlations, and the median ratio fd / env (1 when sign and scale are right).
    The medians and the rank correlation are robust to the few rows where the search is far from
    converged or jumps to another optimum; the Pearson correlation is not."""
    fd, env = table["fd_slope"], table["envelope_slope"]
    return pd.Series({"median relative error": ((fd - env).abs() / fd.abs()).median(),
                      "correlation": fd.corr(env), "rank correlation": fd.corr(env, method="spearman"),
                      "median ratio": (fd / env).median(), "rows": len(table)},
                     name="finite differences vs envelope gradient")
