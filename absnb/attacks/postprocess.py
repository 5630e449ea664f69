"""Binary post-processing: the smallest perturbation with the same binarised image as an adversarial.

A binarising model (Binary CNN, Binary ABS) sees only binarize(adv), so every pixel can be moved
back towards the clean image as long as it stays on the same side of 0.5: to the clean value where
both binarise alike, else to the threshold itself (0.5 binarises to 0) or the smallest float above it.
No pixel moves away from the clean image, so no Lp distance grows and the model's decision is kept.
"""

from __future__ import annotations

import torch

from absnb.models.binarize import THRESHOLD, binarize


def binary_postprocess(x: torch.Tensor, adv: torch.Tensor) -> torch.Tensor:
    """Each pixel of `adv` moved as close to `x` as it can go without changing its binarised value."""
    if x.shape != adv.shape:
        raise ValueError(f"images {tuple(x.shape)} and adversarials {tuple(adv.shape)} differ in shape")
    threshold = torch.tensor(THRESHOLD, dtype=adv.dtype, device=adv.device)
    above = torch.nextafter(threshold, torch.ones_like(threshold))
    adv_bin = binarize(adv)
    crossed = torch.where(adv_bin == 1, above, threshold)
    return torch.where(adv_bin == binarize(x), x.to(adv.dtype), crossed)
