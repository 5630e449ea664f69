"""Where each artifact of a profile lives, and atomic writes so an interrupted run leaves no half file.

Layout: ``artifacts/<profile>/models/<model>.pt`` (weights), ``.../logs/<model>.json`` (training
logs), ``.../checkpoints/`` (resumable training state), ``.../results/`` (tidy result tables).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from absnb.paths import ARTIFACTS_DIR


def profile_dir(profile: str) -> Path:
    return ARTIFACTS_DIR / profile


def weights_path(profile: str, model: str) -> Path:
    return profile_dir(profile) / "models" / f"{model}.pt"


def log_path(profile: str, model: str) -> Path:
    return profile_dir(profile) / "logs" / f"{model}.json"


def checkpoint_path(profile: str, model: str) -> Path:
    return profile_dir(profile) / "checkpoints" / f"{model}.pt"


def results_path(profile: str, name: str) -> Path:
    return profile_dir(profile) / "results" / name


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success rename it into place, else delete it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_torch(obj: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_torch(path: Path) -> Any:
    """Load tensors and plain containers only (never pickled code)."""
    return torch.load(path, map_location="cpu", weights_only=True)


def save_json(obj: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2))


def load_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


def save_csv(frame: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
