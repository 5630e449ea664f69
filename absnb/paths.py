"""Where the project's inputs and outputs live, relative to the repository root."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(os.environ.get("ABSNB_ROOT", Path(__file__).resolve().parents[1]))
DATA_DIR = ROOT / "data"
ARTIFACTS_DIR = Path(os.environ.get("ABSNB_ARTIFACTS", ROOT / "artifacts"))
