"""An attack run's bookkeeping: the fixed sample selection, clear errors for bad names, stored results
that an interrupted run resumes from and a finished run reuses, and a plan whose results do not
depend on where its tasks run."""

from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from distributed.diagnostics.plugin import WorkerPlugin

from absnb import artifacts, profiles
from absnb.attacks import expected, plan, selection, store
from absnb.attacks.registry import ATTACKS, applies, select
from absnb.attacks.run import budget_fields
from absnb.attacks.verify import Verified, verify
from absnb.data import load_split
from absnb.models.cnn import CNN


def test_selection_is_seeded_and_nested():
    assert torch.equal(selection.select_samples(0, 50), selection.select_samples(0, 50))
    assert torch.equal(selection.select_samples(0, 200)[:50], selection.select_samples(0, 50))
    assert not torch.equal(selection.select_samples(1, 50), selection.select_samples(0, 50))
    assert len(set(selection.select_samples(0, 10_000).tolist())) == 10_000
    labels = load_split("test")[1]
    first_ten = labels[selection.select_samples(3, 10)]
    assert sorted(first_ten.tolist()) == list(range(10)), "one of each digit first"
    with pytest.raises(ValueError, match="between 1 and 10000"):
        selection.select_samples(0, 0)


@pytest.mark.parametrize("norm, models, attacks, message", [
    ("l3", None, None, "valid norms: l0, l2, linf"),
    ("l2", ["cnn", "vgg"], None, "valid models: cnn, binary_cnn, nearest, madry, binary_abs, abs"),
    ("l2", None, ["FGSM"], "valid: Transfer Attacks, Gaussian Noise, Boundary Attack"),
])
def test_bad_names_are_refused_listing_the_valid_ones(norm, models, attacks, message):
    with pytest.raises(ValueError, match=message):
        selection.parse_request("smoke", norm, models, attacks)


def test_names_from_notebook_parameters():
    assert selection.parse_names(None) is None and selection.parse_names("all") is None
    assert selection.parse_names("cnn, abs") == ["cnn", "abs"]
    assert selection.parse_names(["madry"]) == ["madry"]


def test_missing_weights_name_the_training_command(tmp_path, monkeypatch):
    monkeypatch.setattr(artifacts, "ARTIFACTS_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match="make train-cnn PROFILE=smoke"):
        selection.parse_request("smoke", "l2", ["cnn"])


def _run(models: list[str], attacks: list[str], **options) -> pd.DataFrame:
    """An L2 attack run of the smoke profile, parsed as the notebook parses it."""
    return plan.run(selection.parse_request("smoke", "l2", models, attacks), **options)


class _Interrupt(Exception):
    pass


def _networks(root) -> None:
    """Random CNN, Binary CNN and substitute weights in the artifact store at `root`."""
    from absnb.models.cnn import SUBSTITUTE_CHANNELS

    torch.manual_seed(0)
    for name, net in (("cnn", CNN()), ("binary_cnn", CNN(binary=True)),
                      ("substitute", CNN(SUBSTITUTE_CHANNELS))):
        artifacts.save_torch(net.state_dict(), artifacts.weights_path("smoke", name))


@pytest.fixture
def store_at(tmp_path, monkeypatch):
    """Artifacts in a temporary folder (also for spawned Dask workers), with random networks, and a
    smoke profile whose attacks run in batches of 2; returns a setter for that profile."""
    monkeypatch.setenv("ABSNB_ARTIFACTS", str(tmp_path))
    monkeypatch.setattr(artifacts, "ARTIFACTS_DIR", tmp_path)
    _networks(tmp_path)
    smoke = profiles.load("smoke")
    current = {"profile": dataclasses.replace(smoke, attacks=dataclasses.replace(
        smoke.attacks, batch_size=2, costly_samples=1000))}
    monkeypatch.setattr(profiles, "load", lambda name, path=None: current["profile"])
    return current


def test_interrupted_run_resumes_and_finished_work_is_reused(store_at, tmp_path, monkeypatch):
    calls: list[int] = []
    fail_after = 2

    def fake_attack(spec, target, x, y, budget, shared, substitute, start=None):
        calls.append(len(x))
        if fail_after is not None and len(calls) > fail_after:
            raise _Interrupt
        return verify(target.model, x, y, 1 - x, torch.ones(len(x), dtype=torch.bool), spec.norm)

    monkeypatch.setattr(store, "attack_batch", fake_attack)

    def run():
        # ten samples, one of each digit: a random CNN gets at least one right, so the attack has work
        return _run(["cnn"], ["Gaussian Noise"], n_samples=10, workers=1)

    with pytest.raises(plan.TaskFailed, match=r"cnn · Gaussian Noise · batch 2 .*_Interrupt"):
        run()
    assert calls == [2, 2, 2]
    results = tmp_path / "smoke/results/attacks/l2/cnn"
    assert len(list(results.glob("gaussian_noise.parts/*.pt"))) == 2, "the failed batch left no file"
    assert not list(tmp_path.rglob("*.tmp*")), "no partial file anywhere"
    fail_after = None
    frame = run()
    assert calls == [2] * 6, "only the unfinished batches run again"
    again = run()
    assert calls == [2] * 6, "finished work is read back"
    pd.testing.assert_frame_equal(again, frame)
    stored = artifacts.load_torch(results / "gaussian_noise.pt")
    images = load_split("test")[0][torch.tensor(frame["sample"].to_numpy())]
    hit = frame["success"].to_numpy() & (frame["distance"].to_numpy() > 0)  # not misclassified clean
    assert hit.any()
    torch.testing.assert_close(stored["adv"][hit], 1 - images[hit])
    torch.manual_seed(1)
    artifacts.save_torch(CNN().state_dict(), artifacts.weights_path("smoke", "cnn"))
    run()
    assert len(calls) == 11, "new weights invalidate the stored results"
    prof = store_at["profile"]
    store_at["profile"] = dataclasses.replace(prof, attacks=dataclasses.replace(
        prof.attacks, boundary_steps=prof.attacks.boundary_steps + 1, ge_step_sizes=(0.3,)))
    run()
    assert len(calls) == 11, "a setting Gaussian noise does not use leaves its results valid"
    store_at["profile"] = dataclasses.replace(prof, attacks=dataclasses.replace(
        prof.attacks, gaussian_repeats=prof.attacks.gaussian_repeats + 1))
    run()
    assert len(calls) == 16, "a setting it uses runs it again"


def test_best_start_takes_the_closest_verified_adversarial_per_sample():
    distances = {"A": torch.tensor([1.0, np.inf, 0.0, 3.0]), "B": torch.tensor([2.0, 5.0, np.inf, 1.0])}
    adv = {"A": torch.full((4, 1, 2, 2), 0.1), "B": torch.full((4, 1, 2, 2), 0.2)}
    images, found = store.best_start(distances, adv)
    assert found.tolist() == [True, True, False, True]  # distance 0: misclassified clean, no start
    assert images[:, 0, 0, 0].tolist() == pytest.approx([0.1, 0.2, 0.1, 0.2])


# The L2 Boundary Attack on the CNN starts from the best of these (the paper's attacks before it).
BOUNDARY_ORIGINS = ["Transfer Attacks", "Gaussian Noise", "FGM", "FGM w/ GE", "L2 BIM", "L2 BIM w/ GE"]


def _only_gaussian_finds(seen: dict[str, list], scale: dict[str, float]):
    """A stand-in for attack_batch: Gaussian noise finds 1 - x (scaled), the Boundary Attack returns
    its input, every other attack finds nothing; records each call's images and start."""
    def fake_attack(spec, target, x, y, budget, shared, substitute, start=None):
        seen.setdefault(spec.name, []).append((x.clone(), start))
        adv = (1 - x) * scale["value"] if spec.name == "Gaussian Noise" else x
        found = torch.full((len(x),), spec.name in ("Gaussian Noise", "Boundary Attack"))
        return verify(target.model, x, y, adv, found, spec.norm)
    return fake_attack


def test_an_attack_starts_from_the_earlier_results_of_its_batch_and_reruns_when_they_change(
        store_at, monkeypatch):
    seen: dict[str, list] = {"Gaussian Noise": [], "Boundary Attack": []}
    scale = {"value": 1.0}
    monkeypatch.setattr(store, "attack_batch", _only_gaussian_finds(seen, scale))

    def run():
        return _run(["cnn"], [*BOUNDARY_ORIGINS, "Boundary Attack"], n_samples=10, workers=1)

    frame = run()
    gaussian = frame[frame["attack"] == "Gaussian Noise"]
    found = gaussian["success"].to_numpy() & (gaussian["distance"].to_numpy() > 0)
    assert found.any(), "a random CNN gets one of the ten digits right"
    assert len(seen["Boundary Attack"]) == 5
    for b, (x, start) in enumerate(seen["Boundary Attack"]):
        assert start[1].tolist() == found[2 * b:2 * b + 2].tolist()  # its own samples' starts
        torch.testing.assert_close(start[0][start[1]], (1 - x)[start[1]])
    run()
    assert len(seen["Boundary Attack"]) == 5, "the same start: read back"
    scale["value"] = 0.9
    prof = store_at["profile"]
    store_at["profile"] = dataclasses.replace(prof, attacks=dataclasses.replace(
        prof.attacks, gaussian_repeats=prof.attacks.gaussian_repeats + 1))
    run()
    started = len({i // 2 for i in found.nonzero()[0]})
    assert len(seen["Gaussian Noise"]) == 10, "Gaussian noise reruns: a setting it uses changed"
    assert len(seen["Boundary Attack"]) == 5 + started, "only the batches whose start changed rerun"
    assert len(seen["FGM"]) == 5, "the other attacks are read back"


def test_a_rerun_of_one_attack_starts_from_the_stored_results_of_the_others_or_refuses(
        store_at, monkeypatch):
    """Asked for the Boundary Attack alone, a run starts it from what the full run stored (so it reads
    the full run's result back); without those stored results it refuses rather than start elsewhere."""
    seen: dict[str, list] = {}
    monkeypatch.setattr(store, "attack_batch", _only_gaussian_finds(seen, {"value": 1.0}))
    with pytest.raises(plan.TaskFailed, match=r"Boundary Attack starts from the results of Transfer Attacks"
                                              r" on cnn batch 0, which are not stored"):
        _run(["cnn"], ["Boundary Attack"], n_samples=4, workers=1)
    assert "Boundary Attack" not in seen
    full = _run(["cnn"], [*BOUNDARY_ORIGINS, "Boundary Attack"], n_samples=4, workers=1)
    calls = {name: len(c) for name, c in seen.items()}
    alone = _run(["cnn"], ["Boundary Attack"], n_samples=4, workers=1)
    assert {name: len(c) for name, c in seen.items()} == calls, "read back: nothing ran again"
    pd.testing.assert_frame_equal(alone, full[full["attack"] == "Boundary Attack"].reset_index(drop=True))
    again = _run(["cnn"], ["Boundary Attack"], n_samples=4, workers=1, force=True)
    assert len(seen["Boundary Attack"]) == calls["Boundary Attack"] + 2, "forced: it runs, from the store"
    assert all(start is not None for _, start in seen["Boundary Attack"])
    pd.testing.assert_frame_equal(again, alone)


def test_costly_attacks_run_on_the_first_costly_samples_and_their_pair_holds_just_those(store_at,
                                                                                       monkeypatch):
    """Boundary (costly) on the batches that start within the first 3 samples (batches of 2: samples
    0-3), Gaussian noise on all 10; Boundary starts from Gaussian noise where it runs, and the stored
    pair tables cover exactly the samples each attack ran on."""
    seen: dict[str, list] = {}
    monkeypatch.setattr(store, "attack_batch", _only_gaussian_finds(seen, {"value": 1.0}))
    prof = store_at["profile"]
    store_at["profile"] = dataclasses.replace(prof, attacks=dataclasses.replace(prof.attacks,
                                                                                 costly_samples=3))
    frame = _run(["cnn"], [*BOUNDARY_ORIGINS, "Boundary Attack"], n_samples=10, workers=1)
    assert len(seen["Gaussian Noise"]) == 5 and len(seen["FGM w/ GE"]) == 2, "FGM w/ GE is costly too"
    assert [len(x) for x, _ in seen["Boundary Attack"]] == [2, 2]
    assert all(start is not None for _, start in seen["Boundary Attack"])
    chosen = selection.select_samples(0, 10).tolist()
    ran = frame.groupby("attack")["sample"].agg(list)
    assert ran["Gaussian Noise"] == chosen and ran["Boundary Attack"] == chosen[:4]
    stored = pd.read_csv(artifacts.attack_path("smoke", "l2", "cnn", "Boundary Attack", ".csv"))
    assert stored["sample"].tolist() == chosen[:4]


def test_every_attack_depends_on_settings_that_exist():
    fields = {f.name for f in dataclasses.fields(profiles.AttackBudget)}
    for norm in ("l0", "l2", "linf"):
        for spec in select(norm):
            used = budget_fields(spec)
            assert "batch_size" in used and set(used) <= fields, spec.name
    assert "pointwise_repeats" in budget_fields(select("l0", ["Pointwise Attack"])[0])
    assert "ge_step_sizes" in budget_fields(select("linf", ["MIM w/ GE"])[0])
    assert "ge_step_sizes" not in budget_fields(select("linf", ["MIM"])[0])


def test_a_two_worker_dask_cluster_stores_what_one_process_stores(tmp_path, monkeypatch):
    """The same plan in this process and on a two-worker LocalCluster: identical per-sample results."""

    def run(where: str, workers: int):
        monkeypatch.setenv("ABSNB_ARTIFACTS", str(tmp_path / where))  # what the spawned workers read
        monkeypatch.setattr(artifacts, "ARTIFACTS_DIR", tmp_path / where)
        _networks(tmp_path / where)
        return _run(["cnn", "binary_cnn"], ["Gaussian Noise", "FGM"], n_samples=3,
                             workers=workers)

    serial, parallel = run("one", 1), run("two", 2)
    pd.testing.assert_frame_equal(serial, parallel)
    assert set(serial["model"]) == {"cnn", "binary_cnn"} and len(serial) == 2 * 2 * 3
    assert (tmp_path / "two/smoke/results/attacks/l2/binary_cnn/fgm.csv").exists()


def test_a_failing_worker_task_names_the_model_attack_and_batch(tmp_path, monkeypatch):
    monkeypatch.setenv("ABSNB_ARTIFACTS", str(tmp_path))
    monkeypatch.setattr(artifacts, "ARTIFACTS_DIR", tmp_path)
    _networks(tmp_path)
    artifacts.save_torch({"not": torch.zeros(1)}, artifacts.weights_path("smoke", "cnn"))  # not a CNN's
    with pytest.raises(plan.TaskFailed, match=r"cnn · Gaussian Noise · batch 0 \(l2, profile smoke\)"):
        _run(["cnn"], ["Gaussian Noise"], n_samples=2, workers=2)


def test_an_unreadable_weights_file_is_refused_before_any_task_naming_it(tmp_path, monkeypatch):
    monkeypatch.setattr(artifacts, "ARTIFACTS_DIR", tmp_path)
    _networks(tmp_path)
    artifacts.weights_path("smoke", "cnn").write_bytes(b"not a weights file")
    with pytest.raises(artifacts.UnreadableFile, match=r"cnn\.pt: not a readable torch file"):
        plan.plan(selection.parse_request("smoke", "l2", ["cnn"], ["Gaussian Noise"]))


class _KillFirstAttempt(WorkerPlugin):
    """A Dask worker plugin: the first attack task anywhere kills its worker process mid-task (before
    anything is written); every later one runs normally."""

    name = "kill-first-attempt"

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def setup(self, worker) -> None:
        import os
        from pathlib import Path

        from absnb.attacks import store as worker_store

        real = worker_store.attack_batch

        def attack(*args, **kwargs):
            if not Path(self.marker).exists():
                Path(self.marker).touch()
                os._exit(1)
            return real(*args, **kwargs)

        worker_store.attack_batch = attack


def test_a_task_killed_with_its_worker_leaves_no_partial_file_and_is_rerun(tmp_path, monkeypatch):
    import cloudpickle
    from distributed import Client, LocalCluster

    this = sys.modules[__name__]

    monkeypatch.setenv("ABSNB_ARTIFACTS", str(tmp_path))
    monkeypatch.setattr(artifacts, "ARTIFACTS_DIR", tmp_path)
    _networks(tmp_path)
    marker = tmp_path / "killed-once"
    cloudpickle.register_pickle_by_value(this)
    try:
        with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=":0") as cluster, \
                Client(cluster) as client:
            client.register_plugin(_KillFirstAttempt(str(marker)))
            frame = _run(["cnn"], ["Gaussian Noise"], n_samples=4,
                                  scheduler=cluster.scheduler_address)
    finally:
        cloudpickle.unregister_pickle_by_value(this)
    assert marker.exists(), "a worker was killed"
    assert len(frame) == 4 and frame["distance"].notna().all()
    assert not list(tmp_path.rglob("*.tmp*"))
    assert len(list((tmp_path / "smoke/results/attacks/l2/cnn").glob("gaussian_noise.parts/*.pt"))) == 1


def test_the_store_is_checked_against_a_full_runs_expected_results(store_at, monkeypatch):
    """After a full (fake) run of the CNN in every norm, the store is complete; a deleted image file
    is missing, a changed Boundary budget or a changed start (Gaussian noise rerun with another
    result) makes the Boundary Attack stale, a leftover table is extra, and reading refuses all of it."""
    scale = {"value": 0.5}

    def fake_attack(spec, target, x, y, budget, shared, substitute, start=None):
        """Gaussian noise "finds" x * scale (recorded as is, its distance recomputed), nothing else does."""
        found = torch.full((len(x),), spec.name == "Gaussian Noise")
        adv = torch.where(found[:, None, None, None], x * scale["value"], x)
        distance = torch.where(found, spec.norm.distance(x, adv), torch.full((len(x),), float("inf")))
        return Verified(adv, found, distance, (y + found.long()) % 10, torch.zeros_like(found),
                        found.float() * 2 - 1)

    monkeypatch.setattr(store, "attack_batch", fake_attack)
    for norm in ("l2", "linf", "l0"):
        plan.run(selection.parse_request("smoke", norm, ["cnn"]), workers=1)
    status = expected.check("smoke", models=("cnn",))
    assert status.complete and len(status.expected) == sum(
        applies(s, "cnn") for specs in ATTACKS.values() for s in specs)
    noise = artifacts.attack_path("smoke", "l2", "cnn", "Gaussian Noise", ".csv")
    table = noise.read_text()
    noise.unlink()
    status = expected.check("smoke", models=("cnn",))
    assert status.missing == ["l2/cnn/gaussian_noise"] and not status.stale
    assert "l2/cnn/boundary_attack" in status.waiting, "it starts from the best of the earlier attacks"
    noise.write_text(table)
    fgsm = artifacts.attack_path("smoke", "linf", "cnn", "FGSM", ".pt")
    fgsm.unlink()
    assert expected.check("smoke", models=("cnn",)).missing == ["linf/cnn/fgsm"]
    plan.run(selection.parse_request("smoke", "linf", ["cnn"], ["FGSM"]), workers=1)
    assert fgsm.exists(), "finish_pair rewrites a pair whose files are incomplete"
    prof = store_at["profile"]
    store_at["profile"] = dataclasses.replace(prof, attacks=dataclasses.replace(
        prof.attacks, boundary_steps=prof.attacks.boundary_steps + 1))
    assert expected.check("smoke", models=("cnn",)).stale == ["l2/cnn/boundary_attack"]
    store_at["profile"] = prof
    scale["value"] = 0.6
    _run(["cnn"], ["Gaussian Noise"], workers=1, force=True)
    assert expected.check("smoke", models=("cnn",)).stale == ["l2/cnn/boundary_attack",
                                                               "l2/cnn/brendel_bethge"], "their start changed"
    extra = artifacts.attack_path("smoke", "l2", "cnn", "Old Attack", ".csv")
    extra.write_text("model\n")
    status = expected.check("smoke", models=("cnn",))
    assert status.extra == ["l2/cnn/old_attack"] and not status.complete
    with pytest.raises(expected.IncompleteResults, match="missing .*stale .*l2/cnn/boundary_attack"):
        expected.load("smoke")
