"""The one way the book runs a model on many images: batch by batch, without gradients."""

from __future__ import annotations

from collections.abc import Callable

import torch
from tqdm import tqdm


def predict(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch_size: int = 256,
            desc: str | None = None) -> torch.Tensor:
    """`fn` (a model's logits, or another per-image score) on each batch of `x`, without gradients,
    gathered on x's device; a progress bar when `desc` names the work. `x` must not be empty."""
    if len(x) == 0:
        raise ValueError("no images to predict")
    with torch.no_grad():
        batches = tqdm(x.split(batch_size), desc=desc, leave=False, disable=desc is None)
        return torch.cat([fn(xb).to(x.device) for xb in batches])
