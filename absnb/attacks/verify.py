"""Re-check every adversarial an attack claims before it is recorded, so no attack is trusted blindly.

An adversarial counts only if the model misclassifies it when run again, its pixels are finite and
within [0, 1] exactly, and its distance is the one recomputed from the images (never the attack's
claim). A test image the model already gets wrong is broken at distance 0, whatever the attack did.
Each result keeps its logit margin (best wrong logit minus the true one, > 0 when misclassified), so
adversarials that sit just across the decision boundary can be found and re-checked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from absnb.inference import predict
from absnb.vocabulary import Norm

# Bump when a change to the check (here) or to the binary post-processing (postprocess.py) can change
# what is recorded: every stored attack result is keyed by it.
VERIFY_VERSION = 1


@dataclass
class Verified:
    """Checked adversarials of one attack on a batch of test images, one entry per image."""

    adv: torch.Tensor  # the adversarial, or the clean image where none was accepted
    success: torch.Tensor  # bool: broken (a checked adversarial, or misclassified when clean)
    distance: torch.Tensor  # recomputed distance; 0 if misclassified when clean, inf if not broken
    prediction: torch.Tensor  # long: the model's prediction on `adv`
    refused: torch.Tensor  # bool: the attack claimed an adversarial and the check refused it
    margin: torch.Tensor  # best wrong logit minus the true logit on `adv` (> 0 where broken)

    @property
    def rejected(self) -> int:
        """How many adversarials claimed by the attack were refused."""
        return int(self.refused.sum())


def margin(scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Best wrong logit minus the true one, per row: > 0 exactly when the row is misclassified
    (up to ties)."""
    true = scores.gather(1, y[:, None]).squeeze(1)
    return scores.scatter(1, y[:, None], float("-inf")).amax(1) - true


def verify(model: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, y: torch.Tensor,
           candidates: torch.Tensor, found: torch.Tensor, norm: Norm, batch_size: int = 256) -> Verified:
    """Accept the candidates the attack `found` only if they pass every check; see the module docstring."""
    if candidates.shape != x.shape or found.shape != y.shape or len(y) != len(x):
        raise ValueError(f"shapes disagree: x {tuple(x.shape)}, y {tuple(y.shape)}, "
                         f"candidates {tuple(candidates.shape)}, found {tuple(found.shape)}")
    found = found.bool()
    clean_scores = predict(model, x, batch_size)
    clean_pred = clean_scores.argmax(1)
    clean_wrong = clean_pred != y
    flat = candidates.flatten(1)
    in_box = torch.isfinite(flat).all(1) & (flat >= 0).all(1) & (flat <= 1).all(1)
    to_check = (found & ~clean_wrong & in_box).nonzero().squeeze(1)
    accepted = torch.zeros_like(found)
    prediction = clean_pred.clone()
    adv_scores = predict(model, candidates[to_check], batch_size) if len(to_check) else clean_scores[:0]
    adv_pred = adv_scores.argmax(1)
    fooled = adv_pred != y[to_check]
    accepted[to_check[fooled]] = True
    prediction[to_check[fooled]] = adv_pred[fooled]
    margins = margin(clean_scores, y)
    margins[to_check[fooled]] = margin(adv_scores[fooled], y[to_check[fooled]])

    adv = torch.where(accepted.view(-1, *[1] * (x.dim() - 1)), candidates, x)
    dist = torch.full((len(x),), float("inf"), dtype=x.dtype, device=x.device)
    dist[accepted] = norm.distance(x[accepted], candidates[accepted])
    dist[clean_wrong] = 0.0
    return Verified(adv=adv, success=accepted | clean_wrong, distance=dist, prediction=prediction,
                    refused=found & ~clean_wrong & ~accepted, margin=margins.to(x.dtype))


def best_of(results: list[Verified]) -> Verified:
    """Per sample, the checked result with the smallest distance: an attack run several ways (step
    sizes of the gradient estimate, transfer directions) keeps its best. A sample counts as refused
    if any run's claim was refused."""
    if not results:
        raise ValueError("no results to combine")
    pick = torch.stack([r.distance for r in results]).argmin(0)
    rows = torch.arange(len(pick), device=pick.device)

    def choose(field: str) -> torch.Tensor:
        return torch.stack([getattr(r, field) for r in results])[pick, rows]

    return Verified(adv=choose("adv"), success=choose("success"), distance=choose("distance"),
                    prediction=choose("prediction"),
                    refused=torch.stack([r.refused for r in results]).any(0), margin=choose("margin"))
