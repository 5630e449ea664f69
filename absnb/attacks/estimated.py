"""Models whose backward pass is the coordinate-wise gradient estimate ("w/ GE").

Wrapping a model in `EstimatedGradientModel` keeps its forward pass and replaces its gradient by
finite differences, so the gradient-based attacks (foolbox's FGM, FGSM, BIM, MIM) run unchanged
against models without usable gradients: Nearest Neighbour and the ABS models. The backward pass
receives v = dLoss/dlogits per sample and estimates J^T v as the coordinate-wise gradient of the
scalar v . f(x), per sample.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from absnb.attacks.gradients import coordinate_gradient


class _Estimated(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, model: Callable, step: float, queries: int) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.model, ctx.step, ctx.queries = model, step, queries
        with torch.no_grad():
            return model(x)

    @staticmethod
    def backward(ctx, grad_logits: torch.Tensor):
        (x,) = ctx.saved_tensors
        index = torch.arange(len(x), device=x.device)
        weights = grad_logits.detach()

        def projected(images: torch.Tensor, owner: torch.Tensor) -> torch.Tensor:
            return (ctx.model(images) * weights[owner]).sum(1)

        grad = coordinate_gradient(projected, x.detach(), index, ctx.step, ctx.queries)
        return grad, None, None, None


class EstimatedGradientModel(nn.Module):
    """`model` with its input gradient replaced by coordinate-wise finite differences of size `step`."""

    def __init__(self, model: nn.Module, step: float, queries_per_batch: int = 200) -> None:
        super().__init__()
        self.model = model
        self.step = step
        self.queries = queries_per_batch
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _Estimated.apply(x, self.model, self.step, self.queries)
