"""ABS training experiments: each variant trains and scores under its own profile name and folder, and
the recipe is chosen on held-out training images, not on the test set."""

from __future__ import annotations

import dataclasses

import pytest

from absnb import artifacts, experiments, profiles, train


@pytest.fixture
def variant(tiny, monkeypatch):
    """One variant, `kl1` (KL weight 1 from the start), of the tiny smoke profile."""
    base = dataclasses.replace(tiny["profile"], eval_samples=8)
    base = dataclasses.replace(base, abs=dataclasses.replace(base.abs, holdout=40))
    kl1 = dataclasses.replace(base, name="smoke+kl1", abs=dataclasses.replace(base.abs, kl_start=1.0))
    monkeypatch.setattr(profiles, "variants", lambda path=None: {"kl1": {"description": "KL weight 1",
                                                                       "abs": {"kl_start": 1.0}}})
    monkeypatch.setattr(profiles, "load", lambda name, path=None: kl1 if name == "smoke+kl1" else base)
    return kl1


def test_an_experiment_trains_and_scores_in_its_own_folder(variant):
    scores = experiments.run("smoke", "kl1")
    assert set(scores) == {"abs", "binary_abs"} and all(0 <= s <= 1 for s in scores.values())
    assert artifacts.weights_path("smoke+kl1", "abs").exists()
    assert not artifacts.weights_path("smoke", "abs").exists(), "the profile's own model is untouched"
    log = artifacts.load_json(artifacts.log_path("smoke+kl1", "abs"))
    assert log["config"]["kl_start"] == 1.0


def test_the_table_lists_every_finished_recipe_and_chooses_on_held_out_images(variant):
    experiments.run("smoke", "kl1")
    train.train("abs", "smoke")
    frame = experiments.table("smoke")
    assert frame["recipe"].tolist() == ["smoke (as configured)", "kl1"]
    assert frame["changes"].tolist() == ["–", "abs.kl_start = 1.0"]
    assert frame["test ABS (%)"].isna().tolist() == [True, False], "the profile's ABS was not scored"
    best = frame["held-out, full (%)"].max()
    assert frame["chosen"].tolist() == (frame["held-out, full (%)"] == best).tolist()
    logs = [artifacts.load_json(artifacts.log_path(n, "abs")) for n in ("smoke", "smoke+kl1")]
    assert frame["held-out, full (%)"].tolist() == pytest.approx([100 * g["holdout_accuracy"] for g in logs],
                                                                abs=0.01)
    assert len(experiments.curves("smoke").axes[0].lines) == 4  # a curve and a final dot per recipe
