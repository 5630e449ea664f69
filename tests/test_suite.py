"""The attack suite's bookkeeping: the fixed sample selection, clear errors for bad names, and stored
results that an interrupted run resumes from and a finished run reuses."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from absnb import artifacts, profiles
from absnb.attacks import suite
from absnb.attacks.registry import select
from absnb.attacks.run import Target, budget_fields
from absnb.attacks.verify import verify
from absnb.data import load_split
from absnb.models.cnn import CNN


def test_selection_is_seeded_and_nested():
    assert torch.equal(suite.select_samples(0, 50), suite.select_samples(0, 50))
    assert torch.equal(suite.select_samples(0, 200)[:50], suite.select_samples(0, 50))
    assert not torch.equal(suite.select_samples(1, 50), suite.select_samples(0, 50))
    assert len(set(suite.select_samples(0, 10_000).tolist())) == 10_000
    labels = load_split("test")[1]
    assert sorted(labels[suite.select_samples(3, 10)].tolist()) == list(range(10)), "one of each digit first"
    with pytest.raises(ValueError, match="between 1 and 10000"):
        suite.select_samples(0, 0)


@pytest.mark.parametrize("norm, models, attacks, message", [
    ("l3", None, None, "valid norms: l0, l2, linf"),
    ("l2", ["cnn", "vgg"], None, "valid models: cnn, binary_cnn, nearest, madry, binary_abs, abs"),
    ("l2", None, ["FGSM"], "valid: Transfer Attacks, Gaussian Noise, Boundary Attack"),
])
def test_bad_names_are_refused_listing_the_valid_ones(norm, models, attacks, message):
    with pytest.raises(ValueError, match=message):
        suite.check_request(norm, models, attacks)


def test_names_from_notebook_parameters():
    assert suite.parse_names(None) is None and suite.parse_names("all") is None
    assert suite.parse_names("cnn, abs") == ["cnn", "abs"]
    assert suite.parse_names(["madry"]) == ["madry"]


def test_missing_weights_name_the_training_command(tmp_path, monkeypatch):
    monkeypatch.setattr(artifacts, "ARTIFACTS_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match="make train-cnn PROFILE=smoke"):
        suite.check_weights("smoke", ["cnn"])


class _Interrupt(Exception):
    pass


def test_interrupted_pair_resumes_and_finished_pair_is_reused(tmp_path, monkeypatch):
    monkeypatch.setattr(artifacts, "ARTIFACTS_DIR", tmp_path)
    torch.manual_seed(0)
    model = CNN().eval()
    images = torch.rand(20, 1, 28, 28)
    labels = model(images).argmax(1)  # every clean image "correct", so only attacks break them
    calls: list[int] = []

    def fake_attack(spec, target, x, y, budget, shared, substitute, start=None):
        calls.append(len(x))
        if fail_after is not None and len(calls) > fail_after:
            raise _Interrupt
        return verify(target.model, x, y, 1 - x, torch.ones(len(x), dtype=torch.bool), spec.norm)

    monkeypatch.setattr(suite, "attack_batch", fake_attack)
    prof = profiles.load("smoke")
    budget = dataclasses.replace(prof.attacks, samples=6, batch_size=2)
    spec = select("l2", ["Gaussian Noise"])[0]
    args = (prof, "l2", spec, Target("cnn", model), torch.arange(6), images, labels, model, budget,
            {"cnn": "w", "substitute": "s"})

    fail_after = 2
    with pytest.raises(_Interrupt):
        suite.run_pair(*args, force=False)
    assert calls == [2, 2, 2]
    fail_after = None
    frame = suite.run_pair(*args, force=False)
    assert calls == [2, 2, 2, 2], "only the unfinished batch runs again"
    again = suite.run_pair(*args, force=False)
    assert calls == [2, 2, 2, 2], "a finished pair is read back"
    assert again.equals(frame)
    stored = artifacts.load_torch(tmp_path / "smoke/results/attacks/l2/cnn/gaussian_noise.pt")
    torch.testing.assert_close(stored["adv"][frame["success"].to_numpy()],
                               1 - images[:6][frame["success"].to_numpy()])
    suite.run_pair(*args[:-1], {"cnn": "retrained", "substitute": "s"}, force=False)
    assert len(calls) == 7, "new weights invalidate the stored results"
    unrelated = dataclasses.replace(budget, boundary_steps=budget.boundary_steps + 1, ge_step_sizes=(0.3,))
    suite.run_pair(*args[:-2], unrelated, {"cnn": "retrained", "substitute": "s"}, force=False)
    assert len(calls) == 7, "a setting Gaussian noise does not use leaves its results valid"
    more = dataclasses.replace(budget, gaussian_repeats=budget.gaussian_repeats + 1)
    suite.run_pair(*args[:-2], more, {"cnn": "retrained", "substitute": "s"}, force=False)
    assert len(calls) == 10, "a setting it uses runs it again"


def test_best_start_takes_the_closest_verified_adversarial_per_sample():
    frames = {"A": pd.DataFrame({"distance": [1.0, np.inf, 0.0, 3.0]}),
              "B": pd.DataFrame({"distance": [2.0, 5.0, np.inf, 1.0]})}
    adv = {"A": torch.full((4, 1, 2, 2), 0.1), "B": torch.full((4, 1, 2, 2), 0.2)}
    images, found = suite.best_start(frames, adv)
    assert found.tolist() == [True, True, False, True]  # distance 0: misclassified clean, no start
    assert images[:, 0, 0, 0].tolist() == pytest.approx([0.1, 0.2, 0.1, 0.2])


def test_a_pair_with_a_start_reruns_when_its_start_changes(tmp_path, monkeypatch):
    monkeypatch.setattr(artifacts, "ARTIFACTS_DIR", tmp_path)
    model = CNN().eval()
    images = torch.rand(4, 1, 28, 28)
    labels = torch.zeros(4, dtype=torch.long)
    seen = []

    def fake_attack(spec, target, x, y, budget, shared, substitute, start=None):
        seen.append(start)
        return verify(target.model, x, y, x, torch.zeros(len(x), dtype=torch.bool), spec.norm)

    monkeypatch.setattr(suite, "attack_batch", fake_attack)
    prof = profiles.load("smoke")
    budget = dataclasses.replace(prof.attacks, samples=4, batch_size=2)
    spec = select("l2", ["Boundary Attack"])[0]
    args = (prof, "l2", spec, Target("cnn", model), torch.arange(4), images, labels, model, budget,
            {"cnn": "w", "substitute": "s"}, False)
    start = (torch.rand(4, 1, 28, 28), torch.tensor([True, False, True, True]))
    suite.run_pair(*args, start)
    assert len(seen) == 2 and torch.equal(seen[1][0], start[0][2:]) and seen[1][1].tolist() == [True, True]
    suite.run_pair(*args, start)
    assert len(seen) == 2, "the same start: read back"
    suite.run_pair(*args, (start[0] * 0.5, start[1]))
    assert len(seen) == 4, "another start is other work"


def test_every_attack_depends_on_settings_that_exist():
    fields = {f.name for f in dataclasses.fields(profiles.AttackBudget)}
    for norm in ("l0", "l2", "linf"):
        for spec in select(norm):
            used = budget_fields(spec)
            assert "batch_size" in used and set(used) <= fields, spec.name
    assert "pointwise_repeats" in budget_fields(select("l0", ["Pointwise Attack"])[0])
    assert "ge_step_sizes" in budget_fields(select("linf", ["MIM w/ GE"])[0])
    assert "ge_step_sizes" not in budget_fields(select("linf", ["MIM"])[0])


def test_parallel_workers_store_what_one_process_stores(tmp_path, monkeypatch):
    """Models attacked by two worker processes give exactly the results of one process."""
    from absnb.models.cnn import SUBSTITUTE_CHANNELS

    def run(where: str, workers: int):
        monkeypatch.setenv("ABSNB_ARTIFACTS", str(tmp_path / where))  # what the spawned workers read
        monkeypatch.setattr(artifacts, "ARTIFACTS_DIR", tmp_path / where)
        torch.manual_seed(0)
        for name, net in (("cnn", CNN()), ("binary_cnn", CNN(binary=True)),
                          ("substitute", CNN(SUBSTITUTE_CHANNELS))):
            artifacts.save_torch(net.state_dict(), artifacts.weights_path("smoke", name))
        return suite.run_norm("smoke", "l2", ["cnn", "binary_cnn"], ["Gaussian Noise", "FGM"], n_samples=3,
                              workers=workers)

    serial, parallel = run("one", 1), run("two", 2)
    pd.testing.assert_frame_equal(serial, parallel)
    assert set(serial["model"]) == {"cnn", "binary_cnn"} and len(serial) == 2 * 2 * 3
    assert (tmp_path / "two/smoke/results/attacks/l2/binary_cnn/fgm.csv").exists()
