"""The kept reference run (reference/default): whatever of it is stored must still be what today's code
would compute, so the book built from it shows results of this code, not of an older one."""

from __future__ import annotations

import pytest

from absnb import artifacts, kept
from absnb.paths import ROOT

KEPT = ROOT / "reference"


@pytest.fixture
def at_kept(monkeypatch):
    monkeypatch.setattr(artifacts, "ARTIFACTS_DIR", KEPT)


def test_every_stored_result_of_the_kept_run_is_valid_for_todays_code(at_kept):
    assert kept.inconsistencies("default") == []
    assert artifacts.clean_path("default", "abs_released").exists(), "the kept run is where it should be"


def test_the_kept_run_is_complete_every_page_executed_and_every_attack_stored(at_kept):
    """`make book-reference` shows the kept run without computing: every page's executed notebook and
    every attack result of the profile must be there."""
    assert kept.check("default") == []


def test_a_changed_setting_makes_the_kept_results_inconsistent(at_kept, monkeypatch):
    """The check is not vacuous: another ABS inference invalidates the released models' stored work."""
    import dataclasses

    from absnb import profiles

    prof = profiles.load("default")
    other = dataclasses.replace(prof, abs=dataclasses.replace(prof.abs, steps=prof.abs.steps + 1))
    monkeypatch.setattr(profiles, "load", lambda name, path=None: other)
    problems = kept.inconsistencies("default")
    assert "clean score or inference records of abs_released: other weights or settings" in problems
    assert "attack result linf/abs_released/fmn: stale" in problems


def test_the_readme_shows_the_kept_runs_results_as_stored(at_kept):
    """The README's results block is generated from the kept run (`python -m absnb.kept default --readme`):
    a number typed by hand, or one left behind when the run moved on, fails here."""
    assert kept.readme_block() == kept.summary("default")
    assert "ABS (released) | 10,000 |" in kept.readme_block()
    lines = kept.summary("default").splitlines()
    released_l2 = next(line for line in lines if line.startswith("| l2 | ABS (released)"))
    assert released_l2.endswith("| 2.3 / 80% |"), "beside the paper's row of the model it is"
    assert released_l2.count("[") == 4, "both All rows carry their 95% intervals"


def test_the_kept_books_pages_name_the_run_and_its_commits(at_kept, tmp_path):
    """`make book-reference` puts a banner on every page: the run, the commits its results came from
    (every stage commit in its provenance) and the commit its pages were executed at."""
    import yaml

    from absnb import provenance

    kept.write_config("default", tmp_path / "config.yml")
    config = yaml.safe_load((tmp_path / "config.yml").read_text())
    assert config["title"] == yaml.safe_load((ROOT / "_config.yml").read_text())["title"]
    banner = config["html"]["announcement"]
    assert "reference/default" in banner and kept.executed_commit("default")[:7] in banner
    assert all(c in banner for c in provenance.stage_times("default")["commit"])
