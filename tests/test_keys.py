"""Stored results are keyed by what they depend on, and by nothing else: an ABS inference change
re-keys the ABS models' results but retrains nothing, a fix to one attack family re-keys only that
family, the substitute keys only transfer, and identical weights saved twice have one digest."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from absnb import artifacts, profiles, train
from absnb.attacks import store
from absnb.attacks.registry import select
from absnb.evaluate import scoring_settings
from absnb.models import inference_key, weights_digest
from absnb.models.cnn import CNN
from absnb.models.vae import VAE

SMOKE = profiles.load("smoke")
DIGESTS = {"abs": "w-abs", "cnn": "w-cnn", "substitute": "w-sub"}


def _key(spec_name: str, norm: str, model: str, prof: profiles.Profile = SMOKE,
         digests: dict[str, str] = DIGESTS) -> str:
    spec, = select(norm, [spec_name])
    settings = store.pair_settings(spec.norm, spec, prof.budget(model), digests, model,
                                   inference_key(prof, model))
    return store.fingerprint(samples=[1, 2], **settings)


def _other_inference() -> profiles.Profile:
    return dataclasses.replace(SMOKE, abs=dataclasses.replace(SMOKE.abs, steps=SMOKE.abs.steps + 1))


@pytest.fixture
def store_at(tmp_path, monkeypatch):
    monkeypatch.setattr(artifacts, "ARTIFACTS_DIR", tmp_path)
    return tmp_path


def test_an_abs_inference_change_rekeys_its_results_but_retrains_nothing(store_at):
    other = _other_inference()
    for attack, norm in (("DDN", "l2"), ("Latent Descent", "linf"), ("Boundary Attack", "l2")):
        assert _key(attack, norm, "abs") != _key(attack, norm, "abs", other), attack
    assert _key("DDN", "l2", "cnn") == _key("DDN", "l2", "cnn", other), "other models keep their keys"
    assert scoring_settings(SMOKE, "abs") != scoring_settings(other, "abs")
    assert scoring_settings(SMOKE, "abs_released") != scoring_settings(other, "abs_released")
    assert train.config_of(SMOKE, "abs") == train.config_of(other, "abs"), "ABS is not retrained"
    vaes = torch.nn.ModuleList(VAE() for _ in range(10))
    artifacts.save_torch(vaes.state_dict(), artifacts.weights_path("smoke", "abs"))
    assert train.config_of(SMOKE, "binary_abs") != train.config_of(other, "binary_abs"), \
        "Binary ABS's scalars are fitted on the inference: refitted"


def test_a_fix_to_one_attack_family_rekeys_only_that_family(monkeypatch):
    before = {a: _key(a, n, "cnn") for a, n in (("Pointwise Attack", "l0"), ("FGM", "l2"), ("DDN", "l2"))}
    monkeypatch.setitem(store.VERSIONS, "minimization", store.VERSIONS["minimization"] + 1)
    after = {a: _key(a, n, "cnn") for a, n in (("Pointwise Attack", "l0"), ("FGM", "l2"), ("DDN", "l2"))}
    assert before["Pointwise Attack"] != after["Pointwise Attack"]
    assert before["FGM"] == after["FGM"] and before["DDN"] == after["DDN"]
    monkeypatch.setattr(store, "VERIFY_VERSION", store.VERIFY_VERSION + 1)
    assert before["FGM"] != _key("FGM", "l2", "cnn"), "a change to the verification re-keys everything"


def test_the_substitute_keys_the_transfer_attack_and_its_shared_work_only(tmp_path):
    other = DIGESTS | {"substitute": "another"}
    assert _key("Transfer Attacks", "l2", "cnn") != _key("Transfer Attacks", "l2", "cnn", digests=other)
    for attack, norm in (("Gaussian Noise", "l2"), ("FGM w/ GE", "l2"), ("DDN", "l2")):
        assert _key(attack, norm, "cnn") == _key(attack, norm, "cnn", digests=other), attack
    base = {"samples": [1, 2], "weights": "w", "inference": None}
    one, two = store.DiskShared(tmp_path, base, False, "s1"), store.DiskShared(tmp_path, base, False, "s2")
    assert one._path("transfer/directions/3") != two._path("transfer/directions/3")
    assert one._path("latent_descent/abs/300-8") == two._path("latent_descent/abs/300-8")
    assert one._path("estimator/abs/0.1") == two._path("estimator/abs/0.1")
    with pytest.raises(ValueError, match="substitute"):
        store.DiskShared(tmp_path, base, False)._path("transfer/directions/3")


def test_identical_weights_saved_twice_have_one_digest(store_at):
    torch.manual_seed(0)
    state = CNN().state_dict()
    path = artifacts.weights_path("smoke", "cnn")
    artifacts.save_torch(state, path)
    first_bytes, first = path.read_bytes(), weights_digest("smoke", "cnn")
    artifacts.save_torch({k: v.clone() for k, v in state.items()}, path)
    assert path.read_bytes() != first_bytes, "torch.save writes the temporary file's name into the archive"
    assert weights_digest("smoke", "cnn") == first
    state["fc.weight" if "fc.weight" in state else next(iter(state))].view(-1)[0] += 1e-3
    artifacts.save_torch(state, path)
    assert weights_digest("smoke", "cnn") != first


def test_nearest_neighbour_is_keyed_by_its_training_set_size(store_at, monkeypatch):
    artifacts.save_torch({}, artifacts.weights_path("smoke", "nearest"))
    first = weights_digest("smoke", "nearest")
    bigger = dataclasses.replace(SMOKE, train_samples=SMOKE.train_samples + 1)
    monkeypatch.setattr(profiles, "load", lambda name, path=None: bigger)
    assert weights_digest("smoke", "nearest") != first


def test_training_stores_the_weights_before_the_log(store_at, monkeypatch):
    """A log means finished weights: a run killed between the two writes leaves no log."""
    order = []
    save_torch, save_json = artifacts.save_torch, artifacts.save_json
    for name, save in (("save_torch", save_torch), ("save_json", save_json)):
        monkeypatch.setattr(artifacts, name,
                            lambda obj, path, save=save: (order.append(path), save(obj, path)))
    train.train("nearest", "smoke")
    weights, log = artifacts.weights_path("smoke", "nearest"), artifacts.log_path("smoke", "nearest")
    assert order.index(weights) < order.index(log)
