"""The paper profile's projected cost scales each measured time by the ratio of the work it stands for."""

from __future__ import annotations

import pytest

from absnb import artifacts, projection


def test_measured_times_scale_by_the_papers_work(tmp_path, monkeypatch):
    monkeypatch.setattr(artifacts, "ARTIFACTS_DIR", tmp_path)
    artifacts.save_json({"wall_seconds": 600.0}, artifacts.log_path("default", "cnn"))
    artifacts.save_json({"seconds": 36.0}, artifacts.clean_path("default", "cnn"))
    # 50 samples of 10,000 Boundary steps in 100 s; the paper: 1,000 samples of 25,000 steps
    artifacts.save_json({"attack": "Boundary Attack", "samples": 50, "seconds": 100.0,
                         "budget": {"batch_size": 50, "boundary_steps": 10000}},
                        artifacts.attack_path("default", "l2", "cnn", "Boundary Attack", ".json"))
    # the nearest-neighbour override of 2 Pointwise repeats, 500 Salt&Pepper steps, as recorded
    artifacts.save_json({"attack": "Pointwise Attack", "samples": 50, "seconds": 36.0,
                         "budget": {"batch_size": 50, "saltpepper_steps": 500, "pointwise_repeats": 2}},
                        artifacts.attack_path("default", "l0", "nearest", "Pointwise Attack", ".json"))
    table = projection.project("default").set_index("stage")
    assert list(table.index) == ["01 training", "02 clean accuracy", "03 attacks l2", "03 attacks l0"]
    assert table.loc["01 training", "paper, projected (CPU h)"] == round(600 * 50 / 6 / 3600, 1)  # epochs
    assert table.loc["02 clean accuracy", "paper, projected (CPU h)"] == 0.0  # same 10,000 images
    assert table.loc["03 attacks l2", "paper, projected (CPU h)"] == round(100 * 20 * 2.5 / 3600, 1)
    paper = projection.profiles.load("paper").budget("nearest")
    work = paper.samples * paper.pointwise_repeats * paper.saltpepper_steps
    expected = round(36 * work / (50 * 2 * 500) / 3600, 1)
    assert table.loc["03 attacks l0", "paper, projected (CPU h)"] == expected
    assert table.loc["03 attacks l2", "measured (min)"] == round(100 / 60, 1)


def test_a_profile_with_other_abs_inference_does_not_project():
    with pytest.raises(ValueError, match="use the default profile"):
        projection.project("smoke")


def test_every_attack_of_the_registry_has_a_work_model():
    from absnb.attacks.registry import ATTACKS

    budget = projection.profiles.load("default").attacks
    for specs in ATTACKS.values():
        for spec in specs:
            assert projection.attack_work(spec.name, budget) > 0, spec.name


def test_every_trained_model_has_a_training_work_model():
    """A kept run stores every model's training log: each must project (Nearest Neighbour has no epochs)."""
    from absnb.vocabulary import TRAINED_MODELS

    for name in ("default", "paper"):
        prof = projection.profiles.load(name)
        for model in TRAINED_MODELS:
            assert projection.training_work(prof, model) > 0, (name, model)
