"""Models whose backward pass is the coordinate-wise gradient estimate ("w/ GE").

Wrapping a model in `EstimatedGradientModel` keeps its forward pass and replaces its gradient by
finite differences, so the gradient-based attacks (foolbox's FGM, FGSM, BIM, MIM) run unchanged
against models without usable gradients: Nearest Neighbour and the ABS models. The wrapper estimates
the whole Jacobian of the logits per sample (two queries per pixel) and the backward pass returns
J^T v for the incoming v = dLoss/dlogits. Jacobians are cached by image, so FGM, FGSM and the first
BIM / MIM step at a clean image, and every epsilon of their search, share one estimate.

For the Nearest Neighbour model the same finite differences have a closed form (`nearest_jacobian`):
the estimate is computed from the training set directly, with no query of the model, and equals the
queried one up to float rounding.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import torch
from torch import nn

from absnb.attacks.gradients import coordinate_jacobian
from absnb.attacks.nearest_ge import nearest_jacobian
from absnb.models.nearest import NearestNeighbour


class _Estimated(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, wrapper: EstimatedGradientModel) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.wrapper = wrapper
        with torch.no_grad():
            return wrapper.model(x)

    @staticmethod
    def backward(ctx, grad_logits: torch.Tensor):
        (x,) = ctx.saved_tensors
        jac = ctx.wrapper.jacobian(x.detach())
        grad = torch.einsum("nk,nk...->n...", grad_logits.detach().to(jac.dtype), jac)
        return grad.to(x.dtype), None


class EstimatedGradientModel(nn.Module):
    """`model` with its input gradient replaced by coordinate-wise finite differences of size `step`."""

    def __init__(self, model: nn.Module, step: float, queries_per_batch: int = 200,
                 cache_size: int = 4096) -> None:
        super().__init__()
        self.model = model
        self.step = step
        self.queries = queries_per_batch
        self.cache: OrderedDict[bytes, torch.Tensor] = OrderedDict()
        self.cache_size = cache_size
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _Estimated.apply(x, self)

    @staticmethod
    def key(image: torch.Tensor) -> bytes:
        """The cache key of one image: a digest of its exact values."""
        return hashlib.sha1(image.detach().cpu().numpy().tobytes()).digest()

    def jacobian(self, x: torch.Tensor) -> torch.Tensor:
        """Per-sample Jacobian estimates of the logits, computed only for images not seen before.

        A `NearestNeighbour` model gets the closed form (`nearest_jacobian`, the same numbers without
        querying it); any other model is queried twice per pixel (`coordinate_jacobian`). Neither
        path counts queries here: a model that counts its own (the ABS models) sees the queries of
        the second path, and the closed form makes none, consistent with the Nearest Neighbour model,
        which counts none anyway."""
        keys = [self.key(image) for image in x]
        todo = [i for i, key in enumerate(keys) if key not in self.cache]
        if todo:
            fresh = self.estimate(x[todo])
            for i, jac in zip(todo, fresh, strict=True):
                self.cache[keys[i]] = jac
        for key in keys:
            self.cache.move_to_end(key)
        while len(self.cache) > self.cache_size:
            self.cache.popitem(last=False)
        return torch.stack([self.cache[key] for key in keys])

    def estimate(self, x: torch.Tensor) -> torch.Tensor:
        """Fresh Jacobian estimates at `x` (no cache)."""
        if isinstance(self.model, NearestNeighbour):
            return nearest_jacobian(self.model, x, self.step)
        return coordinate_jacobian(lambda images, owner: self.model(images), x, self.step, self.queries)
