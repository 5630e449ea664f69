"""Distal adversarials: from noise to a confident target class, with real and estimated gradients; the
confidence reported is the model's own on the stored image, and an interrupted search resumes."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from quick_train import quick_train
from torch import nn

from absnb import profiles
from absnb.distal import Search, log_probabilities, search, uses_estimate
from absnb.models.cnn import CNN

BUDGET = profiles.load("smoke").distal


class Linear(nn.Module):
    """A fixed linear classifier: cheap enough to estimate gradients of in a test."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Linear(784, 10)
        self.net.weight.data.mul_(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))


def _confidence(model: nn.Module, x: torch.Tensor, target: int) -> torch.Tensor:
    with torch.no_grad():
        return log_probabilities(model, x)[:, target].exp()


def test_real_gradients_make_noise_a_confident_one():
    model = quick_train(CNN())
    state = Search.start(2, seed=0)
    start = _confidence(model, state.x, BUDGET.target)
    assert (start < BUDGET.threshold).all(), "noise should not start confident"
    done = search(model, state, BUDGET, estimated=False, max_steps=BUDGET.max_steps)
    again = _confidence(model, done.best, BUDGET.target)
    assert (again >= BUDGET.threshold).all(), again
    torch.testing.assert_close(again, done.confidence)
    assert done.best.min() >= 0 and done.best.max() <= 1
    assert (done.steps < BUDGET.max_steps).all(), "starts stop once confident"


def test_estimated_gradients_raise_the_confidence_and_resume_exactly():
    model = Linear().eval()
    budget = dataclasses.replace(BUDGET, target=3, threshold=0.999, lr=0.2)
    whole = search(model, Search.start(2, seed=1), budget, estimated=True, max_steps=4)
    assert (whole.confidence > _confidence(model, Search.start(2, seed=1).x, 3)).all()
    assert whole.queries > 2 * 4 * 784, "each step estimates the gradient from per-pixel queries"

    class Stop(Exception):
        pass

    saved: list[Search] = []

    def interrupt(state: Search) -> None:
        saved.append(dataclasses.replace(state, **{k: v.clone() for k, v in dataclasses.asdict(state).items()
                                                   if torch.is_tensor(v)}))
        if len(saved) == 2:
            raise Stop

    with pytest.raises(Stop):
        search(model, Search.start(2, seed=1), budget, estimated=True, max_steps=4, save=interrupt)
    resumed = search(model, saved[-1], budget, estimated=True, max_steps=4)
    torch.testing.assert_close(resumed.best, whole.best)
    torch.testing.assert_close(resumed.confidence, whole.confidence)
    assert resumed.queries == whole.queries


def test_only_nearest_neighbour_gets_the_estimate():
    """The ABS models use their envelope gradient (one query a step), as the networks use theirs."""
    assert [m for m in ("cnn", "binary_cnn", "nearest", "madry", "binary_abs", "abs") if uses_estimate(m)] \
        == ["nearest"]


def test_stored_record_reads_back_with_weights_only(tmp_path, monkeypatch):
    """A finished search is stored, read back with weights_only=True and reused, not rerun."""
    from absnb import artifacts, distal

    monkeypatch.setattr(artifacts, "ARTIFACTS_DIR", tmp_path)
    artifacts.save_torch(quick_train(CNN(), images=640).state_dict(), artifacts.weights_path("smoke", "cnn"))
    first = distal.run_model("smoke", "cnn")
    stored = torch.load(artifacts.results_path("smoke", "distal/cnn.pt"), weights_only=True)
    torch.testing.assert_close(stored["images"], first["images"])
    monkeypatch.setattr(distal, "search", lambda *args, **kwargs: pytest.fail("reused results rerun"))
    again = distal.run_model("smoke", "cnn")
    torch.testing.assert_close(again["confidence"], first["confidence"])
