"""train(): stored weights are reused only while the settings they were trained with still hold."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from absnb import artifacts, train
from absnb.models.abs import decode_bank


def test_weights_are_reused_while_settings_hold(tiny):
    first = train.train("cnn", "smoke")
    weights = artifacts.weights_path("smoke", "cnn")
    stamp = weights.stat().st_mtime_ns
    again = train.train("cnn", "smoke")
    assert again == first and weights.stat().st_mtime_ns == stamp


def test_changed_settings_retrain(tiny):
    train.train("cnn", "smoke")
    prof = tiny["profile"]
    tiny["profile"] = dataclasses.replace(prof, cnn=dataclasses.replace(prof.cnn, epochs=2))
    log = train.train("cnn", "smoke")
    assert log["config"]["epochs"] == 2 and len(log["history"]) == 2


def test_binary_abs_refits_when_abs_weights_change(tiny):
    train.train("abs", "smoke")
    first = train.train("binary_abs", "smoke")
    train.train("abs", "smoke", force=True, seed=1)
    second = train.train("binary_abs", "smoke")
    assert first["config"]["abs_weights_sha256"] != second["config"]["abs_weights_sha256"]


def test_binary_abs_needs_abs_first(tiny):
    with pytest.raises(FileNotFoundError, match="make train-abs PROFILE=smoke"):
        train.train("binary_abs", "smoke")


def test_clean_score_is_reused_only_for_the_weights_it_scored(tiny):
    from absnb import evaluate
    from absnb.models.cnn import CNN

    artifacts.save_torch(CNN().state_dict(), artifacts.weights_path("smoke", "cnn"))
    first = evaluate.score_model("cnn", "smoke")
    stamp = artifacts.results_path("smoke", "clean/cnn.json").stat().st_mtime_ns
    assert evaluate.score_model("cnn", "smoke") == first
    assert artifacts.results_path("smoke", "clean/cnn.json").stat().st_mtime_ns == stamp
    train.train("cnn", "smoke")  # new weights: the stored score no longer describes them
    retrained = evaluate.score_model("cnn", "smoke")
    assert retrained["weights_sha256"] != first["weights_sha256"]
    assert retrained["accuracy"] > first["accuracy"] + 0.3, "the trained CNN is scored, not the random one"


def test_abs_logs_held_out_accuracy_and_caches_its_decoded_bank(tiny):
    from absnb import models

    log = train.train("abs", "smoke")
    assert all(0 <= h["holdout_bank_accuracy"] <= 1 for h in log["history"])
    assert log["holdout"] == tiny["profile"].abs.holdout and 0 <= log["holdout_accuracy"] <= 1
    prof = tiny["profile"]
    first = models.load("abs", prof)
    cached = list(artifacts.cache_path("smoke", "").glob("abs_bank_*.pt"))
    assert len(cached) == 1
    again = models.load("abs", prof)  # the second load reads the cache
    assert torch.equal(again.bank_x, first.bank_x)
    fresh = decode_bank(again.stacked, again.bank_z)
    torch.testing.assert_close(again.bank_x, fresh, rtol=0, atol=1e-6)
    train.train("abs", "smoke", force=True, seed=1)  # new weights: a new cache entry, not the old bank
    retrained = models.load("abs", prof)
    assert len(list(artifacts.cache_path("smoke", "").glob("abs_bank_*.pt"))) == 2
    torch.testing.assert_close(retrained.bank_x, decode_bank(retrained.stacked, retrained.bank_z),
                               rtol=0, atol=1e-6)
    assert not torch.equal(retrained.bank_x, first.bank_x)


def test_cyclic_lr_rises_to_its_peak_at_40_percent_and_falls_to_zero():
    net = torch.nn.Linear(2, 2)
    opt = torch.optim.SGD(net.parameters(), lr=1.0)
    lrs = []
    for step in range(101):
        train._cyclic_lr(opt, 0.5, step, 100)
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs[0] == 0 and lrs[40] == pytest.approx(0.5) and lrs[100] == pytest.approx(0.0)
    assert lrs[20] == pytest.approx(0.25) and lrs[70] == pytest.approx(0.25)
    assert max(lrs) == lrs[40]


def test_fit_keeps_the_epoch_with_the_best_selected_metric_across_a_resume(tmp_path):
    """Against catastrophic overfitting: the net ends with the weights of its best epoch."""
    net = torch.nn.Linear(1, 1, bias=False)
    opt = torch.optim.SGD(net.parameters(), lr=0.0)
    scores = [0.2, 0.9, 0.4, 0.1]

    def run_epoch(epoch: int) -> dict:
        with torch.no_grad():
            net.weight.fill_(float(epoch))  # the weights say which epoch made them
        return {"robust": scores[epoch]}

    ckpt = tmp_path / "ckpt.pt"
    train._fit(net, opt, 2, ckpt, run_epoch, select="robust")  # interrupted after two epochs
    history = train._fit(net, opt, 4, ckpt, run_epoch, select="robust")  # resumed
    assert net.weight.item() == 1.0, "epoch 2 (index 1) had the best score"
    assert [h["kept"] for h in history] == [False, True, False, False]


def test_madry_logs_held_out_pgd_accuracy_per_epoch_and_keeps_the_best(tiny):
    smoke = tiny["profile"]
    tiny["profile"] = dataclasses.replace(smoke, madry=dataclasses.replace(smoke.madry, holdout=50, epochs=2))
    log = train.train("madry", "smoke")
    history = log["history"]
    assert [h["epoch"] for h in history] == [1, 2] and sum(h["kept"] for h in history) == 1
    assert all(0 <= h["holdout_pgd_accuracy"] <= h["holdout_accuracy"] <= 1 for h in history)
    best = max(history, key=lambda h: h["holdout_pgd_accuracy"])
    assert log["kept_epoch"] == best["epoch"] and log["holdout"] == 50


def test_madry_evaluation_settings_rescore_without_retraining(tiny):
    """The clean page's PGD budgets decide the score, not the weights: changing them keeps the weights
    and scores again; changing the training's own PGD retrains."""
    from absnb import evaluate

    smoke = tiny["profile"]
    cheap = dataclasses.replace(smoke.madry, holdout=0, epochs=1, eval_pgd_samples=20,
                                eval_restart_samples=10)
    tiny["profile"] = dataclasses.replace(smoke, eval_samples=20, madry=cheap)
    first = train.train("madry", "smoke")
    scored = evaluate.score_model("madry", "smoke")
    more = dataclasses.replace(cheap, eval_restarts=cheap.eval_restarts + 1, eval_restart_samples=20)
    tiny["profile"] = dataclasses.replace(tiny["profile"], madry=more)
    assert train.train("madry", "smoke") == first, "an evaluation budget retrained the weights"
    rescored = evaluate.score_model("madry", "smoke")
    assert rescored["weights_sha256"] == scored["weights_sha256"]
    assert (scored["restarts_samples"], rescored["restarts_samples"]) == (10, 20)
    assert rescored["restarts"] == cheap.eval_restarts + 1
    tiny["profile"] = dataclasses.replace(tiny["profile"], madry=dataclasses.replace(more, pgd_steps=1))
    assert train.train("madry", "smoke")["config"]["pgd_steps"] == 1


def test_binary_abs_rescores_when_the_abs_inference_changes(tiny):
    """Binary ABS's inference settings live in the ABS section: a stored score computed with 1 Adam
    step must not stand for a 2-step inference, even with the same weights files."""
    from absnb import evaluate

    tiny["profile"] = dataclasses.replace(tiny["profile"], eval_samples=8)
    train.train("abs", "smoke")
    train.train("binary_abs", "smoke")
    scored = evaluate.score_model("binary_abs", "smoke")
    two = dataclasses.replace(tiny["profile"].abs, steps=2)
    tiny["profile"] = dataclasses.replace(tiny["profile"], abs=two)
    rescored = evaluate.score_model("binary_abs", "smoke")
    assert rescored["weights_sha256"] == scored["weights_sha256"]
    assert (scored["settings"]["abs"]["steps"], rescored["settings"]["abs"]["steps"]) == (1, 2)
    # a model on its own keeps the flat layout, so its stored scores stay valid
    assert "abs" not in evaluate.scoring_settings(tiny["profile"], "madry")


def test_an_interrupted_run_is_resumed_only_under_its_own_settings(tiny, monkeypatch):
    calls = []
    real_fit = train._fit

    def interrupted_fit(net, opt, epochs, ckpt, run_epoch, seed=0, select=None):
        calls.append(ckpt.exists())
        real_fit(net, opt, 1, ckpt, run_epoch, seed, select)  # one epoch, then "killed"
        raise KeyboardInterrupt

    monkeypatch.setattr(train, "_fit", interrupted_fit)
    with pytest.raises(KeyboardInterrupt):
        train.train("cnn", "smoke")
    with pytest.raises(KeyboardInterrupt):
        train.train("cnn", "smoke")  # same settings: resumes the checkpoint
    smoke = tiny["profile"]
    tiny["profile"] = dataclasses.replace(smoke, cnn=dataclasses.replace(smoke.cnn, lr=smoke.cnn.lr / 2))
    monkeypatch.setattr(train, "_fit", real_fit)
    seen = []
    monkeypatch.setattr(artifacts, "load_torch", lambda path, *a, **k: seen.append(path) or {})
    log = train.train("cnn", "smoke")  # other settings: starts afresh, never reads the checkpoint
    assert calls == [False, True] and not seen and len(log["history"]) == smoke.cnn.epochs
    assert not artifacts.checkpoint_path("smoke", "cnn").exists()
