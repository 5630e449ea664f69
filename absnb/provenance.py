"""What a reader needs to rerun this book: the code's git commit, the packages, and the wall time
each executed notebook took (from papermill's metadata)."""

from __future__ import annotations

import subprocess
from importlib import metadata

import nbformat
import pandas as pd

from absnb import artifacts
from absnb.paths import ROOT

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
