"""Where each artifact of a profile lives, and atomic writes so an interrupted run leaves no half file.

Layout: ``artifacts/<profile>/models/<model>.pt`` (weights), ``.../logs/<model>.json`` (training
logs), ``.../checkpoints/`` (resumable training state), ``.../results/`` (tidy result tables).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import tempfile
import time
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


def cache_path(profile: str, name: str) -> Path:
    """Derived data that is costly to recompute and safe to delete (e.g. the decoded ABS bank)."""
    return profile_dir(profile) / "cache" / name


def results_path(profile: str, name: str) -> Path:
    return profile_dir(profile) / "results" / name


def slug(name: str) -> str:
    """The file name of an attack's results (e.g. "L2 BIM w/ GE" -> "l2_bim_w__ge")."""
    return "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_")


def attacks_dir(profile: str, norm: str | None = None) -> Path:
    """All stored attack results of a profile, or of one norm: <norm>/<model>/<attack>.*"""
    root = results_path(profile, "attacks")
    return root if norm is None else root / norm


def attack_path(profile: str, norm: str, model: str, attack: str, suffix: str) -> Path:
    """One (model, attack) pair's results: ".csv" (per sample), ".pt" (adversarials), ".json"
    (settings and costs), ".parts" (the folder of its finished batches)."""
    return attacks_dir(profile, norm) / model / f"{slug(attack)}{suffix}"


def shared_dir(profile: str, model: str) -> Path:
    """Work that a model's attacks share per batch (gradient estimates, Latent Descent, transfer)."""
    return attacks_dir(profile) / "shared" / model


def clean_dir(profile: str) -> Path:
    return results_path(profile, "clean")


def clean_path(profile: str, model: str) -> Path:
    """A model's clean accuracy (and, for Madry et al., its PGD accuracy)."""
    return clean_dir(profile) / f"{model}.json"


def distal_dir(profile: str) -> Path:
    return results_path(profile, "distal")


def distal_path(profile: str, model: str) -> Path:
    return distal_dir(profile) / f"{model}.pt"


TMP_SUFFIX = ".tmp"  # of the hidden temporary files of `atomic_path`; no reader's pattern matches them


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success flush it to disk and rename it into place
    (so a crash leaves the old file or the new one, never a torn one), else delete it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync(path.parent)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _fsync(path: str | Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_tmp(root: Path, older_than: float = 3600.0) -> list[Path]:
    """Delete the temporary files that killed writers left under `root` (those untouched for
    `older_than` seconds: a live writer's file is younger); returns what was deleted."""
    cutoff = time.time() - older_than
    stale = [p for p in Path(root).rglob(f".*{TMP_SUFFIX}") if p.is_file() and p.stat().st_mtime < cutoff]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def save_torch(obj: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


class UnreadableFile(RuntimeError):
    """A stored file that torch cannot read (truncated, corrupted, or not a torch file)."""


def load_torch(path: Path) -> Any:
    """Load tensors and plain containers only (never pickled code); a file that does not load is an
    error naming it."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError) as err:
        raise UnreadableFile(f"{path}: not a readable torch file; delete it to have it computed "
                             f"again ({type(err).__name__}: {err})") from err


def content_digest(obj: Any) -> str:
    """SHA-256 of what a loaded weights file holds (names, dtypes, shapes and values of its tensors,
    and any plain values), not of the file's bytes: `torch.save` names the archive's inner folder after
    the file it writes to, so the same tensors saved twice differ byte for byte."""
    sha = hashlib.sha256()

    def feed(value: Any) -> None:
        if isinstance(value, torch.Tensor):
            t = value.detach().cpu().contiguous()
            sha.update(f"tensor {t.dtype} {tuple(t.shape)}:".encode())
            sha.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        elif isinstance(value, dict):
            sha.update(f"dict {len(value)}:".encode())
            for key in sorted(value, key=str):
                sha.update(f"{key!s}=".encode())
                feed(value[key])
        elif isinstance(value, list | tuple):
            sha.update(f"{type(value).__name__} {len(value)}:".encode())
            for item in value:
                feed(item)
        else:
            sha.update(json.dumps(value).encode())

    feed(obj)
    return sha.hexdigest()


def save_json(obj: Any, path: Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2))


def load_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


def save_csv(frame: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
