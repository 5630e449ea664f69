"""What the kept run's stage scripts share: each step timed and appended to the stage's provenance
file (one entry per invocation, so a resumed stage keeps the times of the run that did the work)."""
import json
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

import absnb
from absnb import runtime

ROOT = Path(absnb.__file__).resolve().parents[1]
PROVENANCE = Path(__file__).resolve().parent / "provenance"


class Stage:
    """One invocation of a stage script: `step` runs and times a piece of work and records it."""

    def __init__(self, name: str) -> None:
        self.path = PROVENANCE / f"{name}.json"
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                                text=True).stdout.strip()
        self.run = {"commit": commit, "code": str(ROOT), "started": _now(), "python": sys.version.split()[0],
                    "torch": torch.__version__, "machine": platform.platform(),
                    "hardware": runtime.describe(), "steps": {}}
        self.earlier = json.loads(self.path.read_text())["runs"] if self.path.exists() else []
        print("code:", ROOT, commit, flush=True)

    def step(self, name: str, work: Callable[[], object]) -> None:
        start = time.time()
        print(f"== {name}", flush=True)
        work()
        self.run["steps"][name] = {"seconds": round(time.time() - start, 1), "finished": _now()}
        print(f"== {name}: {self.run['steps'][name]['seconds']} s", flush=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps({"runs": [*self.earlier, self.run]}, indent=1))


def _now() -> str:
    return time.strftime("%FT%TZ", time.gmtime())
