"""Dependencies are pinned in one place (requirements.lock), which environment.yml and the
Makefile use, and the installed environment is the pinned one."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[re.sub(r"[-_.]+", "-", name.lower())] = version.strip()
    return pins


def test_key_pins():
    pins = _lock()
    assert pins["torch"] == "2.13.0"
    assert pins["foolbox"] == "3.3.4"
    assert pins["jupyter-book"].startswith("1.0.")
    assert int(pins["scipy"].split(".")[0]) < 2
    for name in ("numba", "jupytext", "papermill", "seaborn", "pandas", "tqdm", "pytest"):
        assert name in pins, f"{name} is not pinned"


def test_every_top_level_requirement_is_pinned():
    pins = _lock()
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        name = re.split(r"[<>=!~ ]", line.strip(), maxsplit=1)[0]
        if name and not name.startswith("#"):
            assert re.sub(r"[-_.]+", "-", name.lower()) in pins, f"{name} missing from the lock"


def test_installed_versions_match_the_lock():
    mismatched = {}
    for name, version in _lock().items():
        installed = metadata.version(name).split("+")[0]
        if installed != version:
            mismatched[name] = (installed, version)
    assert not mismatched, f"installed vs pinned: {mismatched}"


def test_environment_yml_installs_the_lock():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    assert any(str(d).startswith("python=3.11") for d in deps)
    pip = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    assert "-r requirements.lock" in pip
    assert "requirements.lock" in (ROOT / "Makefile").read_text()
