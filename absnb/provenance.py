"""What a reader needs to rerun this book: the code's git commit, the packages, the wall time each
executed notebook took (from papermill's metadata) and the compute each stored result cost."""

from __future__ import annotations

import re
import subprocess
from importlib import metadata

import nbformat
import pandas as pd

from absnb import artifacts
from absnb.paths import ROOT
from absnb.vocabulary import ALL_MODELS

KEY_PACKAGES = ("torch", "numpy", "foolbox", "eagerpy", "pandas", "matplotlib", "jupyter-book", "myst-nb",
                "papermill", "jupytext")


def git_commit() -> str:
    """The commit the book was built from, marked "+changes" if the working tree differs from it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    try:
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return commit + (" +changes" if dirty else "")


def package_versions(names: tuple[str, ...] = KEY_PACKAGES) -> pd.DataFrame:
    """Installed versions of the packages the results depend on most (all are pinned in requirements.lock)."""
    rows = []
    for name in names:
        try:
            rows.append({"package": name, "version": metadata.version(name)})
        except metadata.PackageNotFoundError:
            rows.append({"package": name, "version": "not installed"})
    return pd.DataFrame(rows)


def notebook_times(profile: str) -> pd.DataFrame:
    """Wall time of every executed notebook of a profile's run, as papermill recorded it."""
    rows = []
    for path in sorted((artifacts.profile_dir(profile) / "notebooks").glob("*.ipynb")):
        meta = nbformat.read(path, as_version=4).metadata.get("papermill", {})
        duration = meta.get("duration")
        rows.append({"notebook": path.stem, "minutes": None if duration is None else round(duration / 60, 1),
                     "finished": (meta.get("end_time") or "")[:19].replace("T", " ")})
    return pd.DataFrame(rows)


def compute_times(profile: str) -> pd.DataFrame:
    """Minutes of compute behind the stored results, per stage, as each result recorded it when it
    was made: unlike notebook times, a rebuild that reuses stored results does not shrink them."""
    logs = [artifacts.log_path(profile, m) for m in ALL_MODELS]
    stages = {"training (7 networks)": [artifacts.load_json(f)["wall_seconds"] for f in logs if f.exists()],
              "clean evaluation (without PGD-40)": [float(artifacts.load_json(f)["seconds"])
                                                    for f in artifacts.clean_dir(profile).glob("*.json")]}
    for norm in ("l2", "linf", "l0"):
        stages[f"attacks {norm}"] = [float(artifacts.load_json(f)["seconds"])
                                     for f in artifacts.attacks_dir(profile, norm).glob("*/*.json")]
    distal = [f for f in artifacts.distal_dir(profile).glob("*.pt")
              if not f.name.endswith(".partial.pt")]
    stages["distal adversarials"] = [float(artifacts.load_torch(f)["seconds"]) for f in distal]
    return pd.DataFrame([{"stage": stage, "results": len(secs), "minutes": round(sum(secs) / 60, 1)}
                         for stage, secs in stages.items()])


def stage_times(profile: str, reused_seconds: float = 60.0) -> pd.DataFrame:
    """Wall time of a kept run's stages (`<run>/provenance/<stage>.json`, written by its stage scripts):
    one row per invocation and step that did work, with the commit it ran from. Left out: steps shorter
    than `reused_seconds` (they only found their results stored) and steps marked "superseded" (work
    whose results the run no longer holds, e.g. a training recipe replaced by another). Empty for a run
    not kept in stages."""
    rows = []
    for path in sorted((artifacts.profile_dir(profile) / "provenance").glob("stage_*.json")):
        for run in artifacts.load_json(path)["runs"]:
            started = _minute(run["started"])
            rows += [{"script": f"{path.stem}.py", "commit": run["commit"][:7], "started": started,
                      "step": step, "minutes": round(done["seconds"] / 60, 1)}
                     for step, done in run["steps"].items()
                     if done["seconds"] >= reused_seconds and "superseded" not in done]
    return pd.DataFrame(rows, columns=["script", "commit", "started", "step", "minutes"])


def _minute(stamp: str) -> str:
    """"2026-12-06T10:00:00Z" as "2026-12-06 10:00"; a stamp of only a date (or a note after it): the date."""
    found = re.match(r"\d{4}-\d\d-\d\d(T\d\d:\d\d)?", stamp)
    return found.group().replace("T", " ") if found else stamp
