"""Atomic writes, safe loading of weights, and resumable training checkpoints."""

from __future__ import annotations

import collections
import os
import subprocess
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from absnb import artifacts, profiles, train


class _Custom:
    """An arbitrary Python object: a weights file must never be able to contain one."""

    def __init__(self) -> None:
        self.value = 3


def test_atomic_path_leaves_nothing_when_the_block_fails(tmp_path):
    target = tmp_path / "sub" / "file.bin"
    with pytest.raises(RuntimeError, match="boom"), artifacts.atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        assert tmp.parent == target.parent and tmp != target
        raise RuntimeError("boom")
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_atomic_path_keeps_the_old_file_when_a_rewrite_fails(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt), artifacts.atomic_path(target) as tmp:
        tmp.write_text("new, but interrupted")
        raise KeyboardInterrupt
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_atomic_path_puts_the_file_in_place_on_success(tmp_path):
    target = tmp_path / "a" / "b" / "file.txt"
    with artifacts.atomic_path(target) as tmp:
        tmp.write_text("done")
        assert not target.exists()  # nothing visible until the block succeeds
    assert target.read_text() == "done"
    assert list(target.parent.iterdir()) == [target]


def test_atomic_path_flushes_the_file_to_disk_before_it_is_renamed_into_place(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd)))
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append("replace"), real_replace(a, b)))
    artifacts.save_json({"a": 1}, tmp_path / "x.json")
    assert events[:2] == ["fsync", "replace"]


def test_stale_temporary_files_are_removed_and_fresh_ones_kept(tmp_path):
    old, young = tmp_path / "a" / ".x.pt.abc.tmp", tmp_path / ".y.json.def.tmp"
    kept = tmp_path / "a" / "x.pt"
    old.parent.mkdir()
    for path in (old, young, kept):
        path.write_bytes(b"1")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    os.utime(kept, (time.time() - 7200, time.time() - 7200))
    assert artifacts.remove_stale_tmp(tmp_path) == [old]
    assert young.exists() and kept.exists() and not old.exists()


def test_make_writes_each_executed_notebook_elsewhere_and_moves_it_into_place_when_finished():
    """A killed papermill run must not leave a half-executed notebook where make counts it as done."""
    root = Path(__file__).resolve().parents[1]
    dry = subprocess.run(["make", "-n", "-B", "artifacts/smoke/notebooks/02_clean.ipynb", "PROFILE=smoke",
                          "BIN=/nonexistent"], cwd=root, capture_output=True, text=True, check=True).stdout
    lines = [line for line in dry.splitlines() if "02_clean" in line]
    run = next(i for i, line in enumerate(lines) if line.startswith("papermill"))
    assert "artifacts/smoke/notebooks/.partial/02_clean.ipynb" in lines[run]
    assert lines[-1].startswith("mv artifacts/smoke/notebooks/.partial/02_clean.ipynb")
    assert lines[-1].endswith(" artifacts/smoke/notebooks/02_clean.ipynb")


def test_save_and_load_torch_roundtrip_a_state_dict(tmp_path):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    state = net.state_dict()
    path = tmp_path / "models" / "net.pt"
    artifacts.save_torch(state, path)
    loaded = artifacts.load_torch(path)
    assert isinstance(loaded, collections.OrderedDict)
    assert list(loaded) == list(state)
    for key in state:
        assert torch.equal(loaded[key], state[key])
    fresh = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    fresh.load_state_dict(loaded)
    x = torch.randn(2, 3)
    assert torch.equal(fresh.eval()(x), net.eval()(x))


def test_load_torch_accepts_plain_containers(tmp_path):
    obj = {"gamma": torch.ones(10), "history": [{"epoch": 1, "loss": 0.5}],
           "od": collections.OrderedDict(a=torch.zeros(2))}
    artifacts.save_torch(obj, tmp_path / "x.pt")
    loaded = artifacts.load_torch(tmp_path / "x.pt")
    assert loaded["history"] == obj["history"]
    assert torch.equal(loaded["od"]["a"], torch.zeros(2))


def test_load_torch_refuses_pickled_objects(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"weights": torch.ones(2), "payload": _Custom()}, path)
    with pytest.raises(Exception, match="(?i)weights_only|unsupported global"):
        artifacts.load_torch(path)


def test_json_and_csv_writers_are_readable_back(tmp_path):
    import pandas as pd

    artifacts.save_json({"a": [1, 2.5]}, tmp_path / "r" / "x.json")
    assert artifacts.load_json(tmp_path / "r" / "x.json") == {"a": [1, 2.5]}
    frame = pd.DataFrame({"model": ["cnn"], "accuracy": [0.99]})
    artifacts.save_csv(frame, tmp_path / "r" / "t.csv")
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "r" / "t.csv"), frame)


def test_artifact_paths_follow_the_documented_layout(monkeypatch, tmp_path):
    monkeypatch.setattr(artifacts, "ARTIFACTS_DIR", tmp_path)
    assert artifacts.weights_path("smoke", "cnn") == tmp_path / "smoke" / "models" / "cnn.pt"
    assert artifacts.log_path("smoke", "cnn") == tmp_path / "smoke" / "logs" / "cnn.json"
    assert artifacts.checkpoint_path("smoke", "cnn") == tmp_path / "smoke" / "checkpoints" / "cnn.pt"
    assert artifacts.results_path("smoke", "a.csv") == tmp_path / "smoke" / "results" / "a.csv"


# --- resumable training -----------------------------------------------------------------------


class _Interrupted(Exception):
    pass


def _epoch_runner(net: nn.Module, opt: torch.optim.Optimizer, calls: list[int], fail_on: int | None,
                  snapshots: list[dict]):
    """A fake epoch: one Adam step on a fixed regression batch; raises on call number `fail_on`."""
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(16, 3, generator=gen), torch.randn(16, 2, generator=gen)

    def run_epoch(epoch: int) -> dict[str, float]:
        calls.append(epoch)
        if fail_on is not None and len(calls) == fail_on:
            raise _Interrupted
        assert net.training
        loss = (net(x) - y).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        snapshots.append({k: v.clone() for k, v in net.state_dict().items()})
        return {"loss": loss.item()}

    return run_epoch


def _model_and_opt(seed: int):
    torch.manual_seed(seed)
    net = nn.Linear(3, 2)
    return net, torch.optim.Adam(net.parameters(), lr=0.1)


def test_fit_resumes_from_the_last_finished_epoch(monkeypatch, tmp_path):
    monkeypatch.setattr(artifacts, "ARTIFACTS_DIR", tmp_path)
    ckpt = artifacts.checkpoint_path("unit", "linear")
    assert tmp_path in ckpt.parents

    net, opt = _model_and_opt(0)
    calls: list[int] = []
    snaps: list[dict] = []
    with pytest.raises(_Interrupted):
        train._fit(net, opt, 3, ckpt, _epoch_runner(net, opt, calls, fail_on=3, snapshots=snaps))
    assert calls == [0, 1, 2] and len(snaps) == 2
    assert ckpt.exists()
    assert [p.name for p in ckpt.parent.iterdir()] == [ckpt.name]  # no temp files left
    saved = artifacts.load_torch(ckpt)
    assert [h["epoch"] for h in saved["history"]] == [1, 2]

    fresh, fresh_opt = _model_and_opt(1)  # other initial weights: they must be overwritten
    assert not torch.equal(fresh.weight, snaps[-1]["weight"])
    calls2: list[int] = []
    loaded: dict = {}

    def first_epoch_sees_checkpoint(epoch: int) -> dict[str, float]:
        if not loaded:
            loaded.update({k: v.clone() for k, v in fresh.state_dict().items()})
            loaded["adam_steps"] = fresh_opt.state[fresh.weight]["step"].item()
        return resumed_runner(epoch)

    resumed_runner = _epoch_runner(fresh, fresh_opt, calls2, fail_on=None, snapshots=snaps)
    history = train._fit(fresh, fresh_opt, 3, ckpt, first_epoch_sees_checkpoint)
    assert calls2 == [2]  # only the remaining epoch ran
    for key in ("weight", "bias"):
        assert torch.equal(loaded[key], snaps[1][key])  # resumed from the weights after epoch 2
    assert loaded["adam_steps"] == 2  # and from the optimiser state after epoch 2
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert history[:2] == saved["history"]
    assert all({"loss", "seconds"} <= set(h) for h in history)
    assert not fresh.training  # _fit leaves the model in eval mode


def test_resumed_training_equals_uninterrupted_training(monkeypatch, tmp_path):
    """Interrupt-and-resume reaches exactly the weights of a run that was never interrupted."""
    monkeypatch.setattr(artifacts, "ARTIFACTS_DIR", tmp_path)
    net, opt = _model_and_opt(0)
    snaps: list[dict] = []
    train._fit(net, opt, 3, artifacts.checkpoint_path("unit", "straight"),
               _epoch_runner(net, opt, [], fail_on=None, snapshots=snaps))

    ckpt = artifacts.checkpoint_path("unit", "resumed")
    net1, opt1 = _model_and_opt(0)
    with pytest.raises(_Interrupted):
        train._fit(net1, opt1, 3, ckpt, _epoch_runner(net1, opt1, [], fail_on=2, snapshots=[]))
    net2, opt2 = _model_and_opt(5)
    train._fit(net2, opt2, 3, ckpt, _epoch_runner(net2, opt2, [], fail_on=None, snapshots=[]))
    assert torch.equal(net2.weight, net.weight) and torch.equal(net2.bias, net.bias)


def test_fit_with_a_complete_checkpoint_runs_no_epoch(monkeypatch, tmp_path):
    monkeypatch.setattr(artifacts, "ARTIFACTS_DIR", tmp_path)
    ckpt = artifacts.checkpoint_path("unit", "done")
    net, opt = _model_and_opt(0)
    train._fit(net, opt, 2, ckpt, _epoch_runner(net, opt, [], fail_on=None, snapshots=[]))
    calls: list[int] = []
    fresh, fresh_opt = _model_and_opt(3)
    history = train._fit(fresh, fresh_opt, 2, ckpt, _epoch_runner(fresh, fresh_opt, calls, None, []))
    assert calls == [] and len(history) == 2
    assert torch.equal(fresh.weight, net.weight)


def test_train_reuses_existing_weights_and_log(monkeypatch, tmp_path):
    """A rerun returns the saved log and trains nothing (no recipe is called)."""
    monkeypatch.setattr(artifacts, "ARTIFACTS_DIR", tmp_path)
    artifacts.save_torch({}, artifacts.weights_path("smoke", "cnn"))
    stored = {"model": "cnn", "history": [], "config": train.config_of(profiles.load("smoke"), "cnn")}
    artifacts.save_json(stored, artifacts.log_path("smoke", "cnn"))

    def no_training(*args):
        raise AssertionError("trained although weights and log exist")

    monkeypatch.setitem(train.RECIPES, "cnn", no_training)
    assert train.train("cnn", "smoke") == stored
    with pytest.raises(ValueError, match="valid models"):
        train.train("resnet", "smoke")
