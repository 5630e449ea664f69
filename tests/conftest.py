"""Shared test settings: the unit tests are small, so one torch thread avoids oversubscribing the CPU
(a training job may share the machine) and is faster than two contending ones; `tiny`, a smoke
profile small enough to train and score models in seconds."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from absnb import artifacts, profiles

torch.set_num_threads(1)


@pytest.fixture
def tiny(monkeypatch, tmp_path):
    """A smoke profile shrunk to 300 images, with artifacts in a temporary folder."""
    monkeypatch.setattr(artifacts, "ARTIFACTS_DIR", tmp_path)
    smoke = profiles.load("smoke")
    base = dataclasses.replace(
        smoke, train_samples=300,
        abs=dataclasses.replace(smoke.abs, epochs=1, n_samples=50, n_candidates=60, steps=1),
        binary_abs=dataclasses.replace(smoke.binary_abs, gamma_samples=20, gamma_steps=3))
    current = {"profile": base}
    monkeypatch.setattr(profiles, "load", lambda name, path=None: current["profile"])
    return current
