"""The authors' released ABS weights: verified on load, mapped one to one onto our VAE, and, in our
inference with the paper's settings, a model of ~99% accuracy whose envelope gradient is right."""

from __future__ import annotations

import shutil

import pytest
import torch

from absnb import data, profiles
from absnb.attacks.registry import select
from absnb.attacks.run import SoftmaxLogits, Target, adaptive_logits
from absnb.attacks.store import pair_settings
from absnb.data import DataIntegrityError
from absnb.evaluate import scoring_settings
from absnb.models import ABS, load, released, weights_digest
from absnb.models.abs import InferenceConfig
from absnb.models.envelope import envelope_check, envelope_summary


@pytest.fixture()
def copy(tmp_path):
    """A copy of data/released to damage."""
    target = tmp_path / "released"
    shutil.copytree(released.RELEASED_DIR, target)
    return target


def test_the_shipped_files_have_their_digests_and_license():
    assert set(released.expected_digests()) == set(released.FILES)
    assert len(released.digest()) == 64
    assert "Apache License" in (released.RELEASED_DIR / "LICENSE").read_text()
    assert "daa5a3d" in (released.RELEASED_DIR / "NOTICE").read_text()


def test_a_corrupted_file_is_refused_naming_it_and_how_to_restore_it(copy):
    path = copy / "ABS_3.net"
    raw = bytearray(path.read_bytes())
    raw[1000] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(DataIntegrityError, match=r"ABS_3\.net: SHA-256 .*git checkout"):
        released.load_vaes(copy)
    released.verified_bytes("ABS_2.net", copy)  # the others still load


def test_a_missing_file_is_an_error_naming_it(copy):
    (copy / "ABS_7.net").unlink()
    with pytest.raises(DataIntegrityError, match=r"ABS_7\.net: the released ABS weights file is missing"):
        released.digest(copy)


def _original() -> dict[str, torch.Tensor]:
    return torch.load(released.RELEASED_DIR / "ABS_0.net", map_location="cpu", weights_only=True)


def test_every_tensor_maps_onto_our_vae_unchanged():
    original = _original()
    state = released.convert_state(original)
    assert torch.equal(state["encoder.0.weight"], original["Encoder.conv_0.weight"])
    assert torch.equal(state["encoder.4.running_var"], original["Encoder.bn_1.running_var"])
    assert torch.equal(state["decoder.net.9.weight"], original["Decoder.conv_3.weight"])
    assert torch.equal(state["decoder.net.7.bias"], original["Decoder.bn_2.bias"])
    vae = released.load_vaes()[0]
    assert torch.equal(vae.decoder.net[3].weight, original["Decoder.conv_1.weight"])


def test_a_missing_or_extra_tensor_is_an_error():
    original = _original()
    missing = {k: v for k, v in original.items() if k != "Decoder.bn_1.running_mean"}
    with pytest.raises(DataIntegrityError, match=r"missing \['decoder.net.4.running_mean'\]"):
        released.convert_state(missing)
    with pytest.raises(DataIntegrityError, match="unexpected tensor 'Decoder.conv_4.weight'"):
        released.convert_state(original | {"Decoder.conv_4.weight": torch.zeros(1)})
    with pytest.raises(DataIntegrityError, match="unexpected tensor 'Classifier.weight'"):
        released.convert_state(original | {"Classifier.weight": torch.zeros(1)})
    wrong = original | {"Encoder.conv_0.weight": torch.zeros(32, 1, 3, 3)}
    with pytest.raises(DataIntegrityError, match="shape"):
        released.convert_state(wrong)


@pytest.fixture(scope="module")
def paper_abs() -> ABS:
    """The released VAEs in our inference with the paper's settings (8,000 bank latents, 50 steps)."""
    return ABS(released.load_vaes(), InferenceConfig()).eval()


def test_released_abs_with_the_papers_settings_classifies_the_first_100_test_images(paper_abs):
    x, y = data.load_split("test")
    with torch.no_grad():
        correct = (paper_abs(x[:100]).argmax(1) == y[:100]).sum().item()
    assert correct >= 98


def test_the_envelope_gradient_holds_on_the_released_abs(paper_abs):
    """Finite differences of the full inference (bank start + 50 Adam steps) against the envelope
    gradient on real digits: on trained decoders the search converges, so they agree."""
    x = data.load_split("test")[0][:3]
    s = envelope_summary(envelope_check(paper_abs, x, directions=2))
    assert s["median relative error"] < 0.1
    assert 0.9 < s["median ratio"] < 1.1
    assert s["rank correlation"] > 0.9


def test_the_released_models_load_by_name_with_the_authors_gamma():
    smoke = profiles.load("smoke")
    model = load("binary_abs_released", smoke)
    assert model.binary and model.gamma.tolist() == pytest.approx(released.GAMMA)
    plain = load("abs_released", smoke)
    assert not plain.binary and torch.equal(plain.gamma, torch.ones(10))
    assert weights_digest("smoke", "abs_released") == released.digest()


def test_adaptive_attacks_see_the_softmax_logits_of_abs_models_only(paper_abs):
    x = data.load_split("test")[0][:2]
    wrapped = adaptive_logits(Target("abs_released", paper_abs))
    assert isinstance(wrapped, SoftmaxLogits)
    with torch.no_grad():
        logits, scaled = paper_abs(x), wrapped(x)
    torch.testing.assert_close(scaled, 440.0 * logits)
    torch.testing.assert_close(torch.softmax(scaled, 1), paper_abs.probabilities(x))
    cnn = torch.nn.Linear(784, 10)
    assert adaptive_logits(Target("cnn", cnn)) is cnn


def test_abs_results_are_keyed_by_the_inference_settings():
    smoke = profiles.load("smoke")
    ddn, = select("l2", ["DDN"])
    digests = {"abs_released": "w", "substitute": "s"}
    plain = pair_settings("l2", ddn, smoke.budget("abs_released"), digests, "abs_released")
    keyed = pair_settings("l2", ddn, smoke.budget("abs_released"), digests, "abs_released", {"steps": 5})
    assert "inference" not in plain and keyed["inference"] == {"steps": 5} and keyed["logits"] == "softmax"
    scored = scoring_settings(smoke, "abs_released")
    assert scored["inference"]["steps"] == smoke.abs.steps and scored["inference"]["n_samples"] == 400
