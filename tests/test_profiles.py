"""Run profiles: all load, malformed ones are refused by name, the default follows the paper's ABS."""

from __future__ import annotations

import dataclasses
import re

import pytest

from absnb import profiles
from absnb.profiles import ProfileError

TOML = profiles.PROFILES_FILE.read_text()


def _variant(tmp_path, old: str, new: str):
    """A copy of the real profiles.toml with the first `old` in the [default] section replaced."""
    head, default = TOML.split("[default]", 1)
    body, tail = default.split("[paper]", 1)
    assert old in body, old
    path = tmp_path / "profiles.toml"
    path.write_text(head + "[default]" + body.replace(old, new, 1) + "[paper]" + tail)
    return path


def test_available_profiles_are_smoke_default_paper():
    assert profiles.available() == ["smoke", "default", "paper"]


@pytest.mark.parametrize("name", profiles.available())
def test_every_profile_loads_fully_typed(name):
    prof = profiles.load(name)
    assert prof.name == name
    for section in ("cnn", "binary_cnn", "substitute", "madry", "abs", "binary_abs"):
        cfg = getattr(prof, section)
        for field in dataclasses.fields(cfg):
            value = getattr(cfg, field.name)
            assert type(value).__name__ == field.type, (section, field.name, value)


def test_unknown_profile_lists_the_valid_names():
    with pytest.raises(ProfileError) as info:
        profiles.load("fast")
    message = str(info.value)
    assert "'fast'" in message
    for name in ("smoke", "default", "paper"):
        assert name in message


def test_unmodified_copy_loads_identically(tmp_path):
    path = tmp_path / "profiles.toml"
    path.write_text(TOML)
    assert profiles.load("default", path=path) == profiles.load("default")


@pytest.mark.parametrize(
    ("old", "new", "offending"),
    [
        ("eval_batch_size = 100\n", "", "eval_batch_size"),  # missing top-level key
        ("steps = 50, ", "", "steps"),  # missing nested key
        ("eval_batch_size = 100\n", "eval_batch_size = 100\nworkers = 4\n", "workers"),  # unknown key
        ("radius = 5.0,", "radius = 5.0, radus = 5.0,", "radus"),  # unknown nested key (a typo)
        ("train_samples = 60000", 'train_samples = "60000"', "train_samples"),  # string for int
        ("n_samples = 8000", "n_samples = true", "n_samples"),  # bool for int
        ("alpha = 440.0", "alpha = false", "alpha"),  # bool for float
        ("n_samples = 8000", "n_samples = 8000.0", "n_samples"),  # float for int
        ("gamma_steps = 41", "gamma_steps = -41", "gamma_steps"),  # negative int
        ("lr = 0.002", "lr = -0.002", "lr"),  # negative float
        ('lr_schedule = "cyclic"', 'lr_schedule = "cyclical"', "lr_schedule"),  # not one of the choices
        ("cnn = { epochs = 6, batch_size = 128, lr = 0.002 }", "cnn = 6", "cnn"),  # not a table
    ],
)
def test_malformed_profile_is_refused_naming_the_setting(tmp_path, old, new, offending):
    path = _variant(tmp_path, old, new)
    with pytest.raises(ProfileError) as info:
        profiles.load("default", path=path)
    assert re.search(rf"\b{offending}\b", str(info.value)), str(info.value)
    profiles.load("smoke", path=path)  # the other profiles of the file are unaffected


def test_integer_is_accepted_where_a_float_is_expected(tmp_path):
    path = _variant(tmp_path, "radius = 5.0", "radius = 5")
    radius = profiles.load("default", path=path).abs.radius
    assert radius == 5.0 and isinstance(radius, float)


def test_default_profile_uses_the_papers_abs_inference_and_full_data():
    prof = profiles.load("default")
    a = prof.abs
    assert (a.n_samples, a.n_candidates, a.steps) == (8000, 8888, 50)
    assert a.inference_lr == 0.05
    assert a.radius == 5.0
    assert a.alpha == 440.0
    assert prof.train_samples == 60000
    assert prof.eval_samples == 10000


def test_paper_profile_matches_default_abs_inference():
    """Only training length differs between default and paper; inference is the paper's in both."""
    d, p = profiles.load("default").abs, profiles.load("paper").abs
    keys = ("n_samples", "n_candidates", "steps", "inference_lr", "radius", "alpha")
    assert [getattr(d, k) for k in keys] == [getattr(p, k) for k in keys]


@pytest.mark.parametrize("name", profiles.available())
def test_gamma_grid_contains_one(name):
    """The Binary ABS gamma grid is centred on 1 so 'no rescaling' is a candidate."""
    b = profiles.load(name).binary_abs
    assert b.gamma_min <= 1.0 <= b.gamma_max
    assert b.gamma_steps % 2 == 1 and b.gamma_min + b.gamma_max == pytest.approx(2.0)


def _with_variants(tmp_path, text: str):
    """A copy of the real profiles.toml with its [variants] replaced by `text`."""
    path = tmp_path / "profiles.toml"
    path.write_text(TOML.split("[variants.", 1)[0] + text)
    return path


def test_a_variant_changes_only_its_settings_and_has_its_own_name(tmp_path):
    path = _with_variants(tmp_path, '[variants.kl1]\ndescription = "KL weight 1"\n'
                                    "abs = { kl_start = 1.0, epochs = 30 }\n")
    base, variant = profiles.load("default", path=path), profiles.load("default+kl1", path=path)
    assert variant.name == "default+kl1" and "variant kl1: KL weight 1" in variant.description
    assert (variant.abs.kl_start, variant.abs.epochs) == (1.0, 30)
    assert dataclasses.replace(variant.abs, kl_start=base.abs.kl_start, epochs=base.abs.epochs) == base.abs
    assert dataclasses.replace(variant, name="default", description=base.description,
                               abs=base.abs) == base
    assert profiles.available(path) == ["smoke", "default", "paper"]  # a variant is not a profile
    assert list(profiles.variants(path)) == ["kl1"]


def test_the_shipped_variants_load_on_every_profile():
    for name in profiles.variants():
        for base in profiles.available():
            assert profiles.load(f"{base}+{name}").name == f"{base}+{name}"


def test_an_unknown_or_malformed_variant_is_refused(tmp_path):
    path = _with_variants(tmp_path, '[variants.typo]\ndescription = "x"\nabs = { kl_strat = 1.0 }\n')
    with pytest.raises(ProfileError, match="kl_strat"):
        profiles.load("default+typo", path=path)
    with pytest.raises(ProfileError, match="unknown variant 'kl2'; valid variants: typo"):
        profiles.load("default+kl2", path=path)
    with pytest.raises(ProfileError, match="unknown profile 'variants'"):
        profiles.load("variants", path=path)


def test_an_optional_setting_may_be_left_out_and_stays_out_of_the_training_fingerprint(tmp_path):
    prof = profiles.load("default")
    assert prof.abs.posterior_mean == "linear"  # not in profiles.toml: the default
    assert "posterior_mean" not in profiles.training_settings(prof.abs), "earlier weights stay valid"
    from absnb import evaluate
    for model in ("abs", "binary_abs"):  # and so do the scores and inference records stored for them
        assert "posterior_mean" not in str(evaluate.scoring_settings(prof, model))
    path = _variant(tmp_path, "radius = 5.0,", 'radius = 5.0, posterior_mean = "tanh",')
    tanh = profiles.load("default", path=path).abs
    assert profiles.training_settings(tanh)["posterior_mean"] == "tanh"
    relu = _variant(tmp_path, "radius = 5.0,", 'radius = 5.0, posterior_mean = "relu",')
    with pytest.raises(ProfileError, match="posterior_mean"):
        profiles.load("default", path=relu)
